"""What the editor API and the CLI share: the published corpus, drafts, diffs, publishing, inbox, tokens.

Versions of an entry (optimistic locking): ``<hash of the published content>.<draft revision>``. A
client sends back the version it edited; when the entry was saved or published since, the version
differs and the save is refused (:class:`~assistant.editor.editor_store.Conflict`, HTTP 409). A draft
remembers the published text it was written against (its ``base``); a publish refuses drafts whose base
is no longer what is published (after a rollback, a hand edit, a ``git pull``: :class:`StaleDrafts`,
HTTP 409) until an editor re-opens and re-saves them (``rebase_needed`` in the entry).
"""

from __future__ import annotations

import difflib
import threading
from typing import Any

import numpy as np

from assistant.editor import currency, inbox, versions
from assistant.editor.auth import FailureThrottle, Principal, TokenRegistry, digest, new_token
from assistant.editor.editor_store import Conflict, EditorStore
from assistant.editor.entry_io import FIELDS, content_hash, entry_data, entry_yaml, validate_entry
from assistant.editor.publishing import Publisher, PublishInvalid, StaleDrafts
from assistant.kb.loader import Corpus, load_corpus
from assistant.text import fold


class InvalidEntry(Exception):
    """Field errors (``[{field, message}]``, Vietnamese)."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(errors[0]["message"] if errors else "mục không hợp lệ")
        self.errors = errors


class NotFound(KeyError):
    pass


class EditorService:
    def __init__(self, settings, store: EditorStore, *, embedder=None, on_live=None, prerender: bool = True):
        self.settings = settings
        self.store = store
        self.tokens = TokenRegistry.from_settings(settings)  # configured; admin-made ones are in the database
        self.throttle = FailureThrottle()
        self.publisher = Publisher(settings, store, embedder or self._default_embedder, on_live=on_live,
                                   prerender=prerender)
        self._corpus: tuple[tuple, Corpus] | None = None
        self._corpus_lock = threading.Lock()
        self._embedder = None

    def _default_embedder(self):
        if self._embedder is None:
            from assistant.qa.embedder import Embedder, resolve_model_path

            s = self.settings
            self._embedder = Embedder(resolve_model_path(s.embedding_model, s.models_path, provision=False),
                                      prefix=s.query_prefix, threads=s.torch_threads)
        return self._embedder

    def principal(self, token: str) -> Principal | None:
        """Who ``token`` belongs to: a configured token, or one an admin made (read from the database
        now, so a token revoked through any worker is refused by all of them at once)."""
        found = self.tokens.lookup(token)
        if found is not None:
            return found
        row = self.store.token(digest(token))
        return None if row is None else Principal(row["name"], row["role"])

    # ------------------------------------------------------------------ published corpus
    def published(self) -> Corpus:
        """``knowledge_base/`` as it is on disk (reloaded when a file changed; a stat per file)."""
        files = versions.corpus_files(self.settings.kb_dir)
        stats = {rel: p.stat() for rel, p in files.items()}
        key = tuple((rel, st.st_ino, st.st_mtime_ns, st.st_size) for rel, st in stats.items())
        with self._corpus_lock:
            if self._corpus is None or self._corpus[0] != key:
                self._corpus = (key, load_corpus(self.settings.kb_dir, strict=False))
            return self._corpus[1]

    def _published_data(self, entry_id: str) -> dict[str, Any] | None:
        corpus = self.published()
        try:
            return entry_data(corpus.entry(entry_id))
        except KeyError:
            return None

    def _version(self, entry_id: str, published: dict | None = None) -> str:
        published = self._published_data(entry_id) if published is None else published
        row = self.store.draft(entry_id, open_only=False)
        return f"{content_hash(published)}.{row['rev'] if row else 0}"

    # ------------------------------------------------------------------ entries
    def list_entries(self, *, q: str = "", topic: str | None = None, status: str | None = None,
                     changed: bool | None = None) -> list[dict[str, Any]]:
        corpus = self.published()
        drafts = {d["entry_id"]: d for d in self.store.open_drafts()}
        rows: dict[str, dict[str, Any]] = {e.id: entry_data(e) for e in corpus.entries}
        for entry_id, d in drafts.items():
            rows[entry_id] = d["data"]
        needle = fold(q).lower().strip()
        out = []
        for entry_id, data in sorted(rows.items()):
            entry = _safe_entry(corpus, entry_id)
            item = {"id": entry_id, "topic": data.get("topic"), "title": data.get("title"), "status": data.get("status"),
                    "reviewed_at": data.get("reviewed_at"), "published": entry is not None,
                    "has_draft": entry_id in drafts,
                    "draft_complete": drafts[entry_id]["complete"] if entry_id in drafts else None,
                    "updated_by": drafts[entry_id]["updated_by"] if entry_id in drafts else None,
                    "flags": [f.as_dict() for f in currency.flags(entry, corpus.documents)] if entry else []}
            item["stale_law"] = any(f["stale"] for f in item["flags"])
            if topic and item["topic"] != topic or status and item["status"] != status:
                continue
            if changed is not None and item["has_draft"] != changed:
                continue
            if needle:
                hay = fold(" ".join([entry_id, str(data.get("title", "")), " ".join(data.get("questions") or []),
                                     str(data.get("answer", ""))])).lower()
                if needle not in hay:
                    continue
            out.append(item)
        return out

    def get_entry(self, entry_id: str) -> dict[str, Any]:
        corpus = self.published()
        published = self._published_data(entry_id)
        draft = self.store.draft(entry_id)
        if published is None and draft is None:
            raise NotFound(entry_id)
        data = draft["data"] if draft else published
        out = {**data, "version": self._version(entry_id, published), "published": published is not None,
               "has_draft": draft is not None, "draft_complete": draft["complete"] if draft else None,
               "rebase_needed": bool(draft) and draft["base"] != content_hash(published),
               "updated_by": draft["updated_by"] if draft else None, "updated_at": draft["updated_at"] if draft else None}
        _, errors = validate_entry(data, corpus.documents)
        out["errors"] = errors
        entry = _safe_entry(corpus, entry_id)
        out["flags"] = [f.as_dict() for f in currency.flags(entry, corpus.documents)] if entry else []
        return out

    def check(self, data: dict[str, Any]) -> dict[str, Any]:
        """Live validation and legal-currency flags of an unsaved entry (nothing is stored)."""
        corpus = self.published()
        entry, errors = validate_entry(data, corpus.documents)
        flags = [f.as_dict() for f in currency.flags(entry, corpus.documents)] if entry else []
        return {"valid": entry is not None, "errors": errors, "flags": flags}

    def create(self, data: dict[str, Any], actor) -> dict[str, Any]:
        corpus = self.published()
        entry, errors = validate_entry(data, corpus.documents)
        if entry is None:
            raise InvalidEntry(errors)
        if self._published_data(entry.id) is not None:
            raise Conflict(entry.id)
        clean = entry_data(entry)
        self.store.save_draft(entry.id, clean, base="new", actor=actor.name, create_only=True)
        self.store.audit(actor, "create", entry_id=entry.id, diff=_diff(entry.id, None, clean))
        return self.get_entry(entry.id)

    def update(self, entry_id: str, data: dict[str, Any], version: str, actor) -> dict[str, Any]:
        corpus = self.published()
        published = self._published_data(entry_id)
        current = self.store.draft(entry_id)
        if published is None and current is None:
            raise NotFound(entry_id)
        data = {**data, "id": data.get("id", entry_id)}
        if data["id"] != entry_id:
            raise InvalidEntry([{"field": "id", "message": "mã mục: không đổi được mã của một mục đã có"}])
        entry, errors = validate_entry(data, corpus.documents)
        if entry is None:
            raise InvalidEntry(errors)
        hash_part, _, rev = (version or "").partition(".")
        if hash_part != content_hash(published) or not rev.isdigit():
            raise Conflict(entry_id)
        before = current["data"] if current else published
        clean = entry_data(entry)
        self.store.save_draft(entry_id, clean, base=content_hash(published), actor=actor.name, expect_rev=int(rev))
        self.store.audit(actor, "update", entry_id=entry_id, diff=_diff(entry_id, before, clean))
        return self.get_entry(entry_id)

    def discard(self, entry_id: str, actor, version: str | None = None) -> None:
        draft = self.store.draft(entry_id)
        if draft is None:
            raise NotFound(entry_id)
        if version and version != self._version(entry_id):
            raise Conflict(entry_id)
        if not self.store.close_draft(entry_id, "discarded", rev=draft["rev"]):
            raise Conflict(entry_id)
        self.store.audit(actor, "discard", entry_id=entry_id,
                         diff=_diff(entry_id, draft["data"], self._published_data(entry_id)))

    # ------------------------------------------------------------------ diffs
    def pending(self, entry_id: str | None = None) -> list[dict[str, Any]]:
        out = []
        for d in self.store.open_drafts():
            if entry_id and d["entry_id"] != entry_id:
                continue
            before = self._published_data(d["entry_id"])
            out.append({**d, "kind": "added" if before is None else "modified",
                        "diff": _diff(d["entry_id"], before, d["data"])})
        return out

    def version_diff(self, old: str, new: str) -> str:
        try:
            return versions.diff_versions(self.settings, old, new)
        except KeyError as exc:
            raise NotFound(exc.args[0]) from None

    # ------------------------------------------------------------------ publishing
    def publish(self, actor, *, message: str = "", entry_ids: list[str] | None = None, wait: bool = False):
        """Publish the complete drafts (or those of ``entry_ids``); they are read once the publish lock is
        held, and refused (:class:`StaleDrafts`) when written against a text no longer published."""

        def collect() -> list[dict[str, Any]]:
            drafts = [d for d in self.pending() if d["complete"] and (not entry_ids or d["entry_id"] in entry_ids)]
            if not drafts:
                raise NotFound("không có bản nháp hoàn chỉnh nào để xuất bản")
            stale = [d["entry_id"] for d in drafts if d["base"] != content_hash(self._published_data(d["entry_id"]))]
            if stale:
                raise StaleDrafts(stale)
            return drafts

        try:
            return self.publisher.publish(actor, collect, message=message, wait=wait)
        except PublishInvalid as exc:
            self.store.audit(actor, "publish_failed", detail={"stage": "validate", "message": message,
                                                              "entries": list(entry_ids or []),
                                                              "problems": exc.problems[:50]})
            raise
        except StaleDrafts as exc:
            self.store.audit(actor, "publish_failed", detail={"stage": "stale_drafts", "message": message,
                                                              "entries": exc.entries})
            raise

    def rollback(self, actor, version: str, *, wait: bool = False):
        return self.publisher.rollback(actor, version, wait=wait)

    # ------------------------------------------------------------------ inbox
    def inbox(self, engine) -> list[dict[str, Any]]:
        items = inbox.unanswered(self.store.engine)
        if not items:
            return []
        # Folded (unaccented) text: "dang ky nuoi cho" and "đăng ký nuôi chó" must land together.
        # In small batches, so citizens' questions get the embedding model in between.
        texts = [fold(i["question"]) for i in items]
        vectors = np.concatenate([engine.similar_vectors(texts[i:i + 32]) for i in range(0, len(texts), 32)])
        return inbox.group(items, vectors, self.settings.editor_inbox_similarity)

    def draft_from_inbox(self, message_ids: list[str], topic: str, actor) -> dict[str, Any]:
        """A new draft from inbox messages not handled yet; they are claimed first, so the same
        messages never become two drafts."""
        chosen = inbox.unanswered(self.store.engine, only=list(dict.fromkeys(message_ids)))
        if not chosen:
            raise NotFound("không tìm thấy câu hỏi nào trong hộp thư")
        taken = {e.id for e in self.published().entries} | {d["entry_id"] for d in self.store.open_drafts()}
        data = inbox.draft_from_questions([i["question"] for i in chosen], topic, taken)
        claimed = set(self.store.claim_inbox([i["message_id"] for i in chosen], data["id"]))
        if not claimed:
            raise NotFound("các câu hỏi này đã được xử lý")
        if len(claimed) < len(chosen):  # someone else took some of them meanwhile
            chosen = [i for i in chosen if i["message_id"] in claimed]
            data = inbox.draft_from_questions([i["question"] for i in chosen], topic, taken)
        try:
            self.store.save_draft(data["id"], data, base="new", actor=actor.name, complete=False, origin="inbox",
                                  create_only=True)
        except BaseException:
            self.store.release_inbox(sorted(claimed))
            raise
        self.store.audit(actor, "inbox_draft", entry_id=data["id"], diff=_diff(data["id"], None, data),
                         detail={"messages": len(chosen)})
        return self.get_entry(data["id"])

    def save_incomplete(self, entry_id: str, data: dict[str, Any], version: str, actor) -> dict[str, Any]:
        """Keep work on an inbox draft that does not validate yet (it is not published until it does)."""
        current = self.store.draft(entry_id)
        if current is None or current["complete"]:
            raise NotFound(entry_id)
        _, _, rev = (version or "").partition(".")
        clean = {k: data[k] for k in FIELDS if k in data}
        saved = {**clean, "id": entry_id}
        self.store.save_draft(entry_id, saved, base="new", actor=actor.name, complete=False,
                              expect_rev=int(rev) if rev.isdigit() else -1, origin="inbox")
        self.store.audit(actor, "update", entry_id=entry_id, diff=_diff(entry_id, current["data"], saved),
                         detail={"partial": True})
        return self.get_entry(entry_id)

    # ------------------------------------------------------------------ tokens (admin)
    def create_token(self, role: str, name: str, actor) -> str:
        token = new_token()
        self.store.add_token(digest(token), role, name, actor.name)
        self.store.audit(actor, "token_create", detail={"role": role, "name": name})
        return token

    def revoke_token(self, fingerprint: str, actor) -> None:
        if self.store.remove_token(fingerprint) is None:
            raise NotFound(fingerprint)
        self.store.audit(actor, "token_revoke", detail={"fingerprint": fingerprint})


def _safe_entry(corpus: Corpus, entry_id: str):
    try:
        return corpus.entry(entry_id)
    except KeyError:
        return None


def _diff(entry_id: str, before: dict | None, after: dict | None) -> str:
    topic = (after or before or {}).get("topic", "?")
    a = entry_yaml(before).splitlines(True) if before else []
    b = entry_yaml(after).splitlines(True) if after else []
    rel = f"entries/{topic}/{entry_id}.yaml"
    return "".join(difflib.unified_diff(a, b, f"a/{rel}" if before else "/dev/null", f"b/{rel}" if after else "/dev/null"))


def open_service(settings, **kwargs) -> EditorService:
    """A service on the app's database (migrated) for the CLI; finishes an interrupted publish first
    (only when no publish is running: :func:`assistant.editor.versions.recover`)."""
    store = EditorStore(settings.db_url)
    store.migrate()
    versions.recover(settings)
    return EditorService(settings, store, **kwargs)


__all__ = ["Conflict", "EditorService", "InvalidEntry", "NotFound", "StaleDrafts", "open_service"]
