"""Processes other than the publishing one follow ``data/index/CURRENT``."""

from __future__ import annotations

from types import SimpleNamespace

from assistant.dialogue import rasa_actions
from assistant.editor import hot_reload
from assistant.editor.hot_reload import IndexFollower, swap_app_engine
from assistant.qa.index_build import _point_current


def test_the_rasa_action_server_follows_current(monkeypatch):
    calls, fake = [], object()
    monkeypatch.setattr("assistant.qa.engine.QAEngine.load", classmethod(lambda cls, settings, log=None: fake))
    monkeypatch.setattr(hot_reload, "follow_process", lambda s, get, set_: calls.append((get, set_)))
    monkeypatch.setattr(rasa_actions, "_engine", None)
    assert rasa_actions.get_engine() is fake
    get, set_ = calls[0]
    assert get() is fake
    other = object()
    set_(other)
    assert rasa_actions.get_engine() is other and get() is other


def test_a_follower_switches_only_when_the_pointer_names_another_version(workspace, monkeypatch):
    s = workspace
    holder = {"engine": SimpleNamespace(version="a", embedder="shared")}
    loaded = []

    def load(settings, version, embedder):
        loaded.append((version, embedder))
        return SimpleNamespace(version=version, embedder=embedder)

    monkeypatch.setattr(hot_reload, "load_version", load)
    (s.index_path / "b").mkdir()
    (s.index_path / "b" / "meta.json").write_text("{}")
    _point_current(s.index_path, "b")
    follower = IndexFollower(s, lambda: holder["engine"], lambda e: holder.update(engine=e), interval=0.05)
    assert follower.check() and holder["engine"].version == "b" and loaded == [("b", "shared")]
    assert not follower.check() and len(loaded) == 1  # unchanged pointer: a stat, nothing read
    (s.index_path / "missing").mkdir()
    _point_current(s.index_path, "missing")  # no meta.json: not a complete version, keep serving
    assert not follower.check() and holder["engine"].version == "b"


def test_swap_replaces_the_app_and_dialogue_engines():
    dialogue = SimpleNamespace(retrieval=SimpleNamespace(engine="old"))
    state = SimpleNamespace(engine="old", dialogue=dialogue)
    swap_app_engine(state, "new")
    assert state.engine == "new" and dialogue.retrieval.engine == "new"
