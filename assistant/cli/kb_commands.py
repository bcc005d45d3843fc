"""``assistant kb`` commands of the editor workflow: drafts, diff, publish, rollback, versions, inbox, currency.

They act as a local ``admin`` (whoever can run the CLI on the server can edit ``data/``) and write the
same audit log as the API. A publish from the CLI builds the index here and switches
``data/index/CURRENT``; running servers and the Rasa action server follow the pointer by themselves.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Optional

import typer

from assistant.config import get_settings


def _who():
    from assistant.editor.auth import Principal

    return Principal(f"cli:{getpass.getuser()}", "admin")


def _service():
    from assistant.editor.service import open_service

    return open_service(get_settings(), prerender=True)


def _report(job) -> None:
    """The job's outcome; waits for its background work (pre-rendering the spoken answers) first, since
    a daemon thread would die with the command. Exit 1 when it failed."""
    for thread in job.background:
        typer.echo("đang tạo sẵn âm thanh cho các câu trả lời nói…", err=True)
        thread.join()
    typer.echo(f"{job.state}: {job.version} ({', '.join(job.entries) or job.message}) {job.timings_s}")
    for warning in job.warnings:
        typer.echo(f"cảnh báo: {warning}", err=True)
    if job.state != "live":
        typer.echo(job.error or "", err=True)
        raise typer.Exit(1)


def register(kb_app: typer.Typer) -> None:
    """Add the editor commands to ``assistant kb``."""

    @kb_app.command("drafts")
    def drafts(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Pending drafts (id, author, complete or not)."""
        items = _service().pending()
        if as_json:
            typer.echo(json.dumps([{k: d[k] for k in ("entry_id", "kind", "complete", "updated_by", "updated_at")}
                                   for d in items], ensure_ascii=False, indent=2))
            return
        for d in items:
            mark = "" if d["complete"] else "  (chưa hoàn chỉnh)"
            typer.echo(f"{d['entry_id']}  {d['kind']}  {d['updated_by']}  {d['updated_at']}{mark}")
        typer.echo(f"{len(items)} bản nháp")

    @kb_app.command("diff")
    def diff(entry_id: Annotated[Optional[str], typer.Argument(help="only this entry")] = None) -> None:
        """Unified diff of the pending drafts against knowledge_base/."""
        for d in _service().pending(entry_id):
            typer.echo(d["diff"])

    @kb_app.command("publish")
    def publish(message: Annotated[str, typer.Option("--message", "-m", help="what changed")] = "",
                entry: Annotated[Optional[list[str]], typer.Option("--entry", help="only these drafts")] = None) -> None:
        """Validate the corpus with the drafts, build its index, switch CURRENT (waits until done)."""
        from assistant.editor.publishing import Busy, PublishInvalid, StaleDrafts
        from assistant.editor.service import NotFound

        try:
            job = _service().publish(_who(), message=message, entry_ids=entry, wait=True)
        except PublishInvalid as exc:
            for p in exc.problems:
                typer.echo(p, err=True)
            raise typer.Exit(1) from None
        except StaleDrafts as exc:
            typer.echo(f"bản nháp dựa trên phiên bản cũ (nội dung đã xuất bản đã đổi), hãy mở lại và lưu lại: "
                       f"{', '.join(exc.entries)}", err=True)
            raise typer.Exit(1) from None
        except (Busy, NotFound) as exc:
            typer.echo(str(exc).strip("'"), err=True)
            raise typer.Exit(1) from None
        _report(job)

    @kb_app.command("rollback")
    def rollback(version: Annotated[str, typer.Argument(help="a version from `assistant kb versions`")]) -> None:
        """Serve an earlier published version again (knowledge_base/ is restored from its snapshot)."""
        from assistant.editor.publishing import Busy

        try:
            job = _service().rollback(_who(), version, wait=True)
        except (KeyError, ValueError):
            typer.echo(f"không có phiên bản {version} (xem `assistant kb versions`)", err=True)
            raise typer.Exit(1) from None
        except Busy as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        _report(job)

    @kb_app.command("versions")
    def list_versions(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Published versions, newest first (* = the one CURRENT names)."""
        from assistant.editor.versions import list_versions as listed

        items = listed(get_settings())
        if as_json:
            typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
            return
        for v in items:
            typer.echo(f"{'*' if v['current'] else ' '} {v['version']}  {v.get('published_at') or '-'}  "
                       f"{v.get('published_by') or '-'}  {v.get('message') or ''}")

    @kb_app.command("inbox")
    def inbox(limit: Annotated[int, typer.Option(help="groups to show")] = 20,
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Declined and thumbs-down questions, grouped by similarity."""
        from assistant.qa.engine import QAEngine

        groups = _service().inbox(QAEngine.load(get_settings(), build_if_stale=False))[:limit]
        if as_json:
            typer.echo(json.dumps(groups, ensure_ascii=False, indent=2))
            return
        for g in groups:
            typer.echo(f"[{g['count']}] {g['label']}  ({', '.join(f'{k} {v}' for k, v in g['reasons'].items())})")
            for q in g["examples"][1:]:
                typer.echo(f"      - {q}")

    @kb_app.command("audit")
    def audit(limit: Annotated[int, typer.Option()] = 20) -> None:
        """The audit log, newest first."""
        for e in _service().store.audit_events(limit=limit):
            typer.echo(f"{e['at']}  {e['actor']} ({e['role']})  {e['action']}  {e['entry_id'] or e['version'] or ''}")

    @kb_app.command("currency")
    def currency() -> None:
        """Entries citing superseded or expired law (stale: not reviewed since the successor took effect)."""
        from assistant.editor.currency import report
        from assistant.kb.loader import load_corpus

        corpus = load_corpus(get_settings().kb_dir, strict=False)
        found = report(corpus.entries, corpus.documents)
        for entry_id, flags in sorted(found.items()):
            for f in flags:
                typer.echo(f"{'CŨ ' if f.stale else '    '}{entry_id}: {f.message}")
        stale = sum(any(f.stale for f in fl) for fl in found.values())
        typer.echo(f"{len(found)} mục trích dẫn văn bản đã thay thế/hết hiệu lực; {stale} chưa rà soát lại")
        if stale:
            raise typer.Exit(1)
