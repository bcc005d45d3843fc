"""Formatting of ``assistant ask`` output: the JSON contract and the readable terminal form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from assistant.kb.schema import TOPIC_NAMES
from assistant.qa.schemas import Answer


def read_batch(path: Path) -> list[dict[str, Any]]:
    """Read ``{id, question}`` objects; a bad line becomes an item carrying an ``error``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"không đọc được tệp {path}: {exc.strerror}") from exc
    items: list[dict[str, Any]] = []
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append({"id": None, "question": None, "error": f"dòng {n}: JSON không hợp lệ ({exc.msg})"})
            continue
        if not isinstance(obj, dict):
            items.append({"id": None, "question": None, "error": f"dòng {n}: cần một đối tượng JSON"})
            continue
        question = obj.get("question")
        error = None if isinstance(question, str) else f"dòng {n}: thiếu trường 'question' kiểu chuỗi"
        items.append({"id": obj.get("id"), "question": question, "error": error})
    return items


def answer_record(item: dict[str, Any], answer: Answer | None) -> dict[str, Any]:
    """One output object: ``id`` first, then the Answer fields."""
    if answer is None:
        return {"id": item.get("id"), "question": item.get("question"), "abstained": True, "topic": None,
                "answer": "", "spoken_answer": "", "citations": [], "results": [], "confidence": 0.0,
                "reason": "invalid_input", "error": item.get("error")}
    return {"id": item.get("id"), **answer.to_dict()}


def render_answer(record: dict[str, Any]) -> str:
    """Readable form for a terminal."""
    lines = []
    if record.get("error"):
        return f"Lỗi: {record['error']}"
    topic = record.get("topic")
    head = f"[{TOPIC_NAMES.get(topic, 'ngoài phạm vi') if topic else 'ngoài phạm vi'}"
    head += f" · độ tin cậy {record['confidence']:.2f}"
    head += " · chưa trả lời]" if record["abstained"] else "]"
    lines.append(head)
    if record.get("title") and not record["abstained"]:
        lines.append(f"## {record['title']}")
    lines.append(record["answer"])
    if record.get("suggestions") and not record["abstained"]:
        lines.append("\nCâu hỏi liên quan: " + " · ".join(record["suggestions"]))
    return "\n".join(lines)
