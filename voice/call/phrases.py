"""What the call says (prompts) and the few caller phrases it recognises itself (yes, no, goodbye).

Prompts are plain Vietnamese text, synthesized once and cached like answers (:mod:`voice.prerender`).
"""

from __future__ import annotations

import re

from assistant.text.normalize import fold

GREETING = ("Xin chào, đây là tổng đài hỏi đáp thủ tục hành chính của Công an. Mời bạn nói câu hỏi sau tiếng bíp, "
            "hoặc bấm phím chín để nghe danh sách chủ đề, phím không để gặp cán bộ.")
MENU = ("Bấm phím một: cư trú. Phím hai: căn cước. Phím ba: giấy phép lái xe. Phím bốn: đăng ký xe. "
        "Phím năm: hộ chiếu. Phím không: gặp cán bộ. Phím thăng: nghe lại câu trả lời.")
LISTEN_AGAIN = "Mời bạn nói câu hỏi."
NOT_UNDERSTOOD = "Xin lỗi, tôi chưa nghe rõ. Bạn vui lòng nói lại câu hỏi."
OFFER_MENU = "Xin lỗi, tôi vẫn chưa hiểu câu hỏi. " + MENU
NO_ANSWER = ("Xin lỗi, tôi chưa có câu trả lời chắc chắn cho câu hỏi này. Bạn có thể hỏi cách khác, "
             "hoặc bấm phím không để gặp cán bộ.")
CONFIRM = "Bạn hỏi về {title} phải không? Xin nói có hoặc không."
CONFIRM_AGAIN = "Xin nói có hoặc không."
TOPIC_CHOSEN = "Bạn đã chọn {name}. Mời bạn nói câu hỏi."
TRANSFERRING = "Bạn đang được chuyển tới cán bộ trực. Xin vui lòng giữ máy."
NO_TRANSFER = ("Hiện chưa thể chuyển máy tới cán bộ. Bạn có thể gọi lại trong giờ hành chính, "
               "hoặc tiếp tục đặt câu hỏi.")
NOTHING_TO_REPEAT = "Chưa có câu trả lời nào để nghe lại. Mời bạn nói câu hỏi."
STILL_THERE = "Bạn còn nghe máy không? Mời bạn nói câu hỏi, hoặc bấm phím chín để nghe danh sách chủ đề."
GOODBYE = "Cảm ơn bạn đã gọi tổng đài. Xin chào và hẹn gặp lại."
TIME_LIMIT = "Cuộc gọi đã đạt thời lượng tối đa. " + GOODBYE
APOLOGY = "Xin lỗi, hệ thống đang gặp sự cố. Bạn vui lòng hỏi lại sau giây lát."

#: DTMF digit → (topic code, spoken name, words added to a question when the topic was chosen).
TOPIC_KEYS: dict[str, tuple[str, str, str]] = {
    "1": ("cu_tru", "cư trú", "cư trú"),
    "2": ("can_cuoc", "căn cước", "căn cước"),
    "3": ("giay_phep_lai_xe", "giấy phép lái xe", "giấy phép lái xe"),
    "4": ("dang_ky_xe", "đăng ký xe", "đăng ký xe"),
    "5": ("xuat_nhap_canh", "hộ chiếu", "hộ chiếu"),
}
TRANSFER_KEY = "0"
MENU_KEYS = ("9", "*")
REPEAT_KEY = "#"

ALL_PROMPTS = (GREETING, MENU, LISTEN_AGAIN, NOT_UNDERSTOOD, OFFER_MENU, NO_ANSWER, CONFIRM_AGAIN, TRANSFERRING,
               NO_TRANSFER, NOTHING_TO_REPEAT, STILL_THERE, GOODBYE, TIME_LIMIT, APOLOGY,
               *(TOPIC_CHOSEN.format(name=v[1]) for v in TOPIC_KEYS.values()))

#: Yes/no after "Bạn hỏi về … phải không?", on accent-folded words. Polite particles ("dạ", "vâng", "ừ")
#: open both answers ("dạ không", "vâng, không đúng", "ừ không" are no), so a no is looked for first: a
#: negation as the first word after the particles. A yes is a yes word first ("có", "đúng", "phải"…) not
#: followed by a negation, or particles alone ("dạ", "vâng ạ"). "Đúng không?", "có phải không?" are
#: questions and "dạ, cho tôi hỏi…" a new question: neither.
_PARTICLES = {"da", "vang", "u", "uh", "um", "uhm", "a", "ah", "thua", "o", "oi", "thi", "vay", "the"}
_AFFIRMING_PARTICLES = {"da", "vang", "u", "uh", "um", "uhm"}
_NEGATIONS = {"khong", "ko", "k", "hong", "hok", "khum", "sai", "chua", "nham"}
_YES_WORDS = {"co", "dung", "phai", "ok", "oke", "okay", "duoc", "chinh", "roi", "chuan", "yes"}
_QUESTION = re.compile(r"^(?:co )?(?:dung|phai)(?: vay| the)? (?:khong|ko|chua)\b")
_GOODBYE = re.compile(r"\b(?:tam biet|ket thuc|het roi|khong con (?:gi|cau hoi)|cup may|chao nhe)\b")


def _folded(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text or "")).split())


def _content(text: str) -> tuple[list[str], list[str]]:
    """(leading particles, the words after them) of the folded text."""
    words = _folded(text).split()
    i = 0
    while i < len(words) and words[i] in _PARTICLES:
        i += 1
    return words[:i], words[i:]


def is_no(text: str) -> bool:
    _, rest = _content(text)
    return bool(rest) and rest[0] in _NEGATIONS


def is_yes(text: str) -> bool:
    particles, rest = _content(text)
    if not rest:
        return any(p in _AFFIRMING_PARTICLES for p in particles)
    if rest[0] not in _YES_WORDS or _QUESTION.match(" ".join(rest)):
        return False
    return not any(w in _NEGATIONS for w in rest[1:3])  # "có, không phải": neither


def is_goodbye(text: str) -> bool:
    f = _folded(text)
    return bool(_GOODBYE.search(f)) and len(f.split()) <= 8
