"""IntentGuard: a lexical sanity check on DIET's intent, before the FallbackClassifier.

DIET is over-confident on text it has never seen: keyboard mashing or another agency's procedure can
come out as ``greet`` or ``ask_procedure`` at 0.9 and more. More training data only moves the problem
to the next unseen phrasing, so some intents get a check that does not depend on the classifier:

- a *closed* intent (``greet``) is kept only when the message has one of its keywords, every word of
  the message belongs to its vocabulary and no word comes three times or more ("chào anh ạ" and
  "alo alo" pass, "chào giá căn hộ", "xin xin xin" and "hi hi hi hi" do not);
- a *cued* intent (``ask_procedure``) is kept only when the message names something of our domain
  (a procedure, a topic, a domain word) or is a short follow-up made of action words and fillers
  ("cấp lại vì bị mất" after a clarifying question); "gia hạn gói cước 4G" names nothing of ours.

A message failing its check keeps its intent but with confidence ``cap`` (below the FallbackClassifier
threshold), so Rasa predicts ``nlu_fallback``, whose rule sends it to the knowledge engine: the engine
then answers, redirects to another agency or declines, with its own calibrated in-scope decision.

The vocabularies are the lookup tables of the training data (``nlu_data/data/nlu.yml``), read at
training time and stored with the model; the config names which tables serve which intent:

    - name: components.intent_guard.IntentGuard
      cap: 0.3
      closed: {greet: {keywords: greeting, vocabulary: [greeting, greeting_word]}}
      cued: {ask_procedure: {cues: [procedure, topic, domain_cue], follow_up: [action, follow_up_word]}}

Matching is on lower-cased text without diacritics (``đ`` → ``d``), on whole words; multi-word
entries match as phrases. Runs inside Rasa (Python 3.10): standard library only.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

VOCABULARY_FILE = "vocabularies.json"
MAX_FOLLOW_UP_WORDS = 8
MAX_REPEATS = 2  # "alo alo" greets; a word said three times or more in a greeting is keyboard mashing


def fold(text: str) -> str:
    """Lower case, no diacritics, ``đ`` → ``d``, punctuation → spaces, single spaces."""
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _phrases(elements: Iterable[str]) -> List[str]:
    return sorted({fold(e) for e in elements if fold(e)}, key=len, reverse=True)


def _contains(text: str, phrases: Iterable[str]) -> bool:
    padded = f" {text} "
    return any(f" {p} " in padded for p in phrases)


def _strip(text: str, phrases: Iterable[str]) -> str:
    """The words of ``text`` left after removing every phrase (longest first)."""
    padded = f" {text} "
    for p in phrases:
        while f" {p} " in padded:
            padded = padded.replace(f" {p} ", " ", 1)
    return padded.strip()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentGuard(GraphComponent):
    """Caps the confidence of closed and cued intents that fail their lexical check."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"cap": 0.3, "closed": {}, "cued": {}}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 tables: Optional[Dict[str, List[str]]] = None) -> None:
        self.config = config
        self._storage = model_storage
        self._resource = resource
        self.tables: Dict[str, List[str]] = tables or {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "IntentGuard":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "IntentGuard":
        with model_storage.read_from(resource) as folder:
            tables = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(config, model_storage, resource, tables)

    def _needed_tables(self) -> List[str]:
        names: List[str] = []
        for spec in self.config.get("closed", {}).values():
            names += [spec["keywords"], *spec["vocabulary"]]
        for spec in self.config.get("cued", {}).values():
            names += [*spec["cues"], *spec.get("follow_up", [])]
        return sorted(set(names))

    def train(self, training_data: TrainingData) -> Resource:
        available = {t["name"]: t["elements"] for t in training_data.lookup_tables}
        missing = [n for n in self._needed_tables() if n not in available]
        if missing:
            raise ValueError(f"IntentGuard: lookup tables missing from the training data: {missing}")
        self.tables = {n: _phrases(available[n]) for n in self._needed_tables()}
        with self._storage.write_to(self._resource) as folder:
            (folder / VOCABULARY_FILE).write_text(json.dumps(self.tables, ensure_ascii=False), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def _table(self, names: Iterable[str]) -> List[str]:
        return sorted({p for n in names for p in self.tables.get(n, [])}, key=len, reverse=True)

    def passes(self, intent: str, text: str) -> bool:
        """Whether ``text`` (raw) may keep ``intent`` at DIET's confidence."""
        folded = fold(text)
        closed = self.config.get("closed", {}).get(intent)
        if closed is not None:
            words = folded.split()
            return (max((words.count(w) for w in words), default=0) <= MAX_REPEATS  # "hi hi hi hi hi" is mashing
                    and _contains(folded, self.tables.get(closed["keywords"], []))
                    and not _strip(folded, self._table([closed["keywords"], *closed["vocabulary"]])))
        cued = self.config.get("cued", {}).get(intent)
        if cued is not None:
            if _contains(folded, self._table(cued["cues"])):
                return True
            follow_up = cued.get("follow_up", [])
            return (bool(follow_up) and len(folded.split()) <= MAX_FOLLOW_UP_WORDS
                    and _contains(folded, self.tables.get(follow_up[0], []))
                    and not _strip(folded, self._table(follow_up)))
        return True

    def process(self, messages: List[Message]) -> List[Message]:
        cap = float(self.config.get("cap", 0.3))
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get("name")
            confidence = intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0
            if not name or confidence <= cap or self.passes(name, message.get(TEXT) or ""):
                continue
            intent[PREDICTED_CONFIDENCE_KEY] = cap
            for ranked in message.get(INTENT_RANKING_KEY) or []:
                if ranked.get("name") == name:
                    ranked[PREDICTED_CONFIDENCE_KEY] = cap
        return messages
