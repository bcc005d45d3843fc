"""Call records: masking, turns in order, outcomes, status callbacks, migration 0002."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from assistant.store.call_store import CallStore


@pytest.fixture
def store(tmp_path):
    s = CallStore(f"sqlite:///{tmp_path / 'calls.db'}")
    s.migrate()
    yield s
    s.dispose()


def test_calls_and_turns_are_recorded_masked(store):
    store.start_call("c1", channel="twilio", external_id="CA1", caller="+84912345678")
    store.add_turn("c1", {"kind": "speech", "transcript": "số căn cước của tôi là 001203004567",
                          "answer": "Gọi 0912345678 nhé", "outcome": "answered", "topic": "can_cuoc",
                          "timings": {"first_audio_ms": 640.0}})
    store.add_turn("c1", {"kind": "dtmf", "transcript": "0", "outcome": "transfer"})
    store.finish_call("c1", "transferred", barge_ins=2)
    [call] = store.list_calls()
    assert call["caller"] == "[SĐT ***78]" and call["outcome"] == "transferred" and call["barge_ins"] == 2
    first, second = call["turns"]
    assert "001203004567" not in first["transcript"] and "***67" in first["transcript"]
    assert "0912345678" not in first["answer"] and first["timings"] == {"first_audio_ms": 640.0}
    assert (second["seq"], second["kind"], second["outcome"]) == (2, "dtmf", "transfer")
    assert store.get_call("c1")["id"] == "c1" and store.get_call("nope") is None
    with pytest.raises(ValueError):
        store.finish_call("c1", "exploded")


def test_status_callback_before_and_after_the_stream(store):
    store.record_status("CA9", "ringing")
    store.start_call("twilio-CA9", channel="twilio", external_id="CA9")
    store.record_status("CA9", "completed", duration_s=30)
    [call] = store.list_calls()
    assert call["provider_status"] == "completed" and call["duration_s"] == 30


def test_migration_creates_the_call_tables(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"calls", "call_turns"} <= tables
