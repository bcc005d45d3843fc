"""ChatStore over real SQLite files: migrations, persistence, masking, validation, concurrency."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from assistant.store import ChatStore, FeedbackRecord, MessageRecord, SessionRecord
from assistant.store.migrate import MIGRATIONS_DIR, alembic_config, current_revision, head_revision
from assistant.store.models import Base

ID_NUMBER = "001099012345"  # 12-digit personal ID number
PHONE = "0912345678"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "assistant.db"


@pytest.fixture
def store(db_path: Path):
    s = ChatStore(_url(db_path))
    s.migrate()
    yield s
    s.dispose()


def _raw_dump(db_path: Path) -> str:
    """Every value of every table, read straight from the file (not through the store)."""
    con = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"'))
    finally:
        con.close()


# -- migrations ---------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(db_path: Path):
    store = ChatStore(_url(db_path))
    assert not db_path.exists()  # the constructor is cheap: no connection, no file
    store.migrate()
    sid = store.create_session()
    store.migrate()
    assert store.get_session(sid) is not None
    assert current_revision(store._engine) == head_revision() == "0004"
    store.dispose()


def test_migrated_schema_matches_the_models(store: ChatStore):
    with store._engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, Base.metadata) == []


def test_migration_names_constraints_by_the_convention(store: ChatStore, db_path: Path):
    store.dispose()
    con = sqlite3.connect(db_path)
    ddl = "\n".join(r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    con.close()
    for name in ("ck_messages_role", "ck_feedback_rating", "uq_messages_session_id_seq",
                 "fk_feedback_message_id_messages", "ix_messages_session_id", "ix_feedback_created_at"):
        assert name in ddl
    assert "ck_messages_ck_" not in ddl


def test_downgrade_and_upgrade_again(store: ChatStore, db_path: Path):
    command.downgrade(alembic_config(_url(db_path)), "base")
    assert current_revision(store._engine) is None
    store.migrate()
    assert current_revision(store._engine) == head_revision()


def test_concurrent_start_ups_migrate_once(db_path: Path):
    stores = [ChatStore(_url(db_path)) for _ in range(4)]
    barrier, errors = threading.Barrier(len(stores)), []

    def start(s: ChatStore) -> None:
        barrier.wait()
        try:
            s.migrate()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(current_revision(s._engine) == head_revision() for s in stores)
    for s in stores:
        s.dispose()


def test_migrations_folder_has_the_shipped_files():
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(store: ChatStore):
    with store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- sessions and messages ----------------------------------------------------------------------


def test_data_survives_a_restart(db_path: Path):
    first = ChatStore(_url(db_path))
    first.migrate()
    sid = first.create_session(channel="web")
    msg = first.add_message(sid, "user", "Làm căn cước ở đâu?")
    first.set_context(sid, {"last_entry": "can_cuoc.cap_moi"})
    first.set_handoff(sid)
    first.dispose()

    second = ChatStore(_url(db_path))
    second.migrate()
    session = second.get_session(sid)
    assert isinstance(session, SessionRecord)
    assert session.channel == "web" and session.handoff is True
    assert session.context == {"last_entry": "can_cuoc.cap_moi"}
    assert [m.id for m in session.messages] == [msg.id]
    assert second.get_message(msg.id) == msg
    second.dispose()


def test_messages_come_back_in_insertion_order(store: ChatStore):
    sid = store.create_session()
    texts = [f"tin nhắn {i}" for i in range(12)]
    for i, t in enumerate(texts):
        store.add_message(sid, "user" if i % 2 == 0 else "assistant", t)
    session = store.get_session(sid)
    assert session is not None
    assert [m.text for m in session.messages] == texts
    assert [m.role for m in session.messages][:2] == ["user", "assistant"]
    times = [m.created_at for m in session.messages]
    assert times == sorted(times)


def test_message_fields_round_trip(store: ChatStore):
    sid = store.create_session()
    cites = [{"document": "68/2020/QH14", "article": "Điều 22", "title": "Luật Cư trú"},
             {"document": "26/2023/QH15", "article": "Điều 19"}]
    msg = store.add_message(sid, "assistant", "Bạn cần nộp hồ sơ…", topic="cu_tru", entry_id="cu_tru.tam_tru",
                            abstained=False, reason="answered", confidence=0.87, citations=cites)
    assert isinstance(msg, MessageRecord)
    got = store.get_message(msg.id)
    assert got == msg
    assert got.citations[0] == cites[0]
    assert got.citations[1] == {**cites[1], "title": None}
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset().total_seconds() == 0
    user = store.add_message(sid, "user", "cảm ơn")
    assert store.get_message(user.id) == user
    assert (user.topic, user.abstained, user.confidence, user.citations) == (None, None, None, ())
    assert store.get_message("0" * 32) is None


def test_add_message_bumps_updated_at(store: ChatStore):
    sid = store.create_session()
    before = store.get_session(sid)
    msg = store.add_message(sid, "user", "xin chào")
    after = store.get_session(sid)
    assert after.updated_at == msg.created_at > before.updated_at
    assert after.created_at == before.created_at


def test_timestamps_are_utc_now(store: ChatStore):
    t0 = datetime.now(UTC)
    session = store.get_session(store.create_session())
    assert t0 <= session.created_at <= datetime.now(UTC)


def test_unknown_sessions(store: ChatStore):
    missing = "f" * 32
    assert store.get_session(missing) is None
    with pytest.raises(KeyError):
        store.add_message(missing, "user", "hello")
    with pytest.raises(KeyError):
        store.set_context(missing, {})
    with pytest.raises(KeyError):
        store.set_handoff(missing)
    with pytest.raises(KeyError):
        store.get_context(missing)


def test_invalid_role(store: ChatStore):
    sid = store.create_session()
    with pytest.raises(ValueError):
        store.add_message(sid, "officer", "…")
    assert store.get_session(sid).messages == ()


def test_context_round_trip(store: ChatStore):
    sid = store.create_session()
    assert store.get_context(sid) == {}
    ctx = {"last_topic": "xuat_nhap_canh", "last_entry": "xnc.ho_chieu", "turns": 3,
           "pending": {"slots": ["tỉnh", "quận"], "confirmed": False}, "score": 0.5}
    store.set_context(sid, ctx)
    assert store.get_context(sid) == ctx
    assert store.get_session(sid).context == ctx
    store.set_context(sid, {})
    assert store.get_context(sid) == {}
    with pytest.raises(TypeError):
        store.set_context(sid, {"bad": object()})


def test_handoff_flag(store: ChatStore):
    sid = store.create_session()
    assert store.get_session(sid).handoff is False
    store.set_handoff(sid)
    assert store.get_session(sid).handoff is True
    store.set_handoff(sid, False)
    assert store.get_session(sid).handoff is False


# -- personal data ------------------------------------------------------------------------------


def test_personal_numbers_never_reach_the_database(store: ChatStore, db_path: Path):
    sid = store.create_session()
    user = store.add_message(sid, "user", f"CCCD của tôi là {ID_NUMBER}, gọi {PHONE} giúp")
    bot = store.add_message(sid, "assistant", f"Chúng tôi sẽ không gọi {PHONE}.")
    store.set_context(sid, {"last_question": f"số {ID_NUMBER}"})
    fb = store.add_feedback(bot.id, -1, f"Sai rồi, số tôi là {ID_NUMBER}, điện thoại {PHONE}")

    for stored in (user.text, bot.text, fb.comment, store.get_message(user.id).text,
                   store.recent_feedback()[0].comment, str(store.get_context(sid))):
        assert ID_NUMBER not in stored and PHONE not in stored
    assert "***45" in user.text and "***78" in user.text  # masked, last two digits kept
    store.dispose()
    raw = _raw_dump(db_path)
    assert ID_NUMBER not in raw and PHONE not in raw
    assert "Sai rồi" in raw


# -- feedback -----------------------------------------------------------------------------------


def test_feedback_round_trip_and_order(store: ChatStore):
    sid = store.create_session()
    msg = store.add_message(sid, "assistant", "Trả lời")
    first = store.add_feedback(msg.id, 1)
    second = store.add_feedback(msg.id, -1, "  chưa rõ  ")
    blank = store.add_feedback(msg.id, 1, "   ")
    assert isinstance(first, FeedbackRecord) and first.comment is None
    assert second.comment == "chưa rõ" and blank.comment is None
    assert store.recent_feedback() == [blank, second, first]
    assert store.recent_feedback(limit=1) == [blank]
    with pytest.raises(ValueError):
        store.recent_feedback(limit=0)


def test_last_answer_skips_greetings_prompts_and_thanks(store: ChatStore):
    sid = store.create_session()
    assert store.last_answer_id(sid) is None
    store.add_message(sid, "user", "xin chào")
    store.add_message(sid, "assistant", "Chào bạn", reason="dialogue")
    store.add_message(sid, "user", "làm hộ chiếu ở đâu")
    answer = store.add_message(sid, "assistant", "Ở Công an tỉnh", reason="answered", entry_id="ho-chieu")
    store.add_message(sid, "user", "sai rồi")
    ask = store.add_message(sid, "assistant", "Điểm nào chưa đúng?", reason="dialogue")
    store.add_message(sid, "user", "thiếu phí")
    thanks = store.add_message(sid, "assistant", "Cảm ơn bạn đã góp ý", reason="feedback")
    assert store.last_answer_id(sid) == answer.id
    assert store.last_answer_id(sid, before=thanks.id) == answer.id
    assert store.last_answer_id(sid, before=answer.id) is None
    assert store.last_answer_id(sid, before=ask.id) == answer.id
    assert store.last_answer_id(store.create_session()) is None


def test_feedback_on_a_missing_message(store: ChatStore):
    with pytest.raises(KeyError):
        store.add_feedback("0" * 32, 1)
    assert store.recent_feedback() == []


@pytest.mark.parametrize("rating", [0, 2, -2, True, 1.0, "1", None])
def test_feedback_bad_rating(store: ChatStore, rating):
    sid = store.create_session()
    msg = store.add_message(sid, "assistant", "Trả lời")
    with pytest.raises(ValueError):
        store.add_feedback(msg.id, rating)
    assert store.recent_feedback() == []


def test_feedback_comment_length(store: ChatStore):
    msg = store.add_message(store.create_session(), "assistant", "Trả lời")
    with pytest.raises(ValueError):
        store.add_feedback(msg.id, 1, "x" * 2001)
    # Masking placeholders are longer than the numbers: the stored comment is still ≤ 2000.
    fb = store.add_feedback(msg.id, -1, (ID_NUMBER + " ") * 153)
    assert len(fb.comment) <= 2000 and ID_NUMBER not in fb.comment


# -- concurrency and health ---------------------------------------------------------------------


def _hammer(stores: list[ChatStore], sid: str, threads: int, per_thread: int) -> list[BaseException]:
    barrier, errors = threading.Barrier(threads), []

    def work(n: int) -> None:
        s = stores[n % len(stores)]
        barrier.wait()
        try:
            for j in range(per_thread):
                s.add_message(sid, "user" if j % 2 == 0 else "assistant", f"t{n}-m{j}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def _assert_complete(store: ChatStore, sid: str, threads: int, per_thread: int) -> None:
    messages = store.get_session(sid).messages
    assert len(messages) == threads * per_thread
    assert {m.text for m in messages} == {f"t{n}-m{j}" for n in range(threads) for j in range(per_thread)}
    for n in range(threads):  # each thread's messages keep their order
        mine = [m.text for m in messages if m.text.startswith(f"t{n}-")]
        assert mine == [f"t{n}-m{j}" for j in range(per_thread)]


def test_concurrent_writes_lose_nothing(store: ChatStore):
    sid = store.create_session()
    assert _hammer([store], sid, threads=8, per_thread=25) == []
    _assert_complete(store, sid, 8, 25)


def test_concurrent_writes_from_two_stores(store: ChatStore, db_path: Path):
    other = ChatStore(_url(db_path))  # e.g. a second worker process on the same file
    sid = store.create_session()
    try:
        assert _hammer([store, other], sid, threads=8, per_thread=10) == []
    finally:
        other.dispose()
    _assert_complete(store, sid, 8, 10)


def test_concurrent_feedback_and_messages(store: ChatStore):
    # add_feedback reads before it writes: without BEGIN IMMEDIATE this fails with "database is locked".
    sid = store.create_session()
    answer = store.add_message(sid, "assistant", "Trả lời")
    barrier, errors = threading.Barrier(8), []

    def work(n: int) -> None:
        barrier.wait()
        try:
            for j in range(20):
                if j % 2:
                    store.add_feedback(answer.id, 1, f"t{n}-f{j}")
                else:
                    store.add_message(sid, "user", f"t{n}-m{j}")
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    assert len(store.recent_feedback(limit=1000)) == 80
    assert len(store.get_session(sid).messages) == 81


def test_ping(store: ChatStore, tmp_path: Path):
    assert store.ping() is True
    broken = ChatStore(_url(tmp_path / "no" / "such" / "dir" / "x.db"))
    assert broken.ping() is False
    broken.dispose()


def test_context_manager_and_repr(db_path: Path):
    with ChatStore(_url(db_path)) as s:
        s.migrate()
        assert "assistant.db" in repr(s)
        assert s.ping()


def test_session_without_messages_reads_only_the_session(store):
    sid = store.create_session()
    store.add_message(sid, "user", "xin chào")
    store.set_handoff(sid)
    light = store.get_session(sid, with_messages=False)
    assert light.id == sid and light.handoff is True and light.messages == ()
    assert len(store.get_session(sid).messages) == 1
