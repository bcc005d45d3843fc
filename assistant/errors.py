"""One error hierarchy for the whole application.

Each error says whether retrying may help (``retryable``), so transports can decide between an
apology-and-retry and a clear refusal.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of every error the assistant raises on purpose."""

    retryable: bool = False


class InputError(AssistantError):
    """The caller sent something we cannot process (empty, too long, binary)."""


class CorpusError(AssistantError):
    """The knowledge base is invalid; ``problems`` holds ``file:line: message`` strings."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the knowledge base:\n" + "\n".join(problems))


class ModelLoadError(AssistantError):
    """A model could not be found, verified or loaded."""


class IndexNotBuiltError(AssistantError):
    """The retrieval index is missing or stale; run ``assistant index build``."""


class UpstreamError(AssistantError):
    """A dependent service (Rasa, Twilio…) failed."""

    retryable = True
