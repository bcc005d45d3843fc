"""Storage of the text chat channel: sessions, messages, dialogue context and feedback.

``ChatStore(url)`` over SQLAlchemy 2.x (SQLite by default, PostgreSQL works), schema managed by the
Alembic migrations shipped in ``assistant/store/migrations`` (``ChatStore.migrate()``).
"""

from assistant.store.chat_store import ChatStore
from assistant.store.records import FeedbackRecord, MessageRecord, SessionRecord

__all__ = ["ChatStore", "FeedbackRecord", "MessageRecord", "SessionRecord"]
