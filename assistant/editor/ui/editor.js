// The editor page: plain ES module, no CDN, text nodes only (never innerHTML with data).
import { renderMarkdown } from "/widget/markdown.js";

const TOKEN_KEY = "hoidap-congan.editor-token";
const TOPICS = { cu_tru: "Cư trú", can_cuoc: "Căn cước, định danh điện tử", giay_phep_lai_xe: "Giấy phép lái xe",
  dang_ky_xe: "Đăng ký xe", xuat_nhap_canh: "Hộ chiếu, xuất nhập cảnh", ly_lich_tu_phap: "Lý lịch tư pháp" };
const STATUS = { published: "đã xuất bản", needs_review: "cần rà soát", draft: "nháp" };
const TEXT_FIELDS = ["id", "title", "answer", "spoken_answer", "procedure_code", "agency", "fees", "processing_time",
  "effective_from", "reviewed_at", "review_note"];
const $ = (id) => document.getElementById(id);
let me = null;
let current = null; // the entry being edited: {isNew, version, draftComplete}
let validateTimer = null;

function el(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined && text !== null) n.textContent = String(text);
  if (cls) n.className = cls;
  return n;
}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`/api/v1/kb${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) { logout("Phiên đăng nhập không hợp lệ, vui lòng đăng nhập lại."); throw new Error("401"); }
  if (r.status === 429 && !me) { const d = await r.json().catch(() => ({})); logout(d.detail || "Thử lại sau."); throw new Error("429"); }
  if (raw) return r;
  const data = r.status === 204 ? {} : await r.json().catch(() => ({}));
  return { ok: r.ok, status: r.status, data };
}

function notice(text) { $("notice").textContent = text || ""; }

// ---------------------------------------------------------------- login
async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  let r;
  try { r = await api("/me"); } catch (e) { if (e.message === "429") return; r = null; }
  if (!r || !r.ok) { logout("Mã truy cập không đúng."); return; }
  me = r.data;
  $("who-name").textContent = `${me.name} (${me.role_name})`;
  $("who").hidden = false; $("login").hidden = true; $("app").hidden = false;
  $("publish-btn").disabled = me.role === "editor";
  await loadEntries();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  $("who").hidden = true; $("app").hidden = true; $("login").hidden = false;
  $("login-error").textContent = message || "";
}

// ---------------------------------------------------------------- tabs
function showTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    $(t.dataset.panel).hidden = !on;
  }
  notice("");
  if (tab.id !== "tab-entries") $("panel-edit").hidden = true;
  const loaders = { "tab-entries": loadEntries, "tab-publish": loadChanges, "tab-versions": loadVersions,
    "tab-inbox": loadInbox, "tab-audit": loadAudit };
  loaders[tab.id]();
}

// ---------------------------------------------------------------- entries
async function loadEntries() {
  const q = new URLSearchParams();
  if ($("entry-search").value) q.set("q", $("entry-search").value);
  if ($("filter-topic").value) q.set("topic", $("filter-topic").value);
  if ($("filter-status").value) q.set("status", $("filter-status").value);
  if ($("filter-changed").checked) q.set("changed", "true");
  const r = await api(`/entries?${q}`);
  const body = $("entry-list");
  body.replaceChildren();
  for (const e of r.data.entries || []) {
    const tr = el("tr", undefined, "entry-row");
    tr.dataset.id = e.id; tr.tabIndex = 0;
    tr.append(el("td", e.id), el("td", e.title), el("td", STATUS[e.status] || e.status));
    const notes = el("td");
    if (e.has_draft) notes.append(el("span", e.draft_complete ? "có bản nháp" : "nháp chưa xong", "ed-badge ed-badge--draft"));
    if (!e.published) notes.append(el("span", "mục mới", "ed-badge"));
    if (e.stale_law) notes.append(el("span", "⚠ luật đã thay đổi từ lần rà soát", "ed-badge ed-badge--stale"));
    else if (e.flags.some((f) => f.status === "superseded" || f.status === "expired")) notes.append(el("span", "dẫn luật cũ (đã rà soát)", "ed-badge ed-badge--old"));
    tr.append(notes);
    tr.addEventListener("click", () => openEntry(e.id));
    tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") openEntry(e.id); });
    body.append(tr);
  }
  $("entry-count").textContent = `${r.data.count ?? 0} mục`;
}

function fillForm(e) {
  for (const f of TEXT_FIELDS) $(`f-${f}`).value = e[f] ?? "";
  $("f-topic").value = e.topic || "cu_tru";
  $("f-status").value = e.status || "draft";
  $("f-online").value = e.online === true ? "true" : e.online === false ? "false" : "";
  $("f-questions").value = (e.questions || []).join("\n");
  $("f-legal_basis").value = (e.legal_basis || []).map((lb) => `${lb.document} | ${lb.article}`).join("\n");
}

function formData() {
  const out = {};
  for (const f of TEXT_FIELDS) out[f] = $(`f-${f}`).value;
  out.topic = $("f-topic").value;
  out.status = $("f-status").value;
  if ($("f-online").value) out.online = $("f-online").value === "true";
  out.questions = $("f-questions").value.split("\n").map((s) => s.trim()).filter(Boolean);
  out.legal_basis = $("f-legal_basis").value.split("\n").map((s) => s.trim()).filter(Boolean).map((line) => {
    const [document, ...rest] = line.split("|");
    return { document: (document || "").trim(), article: rest.join("|").trim() };
  });
  return out;
}

async function openEntry(id) {
  const r = await api(`/entries/${encodeURIComponent(id)}`);
  if (!r.ok) { notice(r.data.detail); return; }
  current = { isNew: false, version: r.data.version, draftComplete: r.data.draft_complete, hasDraft: r.data.has_draft };
  fillForm(r.data);
  $("f-id").readOnly = true;
  $("edit-title").textContent = `Sửa mục ${id}`;
  showEditor();
  if (r.data.rebase_needed) notice("Bản nháp này dựa trên phiên bản cũ (nội dung đã xuất bản đã đổi từ khi soạn). "
    + "Hãy xem lại thay đổi ở thẻ Xuất bản rồi lưu lại để có thể xuất bản.");
}

function newEntry() {
  const today = new Date().toISOString().slice(0, 10);
  current = { isNew: true, version: null };
  fillForm({ topic: "cu_tru", status: "published", effective_from: today, reviewed_at: today });
  $("f-id").readOnly = false;
  $("edit-title").textContent = "Mục mới";
  showEditor();
}

function showEditor() {
  $("panel-edit").hidden = false;
  $("discard-btn").hidden = current.isNew || !current.hasDraft;
  $("edit-version").textContent = current.version ? `phiên bản ${current.version}` : "";
  $("preview-audio").hidden = true; $("audio-error").textContent = "";
  refreshPreview();
  scheduleValidation(0);
  $("panel-edit").scrollIntoView({ block: "start" });
}

function refreshPreview() {
  const answer = $("f-answer").value;
  $("preview-answer").replaceChildren(renderMarkdown(answer));
  $("preview-spoken").textContent = $("f-spoken_answer").value;
  $("spoken-count").textContent = `${$("f-spoken_answer").value.length}/450 ký tự`;
}

function showErrors(errors) {
  const box = $("validation");
  box.replaceChildren();
  if (!errors.length) { box.className = "ed-validation ok"; box.append(el("span", "✓ Hợp lệ")); return; }
  box.className = "ed-validation bad";
  const ul = el("ul");
  for (const e of errors) ul.append(el("li", e.message));
  box.append(el("strong", `${errors.length} lỗi cần sửa:`), ul);
}

function showFlags(flags) {
  const box = $("flags");
  box.replaceChildren();
  for (const f of flags || []) box.append(el("p", `⚠ ${f.message}`, f.stale ? "stale" : ""));
}

function scheduleValidation(delay = 400) {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(async () => {
    const r = await api("/validate", { method: "POST", body: formData() });
    if (r.ok) { showErrors(r.data.errors); showFlags(r.data.flags); }
  }, delay);
}

async function save(ev) {
  ev.preventDefault();
  const body = formData();
  let r;
  if (current.isNew) r = await api("/entries", { method: "POST", body });
  else {
    const partial = current.draftComplete === false ? "?partial=true" : "";
    r = await api(`/entries/${encodeURIComponent(body.id)}${partial}`, { method: "PUT", body: { ...body, version: current.version } });
  }
  if (r.status === 422) { showErrors(r.data.errors || [{ message: r.data.detail }]); notice("Chưa lưu: mục còn lỗi."); return; }
  if (!r.ok) { notice(r.data.detail || `Lỗi ${r.status}`); return; }
  current = { isNew: false, version: r.data.version, draftComplete: r.data.draft_complete, hasDraft: true };
  $("f-id").readOnly = true;
  $("edit-version").textContent = `phiên bản ${current.version}`;
  $("discard-btn").hidden = false;
  notice(`Đã lưu bản nháp ${r.data.id}. Bản nháp chưa hiển thị cho người dân cho đến khi được xuất bản.`);
  loadEntries();
}

async function discard() {
  const id = $("f-id").value;
  const r = await api(`/entries/${encodeURIComponent(id)}?version=${encodeURIComponent(current.version || "")}`, { method: "DELETE" });
  notice(r.ok ? `Đã bỏ bản nháp của ${id}.` : r.data.detail);
  $("panel-edit").hidden = true;
  loadEntries();
}

async function playAudio() {
  $("audio-error").textContent = "";
  const r = await api("/preview-audio", { method: "POST", body: { text: $("f-spoken_answer").value }, raw: true });
  if (!r.ok) { const d = await r.json().catch(() => ({})); $("audio-error").textContent = d.detail || `Lỗi ${r.status}`; return; }
  const audio = $("preview-audio");
  if (audio.src) URL.revokeObjectURL(audio.src);
  audio.src = URL.createObjectURL(await r.blob());
  audio.hidden = false;
  audio.play().catch(() => {});
}

// ---------------------------------------------------------------- changes and publishing
function diffBlock(text) {
  const pre = el("pre", undefined, "ed-diff");
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(cls ? el("span", line, cls) : document.createTextNode(`${line}\n`));
  }
  return pre;
}

async function loadChanges() {
  const r = await api("/diff");
  const box = $("changes");
  box.replaceChildren();
  for (const c of r.data.changes || []) {
    const h = el("h3", `${c.id} — ${c.kind === "added" ? "mục mới" : "sửa đổi"} (${c.updated_by})${c.complete ? "" : " — chưa hoàn chỉnh, sẽ không xuất bản"}`);
    box.append(h, diffBlock(c.diff));
  }
  $("changes-count").textContent = `${r.data.count || 0} thay đổi đang chờ xuất bản`;
}

async function publish() {
  $("publish-problems").replaceChildren();
  $("publish-btn").disabled = true;
  const r = await api("/publish", { method: "POST", body: { message: $("publish-message").value } });
  if (!r.ok) {
    $("publish-status").textContent = r.data.detail || `Lỗi ${r.status}`;
    for (const p of r.data.problems || []) $("publish-problems").append(el("li", p));
    $("publish-btn").disabled = false;
    return;
  }
  await followJob(r.data, $("publish-status"));
  $("publish-btn").disabled = false;
  loadChanges();
}

async function followJob(job, out) {
  const started = Date.now();
  while (job.state === "building") {
    out.textContent = `Đang dựng chỉ mục cho phiên bản ${job.version}… (${Math.round((Date.now() - started) / 1000)} s; người dân vẫn được trả lời bằng phiên bản cũ)`;
    await new Promise((ok) => setTimeout(ok, 1000));
    job = (await api(`/publish/${job.id}`)).data;
  }
  out.textContent = job.state === "live"
    ? `Đã áp dụng phiên bản ${job.version} (sau ${job.timings_s.live ?? "?"} s).`
    : `Thất bại: ${job.error}. Phiên bản cũ vẫn đang phục vụ.`;
  for (const w of job.warnings || []) out.append(el("span", ` ⚠ ${w}`, "ed-warning"));
  out.dataset.state = job.state;
}

async function loadVersions() {
  const r = await api("/versions");
  $("serving").textContent = r.data.serving || "";
  const body = $("version-list");
  body.replaceChildren();
  for (const v of r.data.versions || []) {
    const tr = el("tr");
    tr.append(el("td", `${v.current ? "★ " : ""}${v.version}`), el("td", v.published_at || "—"),
      el("td", v.published_by || "—"), el("td", v.message || ""));
    const td = el("td");
    if (!v.current && me.role !== "editor") {
      const b = el("button", "Khôi phục");
      b.type = "button";
      b.addEventListener("click", async () => {
        const res = await api("/rollback", { method: "POST", body: { version: v.version } });
        if (!res.ok) { $("rollback-status").textContent = res.data.detail; return; }
        await followJob(res.data, $("rollback-status"));
        loadVersions();
      });
      td.append(b);
    }
    tr.append(td);
    body.append(tr);
  }
}

// ---------------------------------------------------------------- inbox and audit
async function loadInbox() {
  const r = await api("/inbox");
  const box = $("inbox-groups");
  box.replaceChildren();
  $("inbox-count").textContent = r.ok ? `${r.data.count} câu hỏi trong ${r.data.groups.length} nhóm` : r.data.detail;
  for (const g of r.data.groups || []) {
    const div = el("div", undefined, "ed-group");
    const reasons = Object.entries(g.reasons).map(([k, n]) => `${{ low_confidence: "không chắc", out_of_scope: "ngoài phạm vi", thumbs_down: "không hài lòng" }[k] || k}: ${n}`).join(", ");
    div.append(el("strong", `${g.count} lần — ${g.label}`), el("p", reasons, "ed-muted"));
    const ul = el("ul");
    for (const q of g.examples) ul.append(el("li", q));
    const select = el("select");
    for (const [code, name] of Object.entries(TOPICS)) { const o = el("option", name); o.value = code; select.append(o); }
    if (g.topic) select.value = g.topic;
    const b = el("button", "Tạo bản nháp từ nhóm này");
    b.type = "button";
    b.addEventListener("click", async () => {
      const res = await api("/inbox/draft", { method: "POST", body: { message_ids: g.message_ids, topic: select.value } });
      if (!res.ok) { notice(res.data.detail); return; }
      notice(`Đã tạo bản nháp ${res.data.id}: hãy viết câu trả lời và căn cứ pháp lý.`);
      showTab($("tab-entries"));
      openEntry(res.data.id);
    });
    div.append(ul, select, b);
    box.append(div);
  }
}

async function loadAudit() {
  const r = await api("/audit?limit=100");
  const box = $("audit-list");
  box.replaceChildren();
  if (!r.ok) { box.append(el("p", r.data.detail)); return; }
  for (const e of r.data.events) {
    const d = el("details");
    const about = e.entry_id || (e.detail && e.detail.entries && e.detail.entries.length ? e.detail.entries.join(", ") : e.version) || "";
    d.append(el("summary", `${e.at} — ${e.actor} (${e.role}) — ${e.action} ${about}`));
    if (e.diff) d.append(diffBlock(e.diff));
    box.append(d);
  }
}

// ---------------------------------------------------------------- start
function init() {
  for (const [code, name] of Object.entries(TOPICS)) {
    for (const sel of [$("filter-topic"), $("f-topic")]) { const o = el("option", name); o.value = code; sel.append(o); }
  }
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
  $("logout-btn").addEventListener("click", () => logout(""));
  for (const t of document.querySelectorAll('[role="tab"]')) t.addEventListener("click", () => showTab(t));
  let searchTimer = null;
  $("entry-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadEntries, 250); });
  for (const id of ["filter-topic", "filter-status", "filter-changed"]) $(id).addEventListener("change", loadEntries);
  $("new-entry-btn").addEventListener("click", newEntry);
  $("edit-form").addEventListener("submit", save);
  $("edit-form").addEventListener("input", () => { refreshPreview(); scheduleValidation(); });
  $("discard-btn").addEventListener("click", discard);
  $("close-edit-btn").addEventListener("click", () => { $("panel-edit").hidden = true; });
  $("audio-btn").addEventListener("click", playAudio);
  $("publish-btn").addEventListener("click", publish);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved);
}

init();
