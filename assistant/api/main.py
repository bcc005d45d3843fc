"""FastAPI application factory.

``create_app()`` wires the routes, the widget, metrics, the rate limit and error handling. The
lifespan opens the database (running migrations) and loads the knowledge engine in a background
thread, so ``/healthz`` answers at once and ``/readyz`` turns 200 when the models are loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from assistant import __version__
from assistant.api.metrics import Metrics
from assistant.api.ratelimit import RateLimiter
from assistant.api.routes import chat, health
from assistant.config import Settings, get_settings
from assistant.editor.wiring import install_editor, load_engine, start_editor
from assistant.privacy import MaskingFilter
from voice import twilio as twilio_voice

log = logging.getLogger("assistant.api")
WIDGET_DIR = Path(__file__).resolve().parent / "widget"


class AppState:
    """What the routes share: settings, engine, dialogue, store, metrics (set up by the lifespan)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = None
        self.dialogue = None
        self.store = None
        self.metrics = Metrics()
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.load_error: str | None = None
        self.loaded = threading.Event()

    @property
    def ready(self) -> bool:
        return self.loaded.is_set() and self.engine is not None and self.store is not None


def configure_logging(level: str) -> None:
    """Log to stderr with personal numbers masked, for our loggers and uvicorn's."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger("assistant")
    if not any(isinstance(f, MaskingFilter) for h in root.handlers for f in h.filters):
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for h in logging.getLogger(name).handlers:
            h.addFilter(MaskingFilter())


def _load(state: AppState, engine=None, store=None) -> None:
    try:
        from assistant.dialogue import RetrievalDialogue
        from assistant.dialogue.rasa_client import DialogueSelector, RasaDialogue
        from assistant.store import ChatStore

        if store is None:
            store = ChatStore(state.settings.db_url)
            store.migrate()
        state.store = store
        if engine is None:
            started = time.perf_counter()
            engine = load_engine(state.settings, log=log.info)  # recovers an interrupted publish first
            log.info("engine ready in %.1f s (index %s)", time.perf_counter() - started, engine.version)
        state.engine = engine
        settings = state.settings
        rasa = (RasaDialogue(settings.rasa_url, token=settings.rasa_token, timeout=settings.rasa_timeout_s)
                if settings.rasa_url else None)
        state.dialogue = DialogueSelector(RetrievalDialogue(engine), rasa)
        start_editor(state)
    except Exception as exc:  # noqa: BLE001 - reported by /readyz, the process stays up for diagnosis
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("start-up failed")
    finally:
        state.loaded.set()


def create_app(settings: Settings | None = None, *, engine=None, store=None, load_in_background: bool = True) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    state = AppState(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if load_in_background:
            threading.Thread(target=_load, args=(state, engine, store), name="assistant-load", daemon=True).start()
        else:
            _load(state, engine, store)
        yield
        if state.store is not None:
            state.store.dispose()
        if state.dialogue is not None:
            state.dialogue.close()

    app = FastAPI(title="Hỏi đáp Công an", version=__version__, lifespan=lifespan,
                  description="Trợ lý hỏi đáp thủ tục hành chính của Công an (API v1).")
    app.state.assistant = state
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])

    @app.middleware("http")
    async def measure_and_limit(request: Request, call_next):
        route = request.url.path
        if route.startswith("/api/") and not route.startswith("/api/v1/kb/") and request.method == "POST":
            client = request.client.host if request.client else "unknown"
            if not state.limiter.allow(client):
                state.metrics.rate_limited.inc()
                state.metrics.requests.labels(request.method, route, "429").inc()
                return JSONResponse({"detail": "Bạn gửi quá nhiều tin nhắn trong thời gian ngắn. "
                                               "Vui lòng thử lại sau ít phút."}, status_code=429,
                                    headers={"Retry-After": str(state.limiter.retry_after())})
        started = time.perf_counter()
        response = await call_next(request)
        matched = request.scope.get("route")
        label = getattr(matched, "path", None) or ("static" if route.startswith("/widget/") else "other")
        state.metrics.latency.labels(request.method, label).observe(time.perf_counter() - started)
        state.metrics.requests.labels(request.method, label, str(response.status_code)).inc()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": vietnamese_validation_message(exc, settings.max_question_chars)},
                            status_code=422)

    app.include_router(chat.router, prefix="/api/v1")
    app.include_router(health.router)
    app.include_router(twilio_voice.router)  # phone hotline (voice/)
    install_editor(app, state)
    if WIDGET_DIR.is_dir():
        app.mount("/widget", StaticFiles(directory=WIDGET_DIR), name="widget")

        @app.get("/", include_in_schema=False)
        def widget_page() -> FileResponse:
            return FileResponse(WIDGET_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def vietnamese_validation_message(exc: RequestValidationError, max_chars: int) -> str:
    """One clear Vietnamese sentence for the first problem of a request body."""
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        kind = err.get("type", "")
        field = loc[-1] if loc else ""
        if kind == "json_invalid" or field == "body" and kind in ("model_attributes_type", "dict_type"):
            return "Nội dung gửi lên không phải JSON hợp lệ."
        if kind == "missing":
            return f"Thiếu trường bắt buộc '{field}'."
        if field == "rating":
            return "Đánh giá phải là 1 (hữu ích) hoặc -1 (chưa hữu ích)."
        if kind == "string_too_long":
            return f"Trường '{field}' dài quá giới hạn cho phép."
        if kind == "string_type":
            return f"Trường '{field}' phải là chuỗi ký tự."
    return f"Yêu cầu không hợp lệ (tin nhắn tối đa {max_chars} ký tự)."
