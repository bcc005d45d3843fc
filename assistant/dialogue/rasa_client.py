"""Rasa as the dialogue backend, with automatic fallback to retrieval-only answers.

``RasaDialogue`` sends a turn to Rasa's REST channel (``/webhooks/rest/webhook``, the session id as
sender) and turns the bot messages into a :class:`TurnResult`; the custom actions attach the engine's
answer as a JSON payload, so topic and citations travel through unchanged.

``DialogueSelector`` is what the app uses: it sends turns through Rasa while Rasa is healthy and
answers with :class:`RetrievalDialogue` when Rasa is down, errors or is slower than the timeout. A
background probe checks Rasa every few seconds, so recovery is automatic.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from assistant.dialogue.context import Turn
from assistant.dialogue.manager import RetrievalDialogue, TurnResult
from assistant.errors import UpstreamError
from assistant.privacy import mask_pii
from assistant.qa.schemas import Answer, Citation

log = logging.getLogger("assistant.dialogue.rasa")


def answer_from_messages(question: str, messages: list[dict[str, Any]]) -> tuple[Answer, bool]:
    """Build an Answer from Rasa's bot messages: the last custom payload wins, plain texts are joined."""
    payload = next((m["custom"] for m in reversed(messages) if isinstance(m.get("custom"), dict)), None)
    texts = [m["text"] for m in messages if isinstance(m.get("text"), str) and m["text"].strip()]
    if payload is None:
        if not texts:
            raise UpstreamError("Rasa returned no message")
        text = "\n\n".join(texts)
        return Answer(question=question, abstained=True, topic=None, answer=text, spoken_answer=text,
                      citations=[], results=[], confidence=1.0, reason="dialogue"), False
    reply = payload.get("reply") or "\n\n".join(texts)
    citations = [Citation(c["document"], c["article"]) for c in payload.get("citations") or []
                 if isinstance(c, dict) and "document" in c and "article" in c]
    answer = Answer(question=question, abstained=bool(payload.get("abstained", not citations)),
                    topic=payload.get("topic"), answer=reply, spoken_answer=payload.get("spoken") or reply,
                    citations=citations, results=[], confidence=float(payload.get("confidence") or 0.0),
                    entry_id=payload.get("entry_id"), reason=payload.get("reason") or "answered",
                    suggestions=list(payload.get("suggestions") or []), handoff_offered=bool(payload.get("handoff")))
    return answer, bool(payload.get("handoff"))


def feedback_from_messages(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ``feedback`` of ``action_feedback``'s payload (``{"rating": 1 | -1, "comment": str}``), if any."""
    for m in messages:
        fb = m["custom"].get("feedback") if isinstance(m.get("custom"), dict) else None
        if isinstance(fb, dict) and fb.get("rating") in (1, -1) and not isinstance(fb.get("rating"), bool):
            comment = fb.get("comment")
            return {"rating": fb["rating"], "comment": comment[:2000] if isinstance(comment, str) else None}
    return None


class RasaDialogue:
    """One turn through Rasa's REST channel."""

    name = "rasa"

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 3.0):
        self.url = url.rstrip("/")
        self.token = token
        self.client = httpx.Client(timeout=timeout)

    def healthy(self) -> bool:
        """``/status`` (model loaded) when we hold the API token, else the root endpoint."""
        try:
            if self.token:
                r = self.client.get(f"{self.url}/status", params={"token": self.token}, timeout=1.0)
            else:
                r = self.client.get(f"{self.url}/", timeout=1.0)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    def respond(self, message: str, context: dict[str, Any] | None, session_id: str) -> TurnResult:
        try:
            r = self.client.post(f"{self.url}/webhooks/rest/webhook", json={"sender": session_id, "message": message})
            r.raise_for_status()
            messages = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"Rasa turn failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(messages, list):
            raise UpstreamError("Rasa returned an unexpected body")
        answer, handoff = answer_from_messages(message, messages)
        context = dict(context or {})
        if not answer.abstained:
            context["last"] = Turn(mask_pii(message), answer.topic, answer.entry_id).__dict__
        return TurnResult(answer, handoff, context, feedback=feedback_from_messages(messages))

    def close(self) -> None:
        self.client.close()


class DialogueSelector:
    """Rasa when it is up, retrieval otherwise; ``name`` tells which backend is active."""

    def __init__(self, retrieval: RetrievalDialogue, rasa: RasaDialogue | None = None, *, probe_every: float = 5.0,
                 cooldown: float = 30.0):
        self.retrieval = retrieval
        self.rasa = rasa
        self.probe_every = probe_every
        self.cooldown = cooldown  # after a failed turn, Rasa stays off this long even if its probe answers
        self._down_until = 0.0
        self._rasa_up = rasa is not None and rasa.healthy()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if rasa is not None:
            self._thread = threading.Thread(target=self._probe, name="rasa-probe", daemon=True)
            self._thread.start()

    @property
    def name(self) -> str:
        return "rasa" if self.rasa is not None and self._rasa_up else "retrieval"

    def _probe(self) -> None:
        while not self._stop.wait(self.probe_every):
            up = time.monotonic() >= self._down_until and self.rasa.healthy()
            if up != self._rasa_up:
                log.warning("dialogue backend: %s", "rasa is back" if up else "rasa is down, using retrieval")
            self._rasa_up = up

    def respond(self, message: str, context: dict[str, Any] | None = None, session_id: str = "anonymous") -> TurnResult:
        if self.rasa is not None and self._rasa_up and self.retrieval.engine.check_input(message) is None:
            try:
                return self.rasa.respond(message, context, session_id)
            except UpstreamError as exc:
                self._rasa_up = False
                self._down_until = time.monotonic() + self.cooldown
                log.warning("%s; answering with retrieval until Rasa recovers", exc)
        return self.retrieval.respond(message, context)

    def close(self) -> None:
        self._stop.set()
        if self.rasa is not None:
            self.rasa.close()
