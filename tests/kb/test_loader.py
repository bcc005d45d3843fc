"""Corpus validation: schema rules and line-located problems."""

import shutil
from pathlib import Path

import pytest
import yaml

from assistant.errors import CorpusError
from assistant.kb.loader import load_corpus, validate

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "knowledge_base" / "entries" / "cu_tru" / "cu_tru_dang_ky_tam_tru.yaml"


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A small valid knowledge base: the real registry, one real entry, tiny redirect files."""
    root = tmp_path / "kb"
    (root / "entries" / "cu_tru").mkdir(parents=True)
    shutil.copy(REPO / "knowledge_base" / "documents.yaml", root / "documents.yaml")
    shutil.copy(EXAMPLE, root / "entries" / "cu_tru" / EXAMPLE.name)
    group = {"id": "khai_sinh", "title": "Khai sinh", "agency": "UBND cấp xã", "reply": "Liên hệ UBND cấp xã.",
             "questions": ["làm giấy khai sinh ở đâu", "dang ky khai sinh", "khai sinh cho con"]}
    (root / "other_agencies.yaml").write_text(yaml.safe_dump({"groups": [group]}, allow_unicode=True), "utf-8")
    oos = {"id": "chao", "kind": "chitchat", "reply": "Chào bạn!", "questions": ["xin chào", "hello", "chao ban"]}
    (root / "out_of_scope.yaml").write_text(yaml.safe_dump({"groups": [oos]}, allow_unicode=True), "utf-8")
    return root


def _entry(kb: Path) -> Path:
    return kb / "entries" / "cu_tru" / EXAMPLE.name


def _messages(kb: Path) -> list[str]:
    return [p.format(kb) for p in validate(kb) if not p.warning]


def test_valid_corpus_loads(kb):
    corpus = load_corpus(kb)
    assert [e.id for e in corpus.entries] == ["cu_tru_dang_ky_tam_tru"]
    assert _messages(kb) == []
    assert len(corpus.version) == 16


def test_version_changes_with_content(kb):
    before = load_corpus(kb).version
    path = _entry(kb)
    path.write_text(path.read_text("utf-8").replace("03 ngày làm việc", "3 ngày làm việc"), "utf-8")
    assert load_corpus(kb).version != before


def test_missing_legal_basis_is_reported_with_its_line(kb):
    path = _entry(kb)
    lines = path.read_text("utf-8").splitlines()
    start = lines.index("legal_basis:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    path.write_text("\n".join(lines[:start] + ["legal_basis: []"] + lines[end:]) + "\n", "utf-8")
    msgs = _messages(kb)
    assert msgs == [f"entries/cu_tru/{path.name}:{start + 1}: legal_basis: List should have at least 1 item after validation, not 0"]


def test_unknown_document_and_bad_article(kb):
    path = _entry(kb)
    text = path.read_text("utf-8")
    text = text.replace("document: 75/2022/TT-BTC", "document: 99/2099/TT-BTC")
    text = text.replace("article: Điều 5\n", "article: Dieu 5\n")
    path.write_text(text, "utf-8")
    msgs = _messages(kb)
    lines = text.splitlines()
    bad_doc_line = lines.index("  - document: 99/2099/TT-BTC") + 1
    bad_article_line = lines.index("    article: Dieu 5") + 1
    assert any(m.startswith(f"entries/cu_tru/{path.name}:{bad_article_line}: legal_basis.2.article") for m in msgs)
    assert any(m.startswith(f"entries/cu_tru/{path.name}:{bad_doc_line}: văn bản 99/2099/TT-BTC chưa có") for m in msgs)


def test_yaml_syntax_error_has_line(kb):
    path = _entry(kb)
    path.write_text("id: x\ntopic: [cu_tru\n", "utf-8")
    (msg,) = _messages(kb)
    assert msg.startswith(f"entries/cu_tru/{path.name}:3: lỗi cú pháp YAML")


def test_too_few_unaccented_questions(kb):
    path = _entry(kb)
    data = yaml.safe_load(path.read_text("utf-8"))
    data["questions"] = [q for q in data["questions"] if any(ord(c) > 127 for c in q)]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    msgs = _messages(kb)
    assert any("không dấu" in m and ":4: questions" in m for m in msgs), msgs


def test_id_must_match_file_and_topic_folder(kb):
    path = _entry(kb)
    moved = kb / "entries" / "cu_tru" / "cu_tru_khac.yaml"
    path.rename(moved)
    msgs = _messages(kb)
    assert any("phải trùng tên tệp" in m and m.startswith("entries/cu_tru/cu_tru_khac.yaml:1:") for m in msgs)


def test_spoken_answer_rules(kb):
    path = _entry(kb)
    data = yaml.safe_load(path.read_text("utf-8"))
    data["spoken_answer"] = "Xem **tại đây** https://example.org"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    assert any("Markdown" in m for m in _messages(kb))


def test_needs_review_requires_note(kb):
    path = _entry(kb)
    path.write_text(path.read_text("utf-8").replace("status: published", "status: needs_review"), "utf-8")
    assert any("review_note" in m for m in _messages(kb))


def test_superseded_citation_is_a_warning(kb):
    path = _entry(kb)
    text = path.read_text("utf-8").replace("document: 154/2024/NĐ-CP", "document: 62/2021/NĐ-CP")
    path.write_text(text.replace("reviewed_at: 2026-11-25", "reviewed_at: 2024-06-01"), "utf-8")
    problems = validate(kb)
    assert [p for p in problems if not p.warning] == []
    (warning,) = [p for p in problems if p.warning]
    assert "62/2021/NĐ-CP" in warning.message and "154/2024/NĐ-CP" in warning.message
    corpus = load_corpus(kb)
    assert corpus.superseded_citations(corpus.entries[0]) == ["62/2021/NĐ-CP"]


def test_strict_load_raises_with_all_problems(kb):
    (kb / "entries" / "cu_tru" / "broken.yaml").write_text("id: broken\n", "utf-8")
    with pytest.raises(CorpusError) as exc:
        load_corpus(kb)
    assert all(":" in p for p in exc.value.problems)


def test_draft_entries_are_not_served(kb):
    path = _entry(kb)
    path.write_text(path.read_text("utf-8").replace("status: published", "status: draft"), "utf-8")
    corpus = load_corpus(kb)
    assert corpus.entries and corpus.served_entries == []


def test_the_real_corpus_is_valid():
    problems = [p.format(REPO) for p in validate(REPO / "knowledge_base") if not p.warning]
    assert problems == []


def test_citing_replaced_law_after_review_is_not_flagged(kb):
    path = _entry(kb)
    path.write_text(path.read_text("utf-8").replace("document: 154/2024/NĐ-CP", "document: 62/2021/NĐ-CP"), "utf-8")
    assert [p for p in validate(kb) if p.warning] == []
    corpus = load_corpus(kb)
    assert corpus.superseded_citations(corpus.entries[0]) == []
