"""Annotated dependencies the routes declare."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request


def _state(request: Request):
    return request.app.state.assistant


def ready_state(request: Request):
    """The app state, or 503 while the models are still loading (or failed to load)."""
    state = request.app.state.assistant
    if not state.ready:
        raise HTTPException(503, "Hệ thống đang khởi động, vui lòng thử lại sau giây lát.")
    return state


StateDep = Annotated[object, Depends(_state)]
ReadyStateDep = Annotated[object, Depends(ready_state)]
