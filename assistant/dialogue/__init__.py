"""Dialogue: turns of a conversation on top of the knowledge engine (retrieval-only for now)."""

from assistant.dialogue.manager import RetrievalDialogue, TurnResult

__all__ = ["RetrievalDialogue", "TurnResult"]
