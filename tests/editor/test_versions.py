from __future__ import annotations

import json
import stat

import numpy as np

from assistant.editor import inbox, versions
from assistant.editor.entry_io import new_dir_mode, validate_entry
from assistant.kb.loader import load_corpus


def test_snapshots_are_immutable_and_sync_makes_trees_equal(workspace):
    s = workspace
    snap = versions.make_snapshot(s, s.kb_dir, "v1-test", {"published_at": "2026-11-25T00:00:00Z"})
    assert versions.corpus_files(snap).keys() == versions.corpus_files(s.kb_dir).keys()
    assert all(not p.stat().st_mode & 0o222 for p in versions.corpus_files(snap).values())
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in versions.corpus_files(snap).values())
    assert stat.S_IMODE(snap.stat().st_mode) == new_dir_mode() != 0o700  # not mkdtemp's private mode
    assert not list(snap.parent.glob(".v1-test-*"))  # no temporary folder left behind
    entry = next(iter(sorted((s.kb_dir / "entries" / "cu_tru").glob("*.yaml"))))
    entry.write_text(entry.read_text(encoding="utf-8") + "# sửa\n", encoding="utf-8")
    (s.kb_dir / "entries" / "cu_tru" / "cu_tru_them.yaml").write_text("id: x\n", encoding="utf-8")
    again = versions.make_snapshot(s, s.kb_dir, "v1-test", {})
    assert again == snap and "# sửa" not in (snap / entry.relative_to(s.kb_dir)).read_text(encoding="utf-8")
    entry.chmod(0o640)  # a mode the operator chose is kept when publishing rewrites the file
    changed = versions.sync_tree(snap, s.kb_dir)
    assert sorted(changed) == sorted([entry.relative_to(s.kb_dir).as_posix(), "entries/cu_tru/cu_tru_them.yaml"])
    assert stat.S_IMODE(entry.stat().st_mode) == 0o640
    assert versions.changed_entry_ids(changed) == sorted([entry.stem, "cu_tru_them"])
    assert versions.sync_tree(snap, s.kb_dir) == []
    assert load_corpus(s.kb_dir).version == load_corpus(snap).version


def test_recover_puts_the_corpus_back_in_step_with_current(workspace):
    s = workspace
    current = versions.current_version(s.index_path)
    versions.make_snapshot(s, s.kb_dir, current, {"published_at": None})
    original = load_corpus(s.kb_dir).version
    victim = next(iter(sorted((s.kb_dir / "entries" / "can_cuoc").glob("*.yaml"))))
    victim.unlink()  # as if a publish died half-way through rewriting knowledge_base/
    versions.write_journal(s, "next-version", current, "publish")
    assert "hủy" in versions.recover(s)
    assert load_corpus(s.kb_dir).version == original
    assert versions.recover(s) is None
    listed = versions.list_versions(s)
    assert listed[0]["version"] == current and listed[0]["current"] and listed[0]["index_built"]
    assert json.loads((versions.snapshot_dir(s, current) / versions.META).read_text())["version"] == current


def test_clusters_group_close_vectors():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=16), rng.normal(size=16)
    vectors = np.stack([a, a + 0.01 * rng.normal(size=16), b, b + 0.01 * rng.normal(size=16), -a])
    labels = inbox.cluster(vectors, 0.9)
    assert labels[0] == labels[1] and labels[2] == labels[3] and len(set(labels)) == 3
    items = [{"message_id": f"m{i}", "question": f"câu {i}", "reason": "low_confidence", "topic": None,
              "at": f"2026-11-25T00:00:0{i}"} for i in range(5)]
    groups = inbox.group(items, vectors, 0.9)
    assert [g["count"] for g in groups] == [2, 2, 1]
    assert inbox.cluster(vectors[:1], 0.9) == [0]


def test_a_draft_from_questions_is_prefilled_but_not_yet_valid():
    from assistant.config import get_settings

    corpus = load_corpus(get_settings().kb_dir)
    data = inbox.draft_from_questions(["Nuôi chó có phải đăng ký không?", "Nuôi chó cảnh đăng ký ở đâu?"], "cu_tru",
                                      {"cu_tru_nuoi_cho_co_phai_dang_ky_khong"})
    assert data["id"] == "cu_tru_nuoi_cho_co_phai_dang_ky_khong_2"
    assert "nuoi cho co phai dang ky khong" in data["questions"] and len(data["questions"]) == 4
    entry, errors = validate_entry(data, corpus.documents)
    assert entry is None and {"answer", "legal_basis"} <= {e["field"] for e in errors}
