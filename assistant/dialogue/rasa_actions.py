"""Rasa custom actions: the knowledge engine behind Rasa's dialogue (rasa-sdk action server).

Rasa 3.6 (its own Python 3.10 venv) handles intents, rules and slots; every turn that needs an answer
runs ``action_answer`` here, in the app's Python 3.11 environment, next to :class:`QAEngine`.

Actions (registered explicitly, see :data:`ACTIONS`; no subclass scanning):

- ``action_answer``: answers the latest message with the engine, or asks a clarifying question for an
  under-specified procedure question (:mod:`assistant.dialogue.clarify`) and combines the reply with
  it on the next turn;
- ``action_handoff``: tells the citizen an officer will contact them (113 for emergencies);
- ``action_repeat``: says the last answer again;
- ``action_feedback``: thanks the citizen for feedback typed into the chat and hands it to the app
  (``feedback``: rating and masked comment), which records it on the previous answer
  (:mod:`assistant.dialogue.feedback`).

Every bot message carries the text (Markdown) and a JSON payload (``custom`` in Rasa's REST channel)
with the keys of :data:`PAYLOAD_KEYS`, so topic, citations and hand-off reach the app unchanged.
Slots set: ``topic``, ``procedure``, ``action``, ``pending_question``, ``handoff``, ``last_answer``.

``assistant actions`` (:func:`serve`) loads the engine once and serves the actions on
127.0.0.1:5055 in a single process (``GET /health``, ``GET /actions``, ``POST /webhook``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher

from assistant.dialogue import clarify, feedback
from assistant.privacy import mask_pii

log = logging.getLogger("assistant.dialogue.actions")

#: every payload has these keys (``question``: the question actually answered)
PAYLOAD_KEYS = ("reply", "spoken", "topic", "abstained", "reason", "entry_id", "citations", "suggestions",
                "confidence", "handoff", "question", "feedback")

HANDOFF_REPLY = ("Mình đã ghi nhận yêu cầu gặp cán bộ. Cán bộ Công an sẽ liên hệ với bạn trong giờ hành chính; "
                 "bạn có thể tiếp tục đặt câu hỏi trong lúc chờ. Nếu việc khẩn cấp, hãy gọi ngay 113.")
NOTHING_TO_REPEAT = "Mình chưa trả lời câu hỏi nào trong cuộc trò chuyện này. Bạn muốn hỏi về thủ tục gì?"

# ---------------------------------------------------------------------------- the engine, once per process
_engine: Any = None
_engine_lock = threading.Lock()


def get_engine():
    """The process-wide :class:`QAEngine`, loaded on first use (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from assistant.config import get_settings
                from assistant.editor.wiring import load_engine

                _engine = load_engine(get_settings(), log=log.info)
                from assistant.editor.hot_reload import follow_process

                follow_process(get_settings(), lambda: _engine, set_engine)  # serve what CURRENT names
    return _engine


def set_engine(engine) -> None:
    """Use ``engine`` for every action of this process that was not given one."""
    global _engine
    with _engine_lock:
        _engine = engine


def payload(**values: Any) -> dict[str, Any]:
    """A payload with every key of :data:`PAYLOAD_KEYS` (missing ones get neutral defaults)."""
    base: dict[str, Any] = {"reply": "", "spoken": None, "topic": None, "abstained": True, "reason": "answered",
                            "entry_id": None, "citations": [], "suggestions": [], "confidence": 0.0,
                            "handoff": False, "question": None, "feedback": None}
    base.update(values)
    if base["spoken"] is None:
        base["spoken"] = base["reply"]
    return base


def answer_payload(answer, question: str) -> dict[str, Any]:
    """The payload for an engine :class:`Answer`."""
    return payload(reply=answer.answer, spoken=answer.spoken_answer, topic=answer.topic, abstained=answer.abstained,
                   reason=answer.reason, entry_id=answer.entry_id,
                   citations=[{"document": c.document, "article": c.article} for c in answer.citations],
                   suggestions=list(answer.suggestions), confidence=answer.confidence, handoff=False,
                   question=mask_pii(question))


def _latest_text(tracker: Tracker) -> str:
    text = (tracker.latest_message or {}).get("text")
    return text if isinstance(text, str) else ""


class _EngineAction(Action):
    """An action that may use the knowledge engine (injected, or the process-wide one)."""

    def __init__(self, engine=None) -> None:
        self._engine = engine

    @property
    def engine(self):
        return self._engine if self._engine is not None else get_engine()


class ActionAnswer(_EngineAction):
    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        text = _latest_text(tracker)
        pending = tracker.get_slot("pending_question")
        if pending:
            question = clarify.resolve_reply(str(pending), text)
        else:
            question = text
            ask = clarify.clarification_for(text)
            if ask is not None:
                reply = ask.question
                dispatcher.utter_message(text=reply, buttons=ask.buttons,
                                         json_message=payload(reply=reply, topic=ask.topic, abstained=True,
                                                              reason="clarify", suggestions=ask.suggestions,
                                                              question=mask_pii(text)))
                log.info("clarify %s: %s", ask.procedure, mask_pii(text))
                return [SlotSet("pending_question", mask_pii(text)), SlotSet("procedure", ask.procedure),
                        SlotSet("topic", ask.topic)]
        answer = await asyncio.to_thread(self.engine.answer, question)
        body = answer_payload(answer, question)
        dispatcher.utter_message(text=answer.answer, json_message=body)
        log.info("answer %s %s (%.2f): %s", answer.reason, answer.entry_id, answer.confidence, mask_pii(question))
        proc = clarify.find_procedure(question)
        action = clarify.find_action(question)
        events = [SlotSet("pending_question", None), SlotSet("topic", answer.topic),
                  SlotSet("last_answer", answer.answer)]
        if proc is not None:
            events.append(SlotSet("procedure", proc.code))
        if action is not None:
            events.append(SlotSet("action", action))
        return events


class ActionHandoff(_EngineAction):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        dispatcher.utter_message(text=HANDOFF_REPLY,
                                 json_message=payload(reply=HANDOFF_REPLY, topic=tracker.get_slot("topic"),
                                                      abstained=True, reason="handoff", confidence=1.0, handoff=True,
                                                      question=mask_pii(_latest_text(tracker))))
        log.info("handoff requested")
        return [SlotSet("handoff", True), SlotSet("pending_question", None)]


class ActionRepeat(_EngineAction):
    def name(self) -> str:
        return "action_repeat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        last = tracker.get_slot("last_answer")
        bot_events = [e for e in reversed(tracker.events or []) if e.get("event") == "bot" and e.get("text")]
        if not last and bot_events:
            last = bot_events[0]["text"]
        if not last:
            dispatcher.utter_message(text=NOTHING_TO_REPEAT,
                                     json_message=payload(reply=NOTHING_TO_REPEAT, reason="repeat",
                                                          topic=tracker.get_slot("topic")))
            return []
        # reuse the payload the text was first sent with (citations, spoken form), when the tracker has it
        previous = next((e["data"]["custom"] for e in bot_events
                         if isinstance((e.get("data") or {}).get("custom"), dict)
                         and e["data"]["custom"].get("reply") == last), None)
        body = payload(**{k: v for k, v in (previous or {}).items() if k in PAYLOAD_KEYS})
        body.update(reply=last, reason="repeat", handoff=False)
        if previous is None:
            body.update(spoken=last, topic=tracker.get_slot("topic"), abstained=False)
        dispatcher.utter_message(text=last, json_message=body)
        return []


class ActionFeedback(_EngineAction):
    def name(self) -> str:
        return "action_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict]:
        text = _latest_text(tracker)
        value = feedback.rating(text)
        reply = feedback.thanks(value)
        dispatcher.utter_message(text=reply, json_message=payload(
            reply=reply, reason="feedback", topic=tracker.get_slot("topic"), confidence=1.0,
            feedback={"rating": value, "comment": mask_pii(text)}, question=mask_pii(text)))
        log.info("feedback %+d", value)
        return [SlotSet("pending_question", None)]


#: the actions this server runs, registered explicitly
ACTIONS: tuple[type[_EngineAction], ...] = (ActionAnswer, ActionHandoff, ActionRepeat, ActionFeedback)


def build_executor(engine=None) -> ActionExecutor:
    """An executor with exactly :data:`ACTIONS` registered (``engine``: inject one, e.g. in tests)."""
    executor = ActionExecutor()
    for cls in ACTIONS:
        executor.register_action(cls(engine))
    return executor


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with personal numbers masked in every record (ours, rasa_sdk's and Sanic's)."""
    from assistant.privacy import MaskingFilter

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "rasa_sdk"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True


def serve(host: str = "127.0.0.1", port: int = 5055, *, engine=None, log_level: str = "INFO") -> None:
    """Load the engine, then serve the actions (one process; returns on SIGINT/SIGTERM)."""
    from rasa_sdk.endpoint import create_app

    configure_logging(log_level)
    # Rasa 3.6 with rasa-sdk 3.21 works (ARCHITECTURE §6); rasa_sdk warns on every start about the versions
    warnings.filterwarnings("ignore", message="Your versions of rasa and rasa_sdk might not be compatible")
    if engine is not None:
        set_engine(engine)
    log.info("loading the knowledge engine…")
    loaded = get_engine()
    log.info("engine ready: index %s", loaded.version)
    app = create_app(build_executor(), cors_origins=None)
    log.info("action server on http://%s:%d (actions: %s)", host, port, ", ".join(c().name() for c in ACTIONS))
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Rasa action server for the assistant")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
