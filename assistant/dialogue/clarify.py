"""Clarifying questions for under-specified procedure questions (pure functions, no Rasa).

"Làm căn cước" or "bằng lái" names a procedure whose entries differ by what the citizen wants to
do (first issue, exchange, re-issue), so the answer would be a guess. :func:`clarification_for`
detects such a message and returns the question to ask back ("Bạn muốn làm thẻ căn cước lần đầu,
cấp đổi hay cấp lại?") with three options; :func:`resolve_reply` turns the citizen's reply to it
("cấp lại", "có", "cho con 10 tuổi", or a new question) into the question to answer.

A message is under-specified when, counting the procedure's name as one word and politeness
particles ("ạ", "nhé") as none, it has at most :data:`MAX_WORDS` words, names one procedure of
:data:`PROCEDURES`, names no action of :data:`ACTIONS`, and every other word is filler ("làm",
"thủ tục", "tôi muốn", "hồ sơ", "thế nào"…). Any other word ("lệ phí căn cước", "căn cước điện tử",
"hộ chiếu trẻ em") makes it specific enough for the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.text import fold

MAX_WORDS = 4
#: a short reply with no procedure of its own is added to the pending question ("cho con 10 tuổi")
MAX_APPEND_WORDS = 6

LAN_DAU, CAP_DOI, CAP_LAI, GIA_HAN = "lan_dau", "cap_doi", "cap_lai", "gia_han"
OPTIONS = (LAN_DAU, CAP_DOI, CAP_LAI)
OPTION_TITLES = {LAN_DAU: "Cấp lần đầu", CAP_DOI: "Cấp đổi", CAP_LAI: "Cấp lại"}


@dataclass(frozen=True)
class Procedure:
    code: str
    topic: str
    label: str
    pattern: re.Pattern[str]
    clarify: str
    #: the standalone question for each action (phrased so the engine finds the right entry)
    questions: dict[str, str] = field(default_factory=dict)


def _p(regex: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{regex})(?!\w)")


def _words(words: str) -> re.Pattern[str]:
    """A pattern matching any of the ``|``-separated folded wordings, longest first."""
    alternatives = sorted({w.strip() for w in words.split("|") if w.strip()}, key=len, reverse=True)
    return _p("|".join(re.escape(w) for w in alternatives))


PROCEDURES: tuple[Procedure, ...] = (
    Procedure(
        "can_cuoc", "can_cuoc", "thẻ căn cước",
        _p(r"(?:the )?can cuoc(?: cong dan)?"),
        "Bạn muốn làm thẻ căn cước lần đầu, cấp đổi hay cấp lại?",
        {LAN_DAU: "Cấp thẻ căn cước lần đầu", CAP_DOI: "Cấp đổi thẻ căn cước",
         CAP_LAI: "Cấp lại thẻ căn cước", GIA_HAN: "Cấp đổi thẻ căn cước"},
    ),
    Procedure(
        "ho_chieu", "xuat_nhap_canh", "hộ chiếu",
        _p(r"ho chieu(?: pho thong)?|passport"),
        "Bạn muốn làm hộ chiếu lần đầu, cấp đổi hay cấp lại?",
        {LAN_DAU: "Cấp hộ chiếu lần đầu", CAP_DOI: "Cấp đổi hộ chiếu",
         CAP_LAI: "Cấp lại hộ chiếu", GIA_HAN: "Gia hạn hộ chiếu"},
    ),
    Procedure(
        "giay_phep_lai_xe", "giay_phep_lai_xe", "giấy phép lái xe",
        _p(r"giay phep lai xe|bang lai(?: xe)?|bang xe"),
        "Bạn muốn làm giấy phép lái xe lần đầu, cấp đổi hay cấp lại?",
        {LAN_DAU: "Sát hạch lái xe lần đầu", CAP_DOI: "Cấp đổi giấy phép lái xe",
         CAP_LAI: "Cấp lại giấy phép lái xe bị mất", GIA_HAN: "Cấp đổi giấy phép lái xe"},
    ),
    Procedure(
        "dang_ky_xe", "dang_ky_xe", "đăng ký xe",
        _p(r"(?:giay )?dang ky xe|ca vet|cavet"),
        "Bạn muốn đăng ký xe lần đầu, cấp đổi hay cấp lại giấy đăng ký xe?",
        {LAN_DAU: "Đăng ký xe lần đầu", CAP_DOI: "Cấp đổi giấy đăng ký xe",
         CAP_LAI: "Cấp lại giấy đăng ký xe", GIA_HAN: "Cấp đổi giấy đăng ký xe"},
    ),
)
PROCEDURES_BY_CODE = {p.code: p for p in PROCEDURES}

#: action codes and their folded wordings
ACTIONS: dict[str, re.Pattern[str]] = {
    LAN_DAU: _words("lan dau|cap moi|lam moi|moi|chua co|chua tung"),
    CAP_DOI: _words("cap doi|chuyen doi|doi lai|doi|sap het han|het han"),
    CAP_LAI: _words("cap lai|lam lai|bi mat|mat|that lac|hu hong|bi hong|hong|rach"),
    GIA_HAN: _words("gia han"),
}

_POLITE_WORDS = "a|ah|a a|nhe|nha|oi|vay|nhi"
#: politeness particles do not count as words
_POLITE = _words(_POLITE_WORDS)
_PARTICLES = f"{_POLITE_WORDS}|em|chau|minh|toi|anh|chi"
#: words that leave a procedure question under-specified ("tôi muốn làm … thế nào ạ")
_FILLER = _words(
    f"{_PARTICLES}|ban|voi|giup|cho hoi|hoi|xin|muon|can|dinh|se|di|"
    "lam|thu tuc|ho so|giay to|the|cap|dang ky|cong dan|mot|cai|cua|ve|"
    "the nao|nhu the nao|lam sao|ra sao|sao|gi|nhung gi|can gi|"
    "xe may|xe mo to|mo to|o to|oto|xe|may"
)
_AFFIRM_DENY = _words(
    f"{_PARTICLES}|co|dung|dung roi|vang|da|da vang|u|uh|um|ok|oke|okay|duoc|phai|roi|chac chan|"
    "khong|khong can|thoi|khong phai|sai"
)
_PROC_TOKEN = "\x00"


@dataclass(frozen=True)
class Clarification:
    """A clarifying question to send back, with its options."""

    procedure: str  # Procedure.code
    topic: str
    question: str
    #: (button title, standalone question sent when the button is pressed)
    options: tuple[tuple[str, str], ...]

    @property
    def suggestions(self) -> list[str]:
        return [q for _, q in self.options]

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [{"title": t, "payload": q} for t, q in self.options]


def find_procedure(text: str) -> Procedure | None:
    """The one procedure ``text`` names (None when it names none or several)."""
    f = fold(text)
    found = [p for p in PROCEDURES if p.pattern.search(f)]
    return found[0] if len(found) == 1 else None


def find_action(text: str) -> str | None:
    """The action code ``text`` names (first issue, exchange, re-issue, extension), or None."""
    f = fold(text)
    hits = [(m.start(), code) for code, rx in ACTIONS.items() if (m := rx.search(f))]
    return min(hits)[1] if hits else None


def _only(pattern: re.Pattern[str], folded: str) -> bool:
    return not pattern.sub(" ", folded).strip()


def clarification_for(text: str) -> Clarification | None:
    """A clarifying question when ``text`` names a procedure but not what to do with it."""
    if not isinstance(text, str) or text.lstrip().startswith("/"):
        return None
    f = fold(text)
    proc = find_procedure(text)
    if proc is None or find_action(text) is not None:
        return None
    rest = proc.pattern.sub(_PROC_TOKEN, f)
    if len(_POLITE.sub(" ", rest).split()) > MAX_WORDS or rest.count(_PROC_TOKEN) != 1:
        return None
    if not _only(_FILLER, rest.replace(_PROC_TOKEN, " ")):
        return None
    options = tuple((OPTION_TITLES[a], proc.questions[a]) for a in OPTIONS)
    return Clarification(proc.code, proc.topic, proc.clarify, options)


def is_affirm_or_deny(text: str) -> bool:
    f = fold(text)
    return bool(f.strip()) and _only(_AFFIRM_DENY, f)


def resolve_reply(pending: str, reply: str) -> str:
    """The question to answer, given the pending (under-specified) question and the reply to it.

    - a reply that names a procedure is a question of its own: it is answered as it is;
    - an action ("cấp lại", "bị mất", "lần đầu") gives that action's standalone question for the
      pending procedure ("Cấp lại thẻ căn cước");
    - yes/no, an empty reply or an intent payload ("/affirm") keeps the pending question;
    - another short reply is added to the pending question ("làm căn cước" + "cho con 10 tuổi");
    - anything longer is a new question.
    """
    reply = (reply or "").strip()
    if not reply or reply.startswith("/") or is_affirm_or_deny(reply):
        return pending
    if find_procedure(reply) is not None:
        return reply
    proc = find_procedure(pending)
    action = find_action(reply)
    if proc is not None and action is not None:
        return proc.questions[action]
    if len(reply.split()) <= MAX_APPEND_WORDS:
        return f"{pending.strip()} {reply}"
    return reply
