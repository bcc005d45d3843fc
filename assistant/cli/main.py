"""``assistant`` command line: ask, chat, kb validate, index build, setup."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli.kb_commands import register as _register_kb_editor
from assistant.config import get_settings
from assistant.errors import AssistantError, CorpusError

app = typer.Typer(help="Hỏi đáp Công an: trợ lý thủ tục hành chính của Công an.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
kb_app = typer.Typer(help="Knowledge base (knowledge_base/).", no_args_is_help=True)
index_app = typer.Typer(help="Retrieval index.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(index_app, name="index")
_register_kb_editor(kb_app)


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _load_engine():
    from assistant.qa.engine import QAEngine

    return QAEngine.load(get_settings())


@app.command()
def ask(
    question: Annotated[Optional[str], typer.Argument(help="the question")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (one object per question)")] = False,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL file of {id, question}")] = None,
) -> None:
    """Answer one question, or every question of a JSONL file with --batch."""
    from assistant.cli.output import answer_record, read_batch, render_answer

    if batch is None and question is None:
        _err("Cần một câu hỏi, hoặc --batch FILE.jsonl")
        raise typer.Exit(2)
    if batch is not None and question is not None:
        _err("Dùng hoặc một câu hỏi, hoặc --batch, không dùng cả hai")
        raise typer.Exit(2)
    items = read_batch(batch) if batch is not None else [{"id": None, "question": question}]
    engine = _load_engine()
    for item in items:
        answer = engine.answer(item["question"]) if item.get("error") is None else None
        record = answer_record(item, answer)
        if as_json:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            typer.echo(render_answer(record))


@app.command()
def chat() -> None:
    """Interactive terminal chat (type a question, empty line or Ctrl-D to quit)."""
    from assistant.cli.output import answer_record, render_answer

    engine = _load_engine()
    typer.echo("Hỏi đáp Công an — gõ câu hỏi của bạn (Enter để gửi, dòng trống hoặc Ctrl-D để thoát).")
    while True:
        try:
            line = input("\nBạn: ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            break
        if not line.strip():
            break
        record = answer_record({"id": None, "question": line}, engine.answer(line))
        typer.echo(render_answer(record))


@kb_app.command("validate")
def kb_validate(
    kb_dir: Annotated[Optional[Path], typer.Option(help="knowledge base folder")] = None,
) -> None:
    """Check every entry, the document registry and the redirect files; print file:line: message."""
    from assistant.kb.loader import validate

    root = kb_dir or get_settings().kb_dir
    try:
        problems = validate(root)
    except CorpusError as exc:
        for p in exc.problems:
            _err(p)
        raise typer.Exit(1) from None
    errors = [p for p in problems if not p.warning]
    for p in problems:
        typer.echo(p.format(Path.cwd()))
    from assistant.kb.loader import load_corpus

    if errors:
        _err(f"{len(errors)} lỗi, {len(problems) - len(errors)} cảnh báo")
        raise typer.Exit(1)
    corpus = load_corpus(root, strict=False)
    typer.echo(f"OK: {len(corpus.entries)} mục, {len(corpus.documents)} văn bản, "
               f"{len(corpus.redirects)} nhóm chuyển cơ quan khác, {len(corpus.out_of_scope)} nhóm ngoài phạm vi; "
               f"{len(problems)} cảnh báo")


@index_app.command("build")
def index_build() -> None:
    """Build the retrieval index for the current corpus (provisions the model if needed) and pre-render
    the spoken answers of its entries for the phone line."""
    from assistant.kb.loader import load_corpus
    from assistant.qa.index_build import main as build_main
    from voice.cli import prerender_voice

    build_main()
    prerender_voice(get_settings(), load_corpus(get_settings().kb_dir))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
) -> None:
    """Run the chat API and web widget with uvicorn (models load once, at start-up)."""
    import uvicorn

    from assistant.api.main import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower(),
                proxy_headers=False, timeout_graceful_shutdown=10)


@app.command()
def setup() -> None:
    """Provision the embedding model offline, validate the corpus and build the index (idempotent)."""
    from assistant.qa.engine import QAEngine

    engine = QAEngine.load(get_settings())
    typer.echo(f"ready: index {engine.version}, {len(engine.corpus.served_entries)} entries")
    from voice.cli import provision_voice  # Whisper base assembled, spoken answers pre-rendered

    provision_voice(get_settings(), engine.corpus)


from assistant.cli.up import register as _register_up  # noqa: E402  (adds `up` and `actions`)

_register_up(app)

from voice.cli import register as _register_voice  # noqa: E402  (adds `call-sim`)

_register_voice(app)

from voice.sip.cli import register as _register_sip  # noqa: E402  (adds `sip`; pjsua2 loads only when it runs)

_register_sip(app)


def main() -> None:
    try:
        app()
    except AssistantError as exc:
        _err(f"lỗi: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
