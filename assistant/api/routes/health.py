"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from assistant.api.deps import StateDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="200 only when models, index and database are ready")
def readyz(state: StateDep) -> JSONResponse:
    body = {"status": "ready" if state.ready else "starting", "dialogue_backend": None, "index_version": None}
    if state.load_error:
        body.update(status="failed", error=state.load_error)
    if state.ready:
        db_ok = state.store.ping()
        body.update(index_version=state.engine.version, entries=len(state.engine.corpus.served_entries),
                    dialogue_backend=state.dialogue.name, database="ok" if db_ok else "unavailable")
        if not db_ok:
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


@router.get("/metrics", summary="Prometheus metrics")
def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
