"""Wording of the replies the engine composes (answers with legal basis, declines, redirects)."""

from __future__ import annotations

from assistant.kb.schema import TOPIC_NAMES, Entry, LegalDocument

HANDOFF = "Nếu cần, bạn có thể đề nghị gặp cán bộ để được hướng dẫn trực tiếp."
HANDOFF_SPOKEN = "Nếu cần, bạn hãy nói gặp cán bộ hoặc bấm phím không để được chuyển máy."
SCOPE = ("Mình hỗ trợ các thủ tục do Công an giải quyết: cư trú (thường trú, tạm trú, lưu trú, tạm vắng), "
         "căn cước và định danh điện tử VNeID, giấy phép lái xe, đăng ký xe, hộ chiếu và xuất nhập cảnh, "
         "phiếu lý lịch tư pháp.")

EMPTY = "Bạn chưa nhập câu hỏi. Hãy cho mình biết bạn cần hỏi về thủ tục nào nhé."
NO_LETTERS = "Mình chưa hiểu tin nhắn này. Bạn hãy viết câu hỏi bằng chữ, ví dụ: “Làm thẻ căn cước ở đâu?”."
TOO_LONG = "Câu hỏi dài quá {limit} ký tự. Bạn hãy tóm tắt điều cần hỏi trong vài câu ngắn nhé."
BINARY = "Tin nhắn có ký tự không đọc được. Bạn hãy gõ lại câu hỏi bằng chữ nhé."


def document_label(number: str, documents: dict[str, LegalDocument]) -> str:
    doc = documents.get(number)
    if doc is None:
        return number
    return f"{doc.title} số {number}" if doc.type == "Luật" else f"{doc.type} {number}"


def legal_basis_line(entry: Entry, documents: dict[str, LegalDocument]) -> str:
    """``Căn cứ pháp lý: Điều 27, Điều 28 Luật Cư trú số 68/2020/QH14; …``"""
    by_doc: dict[str, list[str]] = {}
    for lb in entry.legal_basis:
        articles = by_doc.setdefault(lb.document, [])
        if lb.article not in articles:
            articles.append(lb.article)
    parts = [f"{', '.join(arts)} {document_label(doc, documents)}" for doc, arts in by_doc.items()]
    return "Căn cứ pháp lý: " + "; ".join(parts) + "."


def answer_text(entry: Entry, documents: dict[str, LegalDocument], stale: list[str]) -> str:
    text = entry.answer.rstrip() + "\n\n" + legal_basis_line(entry, documents)
    if stale:
        text += ("\n\n_Lưu ý: câu trả lời có trích dẫn văn bản đã được thay thế ("
                 + ", ".join(stale) + "); nội dung đang được rà soát lại._")
    if entry.status.value == "needs_review":
        text += "\n\n_Thông tin này đang được cán bộ rà soát lại; bạn nên kiểm tra với Công an cấp xã._"
    return text


def low_confidence(suggestions: list[str], topic: str | None) -> tuple[str, str]:
    where = f" về {TOPIC_NAMES[topic].lower()}" if topic else ""
    lines = [f"Mình chưa chắc đã hiểu đúng câu hỏi của bạn{where}."]
    if suggestions:
        lines.append("Có phải bạn muốn hỏi một trong các nội dung sau?")
        lines.extend(f"- {s}" for s in suggestions)
    lines.append("Bạn có thể hỏi cụ thể hơn. " + HANDOFF)
    spoken = f"Xin lỗi, mình chưa chắc đã hiểu đúng câu hỏi của bạn{where}. "
    if suggestions:
        spoken += f"Có phải bạn hỏi về {suggestions[0].lower()} không? "
    spoken += HANDOFF_SPOKEN
    return "\n".join(lines), spoken


def redirect(reply: str, agency: str) -> tuple[str, str]:
    text = f"{reply.strip()}\n\n{SCOPE}"
    spoken = reply.strip()
    return text, spoken


def out_of_scope(reply: str | None) -> tuple[str, str]:
    if reply:
        return reply.strip(), reply.strip()
    text = "Xin lỗi, câu hỏi này nằm ngoài phạm vi mình hỗ trợ. " + SCOPE + " " + HANDOFF
    return text, "Xin lỗi, câu hỏi này nằm ngoài phạm vi mình hỗ trợ. " + HANDOFF_SPOKEN
