from __future__ import annotations

import os
import stat

import yaml

from assistant.editor.entry_io import (current_umask, entry_data, entry_yaml, new_file_mode, validate_entry,
                                      write_atomic)
from assistant.kb.loader import load_corpus


def _corpus():
    from assistant.config import get_settings

    return load_corpus(get_settings().kb_dir)


def test_missing_legal_basis_is_invalid_with_vietnamese_field_errors():
    corpus = _corpus()
    data = entry_data(corpus.entries[0])
    data["legal_basis"] = []
    del data["title"]
    entry, errors = validate_entry(data, corpus.documents)
    assert entry is None
    by_field = {e["field"]: e["message"] for e in errors}
    assert by_field["legal_basis"].startswith("căn cứ pháp lý: cần ít nhất 1")
    assert by_field["title"] == "tiêu đề: bắt buộc phải có"


def test_unregistered_document_and_bad_article_are_field_errors():
    corpus = _corpus()
    data = entry_data(corpus.entries[0])
    data["legal_basis"] = [{"document": "99/2099/QH99", "article": "Điều 1"}, {"document": "68/2020/QH14", "article": "Dieu 5"}]
    _, errors = validate_entry(data, corpus.documents)
    fields = [e["field"] for e in errors]
    assert "legal_basis.1.article" in fields
    data["legal_basis"] = [{"document": "99/2099/QH99", "article": "Điều 1"}]
    _, errors = validate_entry(data, corpus.documents)
    assert errors == [{"field": "legal_basis.0.document",
                       "message": "căn cứ pháp lý 1, văn bản: 99/2099/QH99 chưa có trong sổ đăng ký văn bản (documents.yaml)"}]


def test_yaml_round_trip_keeps_fields_order_and_dates(tmp_path):
    corpus = _corpus()
    for entry in corpus.entries[:10]:
        data = entry_data(entry)
        text = entry_yaml(data)
        assert list(yaml.safe_load(text)) == list(data)
        again, errors = validate_entry(yaml.safe_load(text), corpus.documents)
        assert errors == [] and again == entry
    path = tmp_path / "a" / "x.yaml"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and [p.name for p in path.parent.iterdir()] == ["x.yaml"]


def test_atomic_writes_keep_the_file_mode_and_new_files_follow_the_umask(tmp_path):
    path = tmp_path / "x.yaml"
    old = os.umask(0o027)
    try:
        assert new_file_mode() == 0o640 and current_umask() == 0o027
        write_atomic(path, b"new")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640  # not mkstemp's 0600
    finally:
        os.umask(old)
    path.chmod(0o664)
    write_atomic(path, b"rewritten")
    assert stat.S_IMODE(path.stat().st_mode) == 0o664 and path.read_bytes() == b"rewritten"
