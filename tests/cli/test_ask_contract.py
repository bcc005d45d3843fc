"""The ``assistant ask`` contract (ARCHITECTURE §4), exercised through the installed console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ASSISTANT = Path(sys.executable).with_name("assistant")
FIELDS = {"id", "question", "abstained", "topic", "answer", "spoken_answer", "citations", "results", "confidence"}


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(ASSISTANT), *args], cwd=REPO, capture_output=True, text=True, input=stdin,
                          timeout=600, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def check_record(obj: dict) -> None:
    assert FIELDS <= obj.keys()
    assert isinstance(obj["abstained"], bool)
    assert obj["topic"] is None or isinstance(obj["topic"], str)
    assert 0.0 <= obj["confidence"] <= 1.0
    assert len(obj["results"]) <= 5
    for r in obj["results"]:
        assert {"entry_id", "topic", "score", "citations"} <= r.keys()
        assert all({"document", "article"} <= c.keys() for c in r["citations"])
    for c in obj["citations"]:
        assert set(c) == {"document", "article"}


def test_single_question_prints_one_json_object():
    p = run("ask", "--json", "Làm thẻ căn cước cho con dưới 6 tuổi thế nào?")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    check_record(obj)
    assert obj["topic"] == "can_cuoc" and not obj["abstained"] and obj["citations"]


def test_batch_keeps_ids_and_order(tmp_path):
    items = [
        {"id": "a1", "question": "đổi giấy phép lái xe hết hạn ở đâu"},
        {"id": 7, "question": "Thời tiết Đà Nẵng mai thế nào?"},
        {"id": "a3", "question": "lam ho chieu mat bao lau"},
        {"id": "a4", "question": ""},
    ]
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
    p = run("ask", "--json", "--batch", str(f))
    assert p.returncode == 0, p.stderr
    out = [json.loads(line) for line in p.stdout.strip().splitlines()]
    assert [o["id"] for o in out] == ["a1", 7, "a3", "a4"]
    for o in out:
        check_record(o)
    assert out[0]["topic"] == "giay_phep_lai_xe"
    assert out[1]["abstained"] and out[1]["topic"] is None
    assert out[2]["topic"] == "xuat_nhap_canh"
    assert out[3]["abstained"]


def test_batch_with_a_broken_line_reports_it_and_goes_on(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "x", "question": "lam cccd o dau"}\nnot json\n{"id": "z"}\n', encoding="utf-8")
    p = run("ask", "--json", "--batch", str(f))
    assert p.returncode == 0, p.stderr
    out = [json.loads(line) for line in p.stdout.strip().splitlines()]
    assert len(out) == 3
    assert out[0]["topic"] == "can_cuoc"
    assert out[1]["error"] and out[2]["error"] and out[2]["id"] == "z"


def test_readable_output_shows_answer_and_legal_basis():
    p = run("ask", "Xin phiếu lý lịch tư pháp ở đâu?")
    assert p.returncode == 0, p.stderr
    assert "Căn cứ pháp lý" in p.stdout and "{" not in p.stdout.splitlines()[0]


def test_missing_batch_file_is_a_clear_error():
    p = run("ask", "--json", "--batch", "/nonexistent/q.jsonl")
    assert p.returncode != 0
    assert "Traceback" not in p.stderr and "q.jsonl" in p.stderr


def test_no_question_is_a_usage_error():
    p = run("ask", "--json")
    assert p.returncode == 2 and "Traceback" not in p.stderr
