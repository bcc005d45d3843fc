"""QAEngine: the one entry point of the knowledge engine.

``QAEngine.load(settings)`` loads the corpus, the embedding model and the current index once;
``engine.answer(question)`` returns an :class:`Answer` (answer with citations, a clarifying
low-confidence reply, a redirect to another agency, or a polite decline), never raising on bad text.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import joblib
import numpy as np

from assistant.config import Settings
from assistant.errors import IndexNotBuiltError
from assistant.kb.loader import Corpus, load_corpus
from assistant.qa import replies
from assistant.qa.calibration import Calibrator
from assistant.qa.dense import DenseIndex
from assistant.qa.embedder import Embedder, resolve_model_path
from assistant.qa.index_build import build_index, current_version
from assistant.qa.retrieval import HybridRetriever, Retrieval
from assistant.qa.router import TopicRouter
from assistant.qa.schemas import Answer, Citation, ResultItem, Unit
from assistant.qa.sparse import LexicalIndex
from assistant.text import clean, fold, has_letters, lexical_terms, normalize

TOP_RESULTS = 5
SUGGESTIONS = 3


class QAEngine:
    """Retrieval-augmented answers over the curated corpus."""

    def __init__(self, corpus: Corpus, embedder: Embedder, index_dir: Path, *, max_chars: int = 2000):
        self.corpus = corpus
        self.embedder = embedder
        self.index_dir = index_dir
        self.max_chars = max_chars
        self.meta = json.loads((index_dir / "meta.json").read_text(encoding="utf-8"))
        units = [Unit(**u) for u in json.loads((index_dir / "units.json").read_text(encoding="utf-8"))]
        self.retriever = HybridRetriever(units, DenseIndex.load(index_dir / "dense.faiss"),
                                         LexicalIndex.load(index_dir / "lexical"),
                                         TopicRouter.load(index_dir / "router.joblib"))
        calibrator = joblib.load(index_dir / "calibrator.joblib")
        if not isinstance(calibrator, Calibrator):
            raise IndexNotBuiltError(f"{index_dir} holds no calibrator")
        self.calibrator = calibrator
        self._entries = {e.id: e for e in corpus.served_entries}
        self._redirects = {f"redirect:{g.id}": g for g in corpus.redirects}
        self._oos = {f"oos:{g.id}": g for g in corpus.out_of_scope}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, settings: Settings, *, build_if_stale: bool = True, log=None) -> QAEngine:
        """Load corpus, model and index; rebuild the index first when it is missing or stale."""
        log = log or (lambda m: print(m, file=sys.stderr))
        corpus = load_corpus(settings.kb_dir)
        model_path = resolve_model_path(settings.embedding_model, settings.models_path, provision=build_if_stale)
        embedder = Embedder(model_path, prefix=settings.query_prefix, threads=settings.torch_threads)
        root = settings.index_path
        version = current_version(root)
        expected_prefix = f"{corpus.version}-{embedder.model_id}-"
        if version is None or not version.startswith(expected_prefix):
            if not build_if_stale:
                raise IndexNotBuiltError(f"no index for corpus {corpus.version} in {root}: run `assistant index build`")
            log(f"index missing or stale (corpus {corpus.version}); building it now…")
            build_index(corpus, embedder, root, settings.data_dir / "cache", log=log)
            version = current_version(root)
        engine = cls(corpus, embedder, root / str(version), max_chars=settings.max_question_chars)
        embedder.warm_up()
        return engine

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    # ------------------------------------------------------------------ answering
    def _invalid(self, question: str, text: str) -> Answer:
        return Answer(question=question, abstained=True, topic=None, answer=text, spoken_answer=text,
                      citations=[], results=[], confidence=0.0, reason="invalid_input")

    def check_input(self, question: object) -> str | None:
        """A Vietnamese message explaining why a question cannot be processed, or None."""
        if not isinstance(question, str):
            return replies.BINARY
        if "\x00" in question or "\ufffd" in question:
            return replies.BINARY
        if len(question) > self.max_chars:
            return replies.TOO_LONG.format(limit=self.max_chars)
        if not clean(question):
            return replies.EMPTY
        if not has_letters(question):
            return replies.NO_LETTERS
        return None

    def retrieve(self, question: str) -> Retrieval:
        norm = normalize(question)
        folded = fold(question)
        vector = self.embedder.embed([norm or folded])[0]
        return self.retriever.retrieve(vector, folded, lexical_terms(question))

    def answer(self, question: str) -> Answer:
        problem = self.check_input(question)
        if problem:
            return self._invalid(question if isinstance(question, str) else repr(question)[:200], problem)
        with self._lock:  # torch and faiss share threads; one question at a time keeps latency flat
            retrieval = self.retrieve(question)
            confidence = float(self.calibrator.predict(retrieval.features())[0])
        return self._decide(question, retrieval, confidence)

    def _results(self, retrieval: Retrieval) -> list[ResultItem]:
        out = []
        for c in retrieval.candidates:
            if c.kind != "answer":
                continue
            e = self._entries[c.target]
            out.append(ResultItem(e.id, e.topic, round(c.fused, 4),
                                  [Citation(lb.document, lb.article) for lb in e.legal_basis]))
            if len(out) == TOP_RESULTS:
                break
        return out

    def _decide(self, question: str, retrieval: Retrieval, confidence: float) -> Answer:
        results = self._results(retrieval)
        top = retrieval.candidates[0] if retrieval.candidates else None
        threshold = self.calibrator.threshold
        base = dict(question=question, results=results, confidence=round(confidence, 4))
        if top is not None and top.kind == "answer" and confidence >= threshold:
            e = self._entries[top.target]
            stale = self.corpus.superseded_citations(e)
            return Answer(**base, abstained=False, topic=e.topic, answer=replies.answer_text(e, self.corpus.documents, stale),
                          spoken_answer=e.spoken_answer, citations=[Citation(lb.document, lb.article) for lb in e.legal_basis],
                          entry_id=e.id, reason="answered", title=e.title,
                          suggestions=[self._entries[r.entry_id].title for r in results[1:1 + SUGGESTIONS]])
        if top is not None and top.kind == "redirect" and retrieval.p_in_scope < 0.5:
            g = self._redirects[top.target]
            text, spoken = replies.redirect(g.reply, g.agency)
            return Answer(**base, abstained=True, topic=None, answer=text, spoken_answer=spoken, citations=[],
                          reason="other_agency", title=g.title, handoff_offered=False)
        if top is not None and top.kind == "answer" or retrieval.p_in_scope >= 0.5:
            topic = retrieval.best_topic() if retrieval.p_in_scope >= 0.5 else None
            suggestions = [self._entries[r.entry_id].title for r in results[:SUGGESTIONS]
                           if topic is None or r.topic == topic]
            text, spoken = replies.low_confidence(suggestions, topic)
            return Answer(**base, abstained=True, topic=topic, answer=text, spoken_answer=spoken, citations=[],
                          reason="low_confidence", suggestions=suggestions, handoff_offered=True)
        group = self._oos.get(top.target) if top is not None else None
        text, spoken = replies.out_of_scope(group.reply if group else None)
        return Answer(**base, abstained=True, topic=None, answer=text, spoken_answer=spoken, citations=[],
                      reason="out_of_scope", handoff_offered=group is None or group.kind != "chitchat")

    def answer_many(self, questions: list[str]) -> list[Answer]:
        return [self.answer(q) for q in questions]

    def similar_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of normalised texts (used to group unanswered questions)."""
        return self.embedder.embed([normalize(t) for t in texts])
