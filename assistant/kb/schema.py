"""Schema of the knowledge base: answer entries, the legal-document registry, redirects.

Field names are the same in the YAML files and in the editor API (ARCHITECTURE §3).
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from assistant.text import has_diacritics

TOPICS: tuple[str, ...] = (
    "cu_tru",
    "can_cuoc",
    "giay_phep_lai_xe",
    "dang_ky_xe",
    "xuat_nhap_canh",
    "ly_lich_tu_phap",
)
TOPIC_NAMES: dict[str, str] = {
    "cu_tru": "Cư trú",
    "can_cuoc": "Căn cước, định danh điện tử",
    "giay_phep_lai_xe": "Giấy phép lái xe",
    "dang_ky_xe": "Đăng ký xe",
    "xuat_nhap_canh": "Hộ chiếu, xuất nhập cảnh",
    "ly_lich_tu_phap": "Lý lịch tư pháp",
}
Topic = Literal["cu_tru", "can_cuoc", "giay_phep_lai_xe", "dang_ky_xe", "xuat_nhap_canh", "ly_lich_tu_phap"]

ID_PATTERN = r"^[a-z0-9]+(_[a-z0-9]+)*$"
DOCUMENT_NUMBER = re.compile(r"^\d{1,4}/\d{4}/[A-ZĐ0-9]+(-[A-ZĐ0-9]+)*$")
ARTICLE = re.compile(r"^((điểm [a-zđ] )?khoản \d+ )?Điều \d+[a-z]?$")
MIN_QUESTIONS = 6
MIN_UNACCENTED_QUESTIONS = 2
MAX_SPOKEN_CHARS = 450

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def canonical_document_number(value: str) -> str:
    """``value`` when it is a canonical document number (``68/2020/QH14``), else ``ValueError``.

    The one check behind both a citation's ``document`` and a registry entry's ``number``.
    """
    if not DOCUMENT_NUMBER.match(value):
        raise ValueError(f"số hiệu văn bản không đúng dạng chuẩn (ví dụ 68/2020/QH14): {value!r}")
    return value


DocumentNumber = Annotated[NonEmpty, AfterValidator(canonical_document_number)]


class EntryStatus(str, Enum):
    published = "published"
    needs_review = "needs_review"
    draft = "draft"


class DocumentStatus(str, Enum):
    in_force = "in_force"
    amended = "amended"
    superseded = "superseded"
    expired = "expired"
    unverified = "unverified"


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: DocumentNumber
    article: NonEmpty

    @field_validator("article")
    @classmethod
    def _article_form(cls, value: str) -> str:
        if not ARTICLE.match(value):
            raise ValueError(f"điều khoản phải có dạng 'Điều 27' hoặc 'khoản 1 Điều 27': {value!r}")
        return value


class Entry(BaseModel):
    """One curated answer."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    topic: Topic
    title: NonEmpty
    questions: list[NonEmpty]
    answer: NonEmpty
    spoken_answer: NonEmpty
    legal_basis: list[LegalBasis] = Field(min_length=1)
    procedure_code: str | None = None
    agency: str | None = None
    fees: str | None = None
    processing_time: str | None = None
    online: bool | None = None
    effective_from: dt.date
    reviewed_at: dt.date
    status: EntryStatus
    review_note: str | None = None

    @field_validator("questions")
    @classmethod
    def _enough_questions(cls, value: list[str]) -> list[str]:
        if len(value) < MIN_QUESTIONS:
            raise ValueError(f"cần ít nhất {MIN_QUESTIONS} câu hỏi mẫu (có {len(value)})")
        unaccented = sum(1 for q in value if not has_diacritics(q))
        if unaccented < MIN_UNACCENTED_QUESTIONS:
            raise ValueError(f"cần ít nhất {MIN_UNACCENTED_QUESTIONS} câu hỏi gõ không dấu (có {unaccented})")
        seen = set()
        for q in value:
            if q.lower() in seen:
                raise ValueError(f"câu hỏi bị lặp: {q!r}")
            seen.add(q.lower())
        return value

    @field_validator("spoken_answer")
    @classmethod
    def _speakable(cls, value: str) -> str:
        if len(value) > MAX_SPOKEN_CHARS:
            raise ValueError(f"câu trả lời nói dài {len(value)} ký tự, tối đa {MAX_SPOKEN_CHARS}")
        if re.search(r"[*#`\[\]|]|https?://", value):
            raise ValueError("câu trả lời nói không được chứa Markdown hay đường dẫn")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if not self.id.startswith(self.topic + "_"):
            raise ValueError(f"id phải bắt đầu bằng mã chủ đề '{self.topic}_'")
        if self.status is EntryStatus.needs_review and not (self.review_note or "").strip():
            raise ValueError("mục cần rà soát (needs_review) phải có review_note giải thích lý do")
        if self.reviewed_at > dt.date.today():
            raise ValueError("reviewed_at không được ở tương lai")
        return self

    @property
    def served(self) -> bool:
        return self.status is not EntryStatus.draft


class LegalDocument(BaseModel):
    """A legal document in the registry."""

    model_config = ConfigDict(extra="forbid")

    number: DocumentNumber
    title: NonEmpty
    type: Literal["Luật", "Nghị định", "Thông tư", "Quyết định", "Nghị quyết", "Văn bản hợp nhất"]
    issuer: str | None = None
    issued: dt.date | None = None
    effective_from: dt.date | None = None
    status: DocumentStatus
    superseded_by: list[str] = Field(default_factory=list)
    amended_by: list[str] = Field(default_factory=list)
    topics: list[Topic | Literal["chung"]] = Field(default_factory=list)
    note: str | None = None

    @model_validator(mode="after")
    def _superseded_has_successor(self) -> LegalDocument:
        if self.status is DocumentStatus.superseded and not self.superseded_by:
            raise ValueError("văn bản đã bị thay thế (superseded) phải ghi superseded_by")
        return self


class RedirectGroup(BaseModel):
    """Questions about another agency's procedure, with where to go instead."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    title: NonEmpty
    agency: NonEmpty
    reply: NonEmpty
    questions: list[NonEmpty] = Field(min_length=3)


class OutOfScopeGroup(BaseModel):
    """Chit-chat and unrelated questions, with the reply to give."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    kind: Literal["chitchat", "unrelated", "traffic_non_licence", "police_other", "prompt_attack"]
    reply: NonEmpty
    questions: list[NonEmpty] = Field(min_length=3)
