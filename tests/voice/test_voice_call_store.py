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
    """Twilio may report "ringing" before the stream starts: one call, under the session's id."""
    store.record_status("CA9", "ringing", caller="+84912345678")
    store.start_call("tw-0123456789abcdef", channel="twilio", external_id="CA9", caller="+84912345678")
    store.add_turn("tw-0123456789abcdef", {"kind": "dtmf", "transcript": "9", "outcome": "menu"})
    store.record_status("CA9", "completed", duration_s=30)
    store.finish_call("tw-0123456789abcdef", "abandoned")
    [call] = store.list_calls()
    assert call["id"] == "tw-0123456789abcdef" and call["external_id"] == "CA9"
    assert call["provider_status"] == "completed" and call["duration_s"] == 30
    assert call["outcome"] == "abandoned" and len(call["turns"]) == 1 and call["caller"] == "[SĐT ***78]"


def test_a_second_stream_of_a_finished_call_gets_its_own_row(store):
    store.start_call("tw-1", channel="twilio", external_id="CA7")
    store.finish_call("tw-1", "answered")
    store.start_call("tw-2", channel="twilio", external_id="CA7")  # not adopted: that call is over
    assert sorted(c["id"] for c in store.list_calls()) == ["tw-1", "tw-2"]


@pytest.mark.parametrize(("caller", "stored"), [
    ("+84912345678", "[SĐT ***78]"),
    ("+14155550123", "[SĐT ***23]"),  # foreign numbers too
    ("0912 345 678", "[SĐT ***78]"),
    ("client:alice", "client:***"),
    ("sip:+14155550123@pbx.example.com", "[SĐT ***23]"),
    ("sip:alice@pbx.example.com", "sip:***"),
    ('"Nguyễn Văn A" <sip:0912345678@trunk.example.vn>;tag=a1', "[SĐT ***78]"),
    ("tel:+14155550123", "[SĐT ***23]"),
    ("anonymous", "***"),
    (None, None),
])
def test_the_caller_is_always_masked(store, caller, stored):
    store.start_call("c1", channel="twilio", external_id="CA1", caller=caller)
    store.record_status("CA2", "ringing", caller=caller)  # a status callback's From as well
    assert {c["external_id"]: c["caller"] for c in store.list_calls()} == {"CA1": stored, "CA2": stored}


def test_migration_creates_the_call_tables(store):
    tables = set(inspect(store.engine).get_table_names())
    assert {"calls", "call_turns"} <= tables
