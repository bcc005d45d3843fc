// Hỏi đáp Công an: the chat widget (plain ES2020, no build step, no network but its own API).
import { api, sessionStore } from "./api.js";
import { renderMarkdown } from "./markdown.js";

const $ = (sel, root = document) => root.querySelector(sel);
const log = $("#hdca-log");
const form = $("#hdca-form");
const input = $("#hdca-input");
const sendButton = $("[data-testid=send]");
const errorBox = $("#hdca-error");
const welcome = $("[data-testid=message-welcome]");

const HANDOFF_TEXT = "Yêu cầu của bạn đã được chuyển tới cán bộ Công an. Cán bộ sẽ liên hệ với bạn để hỗ trợ trực tiếp.";
let busy = false;

// Material Design icons "thumb_up" / "thumb_down" (Apache-2.0): emoji fonts are missing on many devices.
const THUMB_UP = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z";
const THUMB_DOWN = "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z";

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function icon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

// ---- layout helpers -------------------------------------------------------------------------

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

/** Scrolls so the start of `node` is visible (long answers are read from the top). */
function scrollToStart(node) {
  const offset = node.getBoundingClientRect().top - log.getBoundingClientRect().top;
  log.scrollTop += offset - 8;
}

function autosize() {
  input.style.height = "auto";
  input.style.height = input.scrollHeight + 2 + "px"; // CSS max-height caps it, then it scrolls
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function setBusy(value) {
  busy = value;
  log.setAttribute("aria-busy", String(value));
  sendButton.disabled = value;
  let typing = $("[data-testid=typing]", log);
  if (value && !typing) {
    typing = el("div", { class: "hdca-msg hdca-msg--assistant hdca-typing", "data-testid": "typing" });
    const bubble = el("div", { class: "hdca-bubble" });
    bubble.append(el("span", { class: "hdca-sr" }, "Trợ lý đang trả lời…"));
    for (let i = 0; i < 3; i += 1) bubble.append(el("span", { class: "hdca-dot", "aria-hidden": "true" }));
    typing.append(bubble);
    log.append(typing);
    scrollToEnd();
  } else if (!value && typing) {
    typing.remove();
  }
}

// ---- messages -------------------------------------------------------------------------------

function clearSuggestions() {
  for (const chips of log.querySelectorAll(".hdca-msg:not(.hdca-welcome) .hdca-chips")) chips.remove();
}

function addUserMessage(text) {
  const msg = el("div", { class: "hdca-msg hdca-msg--user", "data-testid": "message-user" });
  const bubble = el("div", { class: "hdca-bubble" });
  bubble.append(el("span", { class: "hdca-sr" }, "Bạn hỏi: "));
  bubble.append(document.createTextNode(String(text))); // shown as typed (white-space: pre-wrap)
  msg.append(bubble);
  log.append(msg);
  return msg;
}

/** "Điều 27, Điều 28 Luật Cư trú (68/2020/QH14)": one line per legal document. */
function citationLines(citations) {
  const byDoc = new Map();
  for (const c of citations || []) {
    if (!c || !c.document) continue;
    const entry = byDoc.get(c.document) || { title: c.title, articles: [] };
    if (c.article && !entry.articles.includes(c.article)) entry.articles.push(c.article);
    entry.title = entry.title || c.title;
    byDoc.set(c.document, entry);
  }
  return [...byDoc].map(([doc, { title, articles }]) =>
    [articles.join(", "), title ? `${title} (${doc})` : doc].filter(Boolean).join(" "));
}

function renderCitations(citations) {
  const lines = citationLines(citations);
  if (!lines.length) return null;
  const box = el("div", { class: "hdca-cites" });
  const list = el("ul", { "aria-label": "Căn cứ pháp lý" });
  for (const line of lines) {
    const li = el("li", { "data-testid": "citation" });
    li.append(el("span", { class: "hdca-cites-label" }, "Căn cứ: "), document.createTextNode(line));
    list.append(li);
  }
  box.append(list);
  return box;
}

function renderSuggestions(suggestions) {
  const items = (suggestions || []).filter((s) => typeof s === "string" && s.trim()).slice(0, 4);
  if (!items.length) return null;
  const chips = el("div", { class: "hdca-chips", role: "group", "aria-label": "Câu hỏi gợi ý" });
  for (const text of items) {
    chips.append(el("button", { type: "button", class: "hdca-chip", "data-testid": "suggestion" }, text.trim()));
  }
  return chips;
}

function renderFeedback(messageId) {
  const box = el("div", { class: "hdca-feedback", role: "group", "aria-label": "Đánh giá câu trả lời" });
  const up = el("button", { type: "button", class: "hdca-rate", "data-testid": "feedback-up",
    "data-rating": "1", "aria-label": "Câu trả lời hữu ích", "aria-pressed": "false", title: "Hữu ích" });
  const down = el("button", { type: "button", class: "hdca-rate", "data-testid": "feedback-down",
    "data-rating": "-1", "aria-label": "Câu trả lời chưa hữu ích", "aria-pressed": "false", title: "Chưa hữu ích" });
  up.append(icon(THUMB_UP));
  down.append(icon(THUMB_DOWN));
  box.dataset.messageId = messageId;
  box.append(up, down);
  return box;
}

function handoffNotice() {
  const note = el("p", { class: "hdca-handoff", "data-testid": "handoff" });
  note.append(el("strong", {}, "Chuyển cán bộ: "), document.createTextNode(HANDOFF_TEXT));
  return note;
}

function addAssistantMessage(data, { suggestions = true } = {}) {
  const msg = el("div", { class: "hdca-msg hdca-msg--assistant", "data-testid": "message-assistant" });
  if (data.message_id) msg.dataset.messageId = data.message_id;
  if (data.abstained) msg.classList.add("hdca-msg--abstained");
  const bubble = el("div", { class: "hdca-bubble" });
  bubble.append(el("span", { class: "hdca-sr" }, "Trợ lý trả lời: "));
  const body = el("div", { class: "hdca-md" });
  body.append(renderMarkdown(data.reply ?? data.text ?? ""));
  bubble.append(body);
  const cites = renderCitations(data.citations);
  if (cites) bubble.append(cites);
  msg.append(bubble);
  if (data.message_id) msg.append(renderFeedback(data.message_id));
  if (suggestions) {
    const chips = renderSuggestions(data.suggestions);
    if (chips) msg.append(chips);
  }
  log.append(msg);
  return msg;
}

function showHandoff() {
  if ($("[data-testid=handoff]", log)) return;
  log.append(handoffNotice());
}

// ---- sending --------------------------------------------------------------------------------

async function send(text, { fromInput }) {
  const message = text.trim();
  if (busy) return;
  if (!message) {
    showError("Bạn chưa nhập câu hỏi.");
    input.focus();
    return;
  }
  showError("");
  clearSuggestions();
  welcome.hidden = true;
  const userMsg = addUserMessage(message);
  if (fromInput) {
    input.value = "";
    autosize();
  }
  scrollToEnd();
  setBusy(true);
  try {
    const data = await api.chat(sessionStore.get(), message);
    setBusy(false);
    if (data.session_id) sessionStore.set(data.session_id);
    addAssistantMessage(data);
    if (data.handoff) showHandoff();
    if (userMsg.isConnected) scrollToStart(userMsg); // the question, then the answer from its top
  } catch (err) {
    setBusy(false);
    userMsg.remove();
    if (!log.querySelector("[data-testid=message-user], [data-testid=message-assistant]")) welcome.hidden = false;
    // keep what was typed so nothing is lost; never overwrite newer typing
    if (!input.value.trim()) {
      input.value = fromInput ? text : message;
      autosize();
    }
    showError(err && err.message ? err.message : "Đã có lỗi xảy ra. Bạn hãy thử lại.");
    if (fromInput) input.focus();
  }
}

async function rate(box, button) {
  const rating = Number(button.dataset.rating);
  const buttons = box.querySelectorAll(".hdca-rate");
  if (rating === -1 && !box.querySelector(".hdca-comment")) {
    buttons.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    openComment(box);
    return;
  }
  await submitFeedback(box, rating, "");
}

function openComment(box) {
  const wrap = el("div", { class: "hdca-comment" });
  const id = "hdca-c-" + box.dataset.messageId;
  wrap.append(el("label", { for: id }, "Bạn có thể cho biết câu trả lời chưa đúng ở đâu (không bắt buộc):"));
  const area = el("textarea", { id, rows: "2", maxlength: "2000", "data-testid": "feedback-comment" });
  const actions = el("div", { class: "hdca-comment-actions" });
  const sendC = el("button", { type: "button", class: "hdca-btn", "data-testid": "feedback-comment-send" }, "Gửi góp ý");
  const skip = el("button", { type: "button", class: "hdca-btn hdca-btn--plain", "data-testid": "feedback-comment-skip" }, "Bỏ qua");
  sendC.addEventListener("click", () => submitFeedback(box, -1, area.value.trim()));
  skip.addEventListener("click", () => submitFeedback(box, -1, ""));
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") submitFeedback(box, -1, "");
  });
  actions.append(sendC, skip);
  wrap.append(area, actions);
  box.append(wrap);
  area.focus();
}

async function submitFeedback(box, rating, comment) {
  if (box.dataset.sending) return;
  box.dataset.sending = "1";
  const controls = box.querySelectorAll("button, textarea");
  controls.forEach((c) => { c.disabled = true; });
  $(".hdca-feedback-error", box)?.remove();
  try {
    await api.feedback(box.dataset.messageId, rating, comment);
    const hadFocus = box.contains(document.activeElement) || document.activeElement === document.body;
    $(".hdca-comment", box)?.remove();
    box.querySelectorAll(".hdca-rate").forEach((b) => {
      b.setAttribute("aria-pressed", String(Number(b.dataset.rating) === rating));
    });
    box.append(el("span", { class: "hdca-thanks", "data-testid": "feedback-thanks", tabindex: "-1" },
      "Cảm ơn bạn đã góp ý"));
    if (hadFocus) $(".hdca-thanks", box).focus();
  } catch (err) {
    controls.forEach((c) => { c.disabled = false; });
    box.append(el("span", { class: "hdca-feedback-error", role: "alert" },
      err && err.message ? err.message : "Chưa gửi được góp ý. Bạn hãy thử lại."));
  } finally {
    delete box.dataset.sending;
  }
}

// ---- restoring a conversation ---------------------------------------------------------------

async function restore() {
  const id = sessionStore.get();
  if (!id) return;
  setBusy(true);
  try {
    const data = await api.session(id);
    setBusy(false);
    const messages = Array.isArray(data && data.messages) ? data.messages : [];
    if (messages.length) welcome.hidden = true;
    for (const m of messages) {
      if (m.role === "user") addUserMessage(m.text ?? "");
      else addAssistantMessage(m, { suggestions: false });
    }
    if (data && data.handoff) showHandoff();
    scrollToEnd();
  } catch (err) {
    setBusy(false);
    if (err && err.status === 404) sessionStore.set(null);
    else showError("Chưa tải được cuộc trò chuyện trước. " + (err && err.message ? err.message : ""));
  }
}

function newConversation() {
  if (busy) return;
  sessionStore.set(null);
  for (const node of [...log.children]) if (node !== welcome) node.remove();
  welcome.hidden = false;
  showError("");
  input.focus();
}

// ---- events ---------------------------------------------------------------------------------

form.addEventListener("submit", (e) => {
  e.preventDefault();
  send(input.value, { fromInput: true });
});

input.addEventListener("keydown", (e) => {
  // Enter sends; Shift+Enter is a new line; never send in the middle of an IME composition (Telex…)
  if (e.key === "Enter" && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    form.requestSubmit ? form.requestSubmit() : send(input.value, { fromInput: true });
  }
});

input.addEventListener("input", () => {
  autosize();
  if (!errorBox.hidden) showError("");
});

log.addEventListener("click", (e) => {
  const target = e.target instanceof Element ? e.target : null;
  const chip = target && target.closest(".hdca-chip");
  if (chip) {
    // a keyboard press (detail 0) would leave focus on a removed chip: continue in the text box
    if (e.detail === 0) input.focus({ preventScroll: true });
    send(chip.textContent || "", { fromInput: false });
    return;
  }
  const rateButton = target && target.closest(".hdca-rate");
  if (rateButton && !rateButton.disabled) rate(rateButton.closest(".hdca-feedback"), rateButton);
});

$("[data-testid=new-chat]").addEventListener("click", newConversation);

// the page in a webview: keep the newest message in sight when the keyboard resizes the view
window.addEventListener("resize", () => {
  const atEnd = nearBottom();
  autosize();
  if (atEnd) scrollToEnd();
});

autosize();
restore().finally(() => {
  $("#hdca").dataset.ready = "true"; // the conversation is on screen (tests and host pages wait for this)
});
