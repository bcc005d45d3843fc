"""The ``assistant call-sim`` command (registered by ``assistant.cli.main``) and the voice part of set-up."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Optional

import typer


def provision_voice(settings, corpus, echo=typer.echo) -> None:
    """Set-up: assemble Whisper base (checksummed) and pre-render spoken answers and prompts."""
    from voice.whisper_model import provision_whisper_base

    started = time.perf_counter()
    folder = provision_whisper_base(settings.models_path)
    echo(f"voice: Whisper base ready in {folder} ({time.perf_counter() - started:.1f} s)")
    prerender_voice(settings, corpus, echo)


def prerender_voice(settings, corpus, echo=typer.echo) -> dict[str, int] | None:
    """Pre-render every served entry's spoken answer and every prompt (set-up, ``assistant index build``).

    Never fails the command: what is not rendered now is synthesized on demand during calls.
    """
    from voice.prerender import prerender_answers
    from voice.tts import SynthesisError

    try:
        counts = prerender_answers(corpus, settings)
    except (SynthesisError, OSError) as exc:
        echo(f"voice: answers not pre-rendered ({exc}); calls will synthesize them on demand")
        return None
    echo(f"voice: spoken answers {counts}")
    return counts


def register(app: typer.Typer) -> None:
    @app.command("call-sim")
    def call_sim(
        audio: Annotated[Path, typer.Argument(help="WAV file: the caller's question")],
        url: Annotated[str, typer.Option("--url", help="server base URL, e.g. http://127.0.0.1:8000")],
        as_json: Annotated[bool, typer.Option("--json", help="last line: one JSON object")] = False,
        auth_token: Annotated[Optional[str], typer.Option(help="Twilio auth token (default ASSISTANT_TWILIO_AUTH_TOKEN)")] = None,
        public_url: Annotated[Optional[str], typer.Option(help="URL Twilio would call (default ASSISTANT_PUBLIC_URL, else --url)")] = None,
        calls_token: Annotated[Optional[str], typer.Option(help="token for GET /voice/calls (default ASSISTANT_CALLS_TOKEN)")] = None,
        fast: Annotated[bool, typer.Option(help="echo playback marks at once instead of in real time")] = False,
    ) -> None:
        """Play AUDIO.wav as a phone call through the Twilio webhook and Media Streams protocol."""
        from assistant.config import get_settings
        from voice.call_sim import main

        settings = get_settings()
        code = main(url, str(audio), as_json=as_json,
                    auth_token=auth_token or settings.twilio_auth_token or os.environ.get("TWILIO_AUTH_TOKEN"),
                    public_url=public_url or settings.public_url, calls_token=calls_token or settings.calls_token,
                    fast=fast, echo=typer.echo)
        raise typer.Exit(code)
