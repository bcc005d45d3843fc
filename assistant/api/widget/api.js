// The chat API (same origin) and the remembered session id.

const TIMEOUT_MS = 45000;
const SESSION_KEY = "hoidap-congan.session_id";

// The API sits beside the folder this file is served from (<base>/widget/api.js -> <base>/api/v1/);
// a page that embeds the widget elsewhere can set data-api-base="https://…/api/v1/" on #hdca.
function apiBase() {
  const root = document.querySelector("[data-api-base]");
  const explicit = root && root.getAttribute("data-api-base");
  return new URL(explicit || "../api/v1/", explicit ? document.baseURI : import.meta.url);
}

/** An error with a Vietnamese message ready to show to the citizen. */
export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const FALLBACK = {
  0: "Không kết nối được tới máy chủ. Bạn hãy kiểm tra kết nối mạng rồi thử lại.",
  404: "Không tìm thấy nội dung yêu cầu.",
  422: "Tin nhắn không hợp lệ. Bạn hãy kiểm tra lại câu hỏi (tối đa 2000 ký tự).",
  429: "Bạn gửi quá nhiều tin nhắn trong thời gian ngắn. Vui lòng thử lại sau ít phút.",
  500: "Hệ thống đang gặp sự cố. Vui lòng thử lại sau.",
  503: "Hệ thống đang khởi động hoặc quá tải. Vui lòng thử lại sau giây lát.",
};

function errorMessage(status, detail) {
  if (typeof detail === "string" && detail.trim()) return detail.trim();
  if (FALLBACK[status]) return FALLBACK[status];
  return status >= 500 ? FALLBACK[500] : FALLBACK[422];
}

async function request(method, path, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(new URL(path, apiBase()), {
      method,
      headers: body === undefined ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (err) {
    const timedOut = err && err.name === "AbortError";
    throw new ApiError(timedOut ? "Máy chủ phản hồi quá lâu. Bạn hãy thử lại sau ít phút." : FALLBACK[0], 0);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(errorMessage(response.status, data && data.detail), response.status);
  return data;
}

export const api = {
  chat: (sessionId, message) => request("POST", "chat", { session_id: sessionId || null, message }),
  feedback: (messageId, rating, comment) =>
    request("POST", "feedback", comment ? { message_id: messageId, rating, comment } : { message_id: messageId, rating }),
  session: (sessionId) => request("GET", "sessions/" + encodeURIComponent(sessionId)),
};

// localStorage can be unavailable (private mode, sandboxed iframe): fall back to memory.
let memorySession = null;
export const sessionStore = {
  get() {
    try {
      return window.localStorage.getItem(SESSION_KEY) || memorySession;
    } catch {
      return memorySession;
    }
  },
  set(id) {
    memorySession = id || null;
    try {
      if (id) window.localStorage.setItem(SESSION_KEY, id);
      else window.localStorage.removeItem(SESSION_KEY);
    } catch {
      /* memory only */
    }
  },
};
