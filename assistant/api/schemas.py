"""Request and response bodies of the chat API (version 1)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    session_id: str | None = Field(default=None, max_length=64, description="null starts a new session")
    message: str = Field(description="the citizen's message (at most ASSISTANT_MAX_QUESTION_CHARS characters)")


class CitationOut(BaseModel):
    document: str
    article: str
    title: str | None = None


class ChatResponse(BaseModel):
    session_id: str
    message_id: str
    reply: str = Field(description="Markdown")
    citations: list[CitationOut]
    topic: str | None
    abstained: bool
    handoff: bool
    suggestions: list[str]


class FeedbackRequest(BaseModel):
    message_id: str = Field(max_length=64)
    rating: Literal[1, -1]
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackResponse(BaseModel):
    feedback_id: str
    message_id: str


class MessageOut(BaseModel):
    message_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: str
    citations: list[CitationOut] = Field(default_factory=list)
    topic: str | None = None
    abstained: bool | None = None


class SessionOut(BaseModel):
    session_id: str
    handoff: bool
    messages: list[MessageOut]
