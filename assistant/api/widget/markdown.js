// Safe rendering of the small Markdown subset the assistant writes.
//
// Nothing here ever goes through innerHTML: the text is split into blocks (paragraphs, "- " and
// "1. " lists, "| a | b |" tables, "#" headings) and inline runs (**bold**, __bold__, _italic_,
// *italic*, `code`), and every piece of text becomes a DOM text node. Markup the server or the
// user typed (<img onerror=…>, <script>, &lt;…) is therefore shown literally, never interpreted.

const BULLET = /^\s{0,3}[-*•]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,3})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const INDENTED = /^\s{2,}\S/;
// **bold** / __bold__, _italic_ / *italic* (not inside words such as cu_tru), `code`.
const INLINE = /(\*\*|__)(?=\S)([\s\S]*?\S)\1|(?<![\p{L}\p{N}_*])([_*])(?=[^\s_*])([\s\S]*?[^\s_*])\3(?![\p{L}\p{N}_*])|`([^`\n]+)`/u;

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

/** Appends the inline runs of `text` to `parent` as text nodes, <strong>, <em> and <code>. */
export function appendInline(parent, text) {
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      parent.append(document.createTextNode(rest));
      break;
    }
    if (m.index > 0) parent.append(document.createTextNode(rest.slice(0, m.index)));
    let node;
    if (m[1]) {
      node = el("strong");
      appendInline(node, m[2]);
    } else if (m[3]) {
      node = el("em");
      appendInline(node, m[4]);
    } else {
      node = el("code");
      node.textContent = m[5];
    }
    parent.append(node);
    rest = rest.slice(m.index + m[0].length);
  }
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, "|"));
}

function renderTable(lines) {
  const wrap = el("div", "md-table");
  wrap.tabIndex = 0; // a wide table scrolls sideways; keyboard users can scroll it too
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-label", "Bảng");
  const table = el("table");
  let body = lines;
  if (lines.length > 1 && TABLE_RULE.test(lines[1])) {
    const thead = el("thead");
    const tr = el("tr");
    for (const cell of splitRow(lines[0])) {
      const th = el("th");
      th.scope = "col";
      appendInline(th, cell);
      tr.append(th);
    }
    thead.append(tr);
    table.append(thead);
    body = lines.slice(2);
  }
  const tbody = el("tbody");
  for (const line of body) {
    const tr = el("tr");
    for (const cell of splitRow(line)) {
      const td = el("td");
      appendInline(td, cell);
      tr.append(td);
    }
    tbody.append(tr);
  }
  table.append(tbody);
  wrap.append(table);
  return wrap;
}

/** Renders `markdown` into a new DocumentFragment (safe: text nodes only). */
export function renderMarkdown(markdown) {
  const out = document.createDocumentFragment();
  const lines = String(markdown ?? "").replace(/\r\n?/g, "\n").split("\n");
  let para = null; // lines of the open paragraph
  let list = null; // {node, ordered, items: [text]}
  let table = null; // lines of the open table

  const flushPara = () => {
    if (!para) return;
    const p = el("p");
    appendInline(p, para.join(" "));
    out.append(p);
    para = null;
  };
  const flushList = () => {
    if (!list) return;
    const node = el(list.ordered ? "ol" : "ul");
    if (list.ordered && list.start !== 1) node.start = list.start;
    for (const item of list.items) {
      const li = el("li");
      appendInline(li, item);
      node.append(li);
    }
    out.append(node);
    list = null;
  };
  const flushTable = () => {
    if (!table) return;
    out.append(renderTable(table));
    table = null;
  };
  const flushAll = () => {
    flushPara();
    flushList();
    flushTable();
  };

  for (const line of lines) {
    if (!line.trim()) {
      flushAll();
      continue;
    }
    if (TABLE_ROW.test(line)) {
      flushPara();
      flushList();
      (table ??= []).push(line);
      continue;
    }
    flushTable();
    const bullet = BULLET.exec(line);
    const ordered = bullet ? null : ORDERED.exec(line);
    if (bullet || ordered) {
      flushPara();
      const isOrdered = Boolean(ordered);
      if (list && list.ordered !== isOrdered) flushList();
      list ??= { ordered: isOrdered, start: ordered ? Number(ordered[1]) : 1, items: [] };
      list.items.push((bullet ? bullet[1] : ordered[2]).trim());
      continue;
    }
    if (list && INDENTED.test(line)) {
      // continuation of the previous list item (the corpus wraps long items)
      list.items[list.items.length - 1] += " " + line.trim();
      continue;
    }
    flushList();
    const heading = HEADING.exec(line);
    if (heading) {
      flushPara();
      const p = el("p", "md-heading");
      const strong = el("strong");
      appendInline(strong, heading[1]);
      p.append(strong);
      out.append(p);
      continue;
    }
    (para ??= []).push(line.trim());
  }
  flushAll();
  return out;
}
