"""Build the retrieval index of a corpus: units, embeddings, faiss, BM25, router, calibrated confidence.

``python -m assistant.qa.index_build`` (or ``assistant index build``) writes a new immutable version
folder under ``DATA_DIR/index/`` and then points ``CURRENT`` at it atomically, so a running engine
never sees a half-built index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from assistant.kb.loader import Corpus
from assistant.qa.calibration import Calibrator, LooSample, loo_report
from assistant.qa.dense import DenseIndex
from assistant.qa.embedder import Embedder
from assistant.qa.retrieval import UNIT_DEPTH, fuse, router_class
from assistant.qa.router import TopicRouter
from assistant.qa.schemas import Unit
from assistant.qa.sparse import LexicalIndex
from assistant.text import fold, has_diacritics, lexical_terms, normalize

INDEX_FORMAT = 1
CURRENT = "CURRENT"


def make_units(corpus: Corpus) -> list[Unit]:
    """Searchable texts: titles and example questions, each accented and folded."""
    units: list[Unit] = []
    group = 0

    def add(text: str, target: str, kind: str, topic: str | None, is_question: bool) -> None:
        nonlocal group
        units.append(Unit(text, target, kind, topic, group, is_question))
        if has_diacritics(text):
            units.append(Unit(fold(text), target, kind, topic, group, is_question))
        group += 1

    for e in corpus.served_entries:
        add(e.title, e.id, "answer", e.topic, False)
        for q in e.questions:
            add(q, e.id, "answer", e.topic, True)
    for g in corpus.redirects:
        add(g.title, f"redirect:{g.id}", "redirect", None, False)
        for q in g.questions:
            add(q, f"redirect:{g.id}", "redirect", None, True)
    for g in corpus.out_of_scope:
        for q in g.questions:
            add(q, f"oos:{g.id}", "out_of_scope", None, True)
    return units


class EmbeddingCache:
    """Vectors of normalised texts, keyed by model and text, so rebuilding after an edit is quick."""

    def __init__(self, path: Path, model_id: str):
        self.path = path
        self.model_id = model_id
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as data:
                self.vectors = {k: data[k] for k in data.files}

    def key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model_id}\0{text}".encode()).hexdigest()

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if self.key(t) not in self.vectors})
        if missing:
            for text, vec in zip(missing, embedder.embed(missing)):
                self.vectors[self.key(text)] = vec
            self.save()
        return np.stack([self.vectors[self.key(t)] for t in texts]).astype(np.float32)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, **self.vectors)
        os.replace(tmp.name, self.path)


def _loo_samples(units: list[Unit], vectors: np.ndarray, folded: list[str], lexical: LexicalIndex,
                 labels: list[str]) -> list[LooSample]:
    """Ask every example question as if unseen and record whether retrieval got it right."""
    queries = [i for i, u in enumerate(units) if u.is_question]
    groups = np.array([u.group for u in units])
    probs_for: dict[int, np.ndarray] = {}
    classes: list[str] = []
    splitter = GroupKFold(n_splits=5)
    for train_idx, test_idx in splitter.split(np.zeros(len(units)), groups=groups):
        router = TopicRouter().fit(vectors[train_idx], [folded[i] for i in train_idx],
                                   [labels[i] for i in train_idx])
        q_idx = [i for i in test_idx if units[i].is_question]
        if not q_idx:
            continue
        probs = router.predict_proba(vectors[q_idx], [folded[i] for i in q_idx])
        classes = router.classes
        for i, p in zip(q_idx, probs):
            probs_for[i] = p
    members: dict[int, set[int]] = {}
    for i, u in enumerate(units):
        members.setdefault(u.group, set()).add(i)
    sims = vectors[queries] @ vectors.T
    samples = []
    for row, qi in enumerate(queries):
        exclude = members[units[qi].group]
        s = sims[row].copy()
        s[list(exclude)] = -np.inf
        top = np.argpartition(-s, UNIT_DEPTH)[:UNIT_DEPTH]
        lex = lexical.scores(lexical_terms(units[qi].text))
        lex[list(exclude)] = 0
        ltop = np.argpartition(-lex, UNIT_DEPTH)[:UNIT_DEPTH]
        r = fuse(units, {int(i): float(s[i]) for i in top}, {int(i): float(lex[i]) for i in ltop if lex[i] > 0},
                 classes, probs_for[qi], len(folded[qi].split()))
        u = units[qi]
        top_c = r.candidates[0]
        if u.kind == "answer":
            # Right when the top entry is the one the question belongs to, or a sibling entry of the
            # same topic with the right one among the first three (shown as related questions).
            top3 = [c.target for c in r.candidates[:3]]
            correct = top_c.target == u.target or (top_c.topic == u.topic and u.target in top3)
        else:  # a declined question is right when retrieval lands on any target of the same kind
            correct = top_c.kind == u.kind
        samples.append(LooSample(r.features(), u.kind == "answer", correct, top_c.kind == "answer"))
    return samples


def build_index(corpus: Corpus, embedder: Embedder, index_root: Path, cache_dir: Path,
                *, log=print) -> Path:
    """Build and publish an index version for ``corpus``; returns its folder."""
    started = time.perf_counter()
    units = make_units(corpus)
    normalized = [normalize(u.text) for u in units]
    folded = [fold(u.text) for u in units]
    cache = EmbeddingCache(cache_dir / f"embeddings-{embedder.model_id}.npz", embedder.model_id)
    t0 = time.perf_counter()
    vectors = cache.embed(embedder, normalized)
    embed_s = time.perf_counter() - t0
    dense = DenseIndex.build(vectors)
    lexical = LexicalIndex.build([lexical_terms(u.text) for u in units])
    labels = [router_class(u.kind, u.topic) for u in units]
    t0 = time.perf_counter()
    samples = _loo_samples(units, vectors, folded, lexical, labels)
    calibrator = Calibrator().fit(samples)
    confidence = calibrator.predict(np.stack([s.features for s in samples]))
    report = loo_report(confidence, samples, calibrator.threshold)
    loo_s = time.perf_counter() - t0
    router = TopicRouter().fit(vectors, folded, labels)

    version = f"{corpus.version}-{embedder.model_id}-f{INDEX_FORMAT}"
    index_root.mkdir(parents=True, exist_ok=True)
    final = index_root / version
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=index_root))
    dense.save(tmp / "dense.faiss")
    lexical.save(tmp / "lexical")
    router.save(tmp / "router.joblib")
    import joblib

    joblib.dump(calibrator, tmp / "calibrator.joblib")
    (tmp / "units.json").write_text(json.dumps([u.__dict__ for u in units], ensure_ascii=False), encoding="utf-8")
    meta = {
        "version": version,
        "corpus_version": corpus.version,
        "model": embedder.model_id,
        "format": INDEX_FORMAT,
        "units": len(units),
        "entries": len(corpus.served_entries),
        "dense_kind": dense.kind,
        "threshold": calibrator.threshold,
        "leave_one_out": report,
        "timings_s": {"embed": round(embed_s, 2), "leave_one_out": round(loo_s, 2),
                      "total": round(time.perf_counter() - started, 2)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _point_current(index_root, version)
    log(f"index {version}: {len(units)} units, {meta['entries']} entries, threshold "
        f"{calibrator.threshold:.2f}, leave-one-out usable top answer {report['top_usable_in_scope']:.3f}, "
        f"built in {meta['timings_s']['total']} s")
    return final


def _point_current(index_root: Path, version: str) -> None:
    """Switch ``CURRENT`` atomically and durably: temp file (readable like any data file), fsync,
    rename, fsync of the folder (without it a power cut could bring the old pointer back)."""
    with tempfile.NamedTemporaryFile("w", dir=index_root, delete=False, prefix=".CURRENT-") as tmp:
        os.fchmod(tmp.fileno(), 0o644)  # NamedTemporaryFile makes it 0600
        tmp.write(version + "\n")
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, index_root / CURRENT)
    fd = os.open(index_root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current_version(index_root: Path) -> str | None:
    pointer = index_root / CURRENT
    if not pointer.exists():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    return version if (index_root / version / "meta.json").exists() else None


def main() -> None:
    from assistant.config import get_settings
    from assistant.kb.loader import load_corpus
    from assistant.qa.embedder import resolve_model_path

    s = get_settings()
    corpus = load_corpus(s.kb_dir)
    embedder = Embedder(resolve_model_path(s.embedding_model, s.models_path, provision=True),
                        prefix=s.query_prefix, threads=s.torch_threads)
    build_index(corpus, embedder, s.index_path, s.data_dir / "cache", log=lambda m: print(m, file=sys.stderr))


if __name__ == "__main__":
    main()
