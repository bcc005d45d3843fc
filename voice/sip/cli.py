"""``assistant sip``: run the SIP agent (registered on the ``assistant`` command by ``register``)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer


def sip(
    host: Annotated[Optional[str], typer.Option(help="address to bind (default ASSISTANT_SIP_HOST)")] = None,
    port: Annotated[Optional[int], typer.Option(help="SIP port, UDP and TCP (default ASSISTANT_SIP_PORT)")] = None,
    rtp_port: Annotated[Optional[int], typer.Option("--rtp-port", help="first RTP port")] = None,
) -> None:
    """Answer phone calls over SIP (UDP and TCP): PCMU/PCMA, DTMF, transfer by REFER. See docs/sip.md."""
    from assistant.config import get_settings
    from voice.sip.options import SipOptions
    from voice.sip.server import run

    try:
        import pjsua2  # noqa: F401
    except ImportError as exc:
        typer.echo("assistant sip: PJSIP's Python bindings are missing: pip install 'hoi-dap-cong-an[sip]' "
                   "(or pjsua2-python==2.15.1.post1)", err=True)
        raise typer.Exit(2) from exc
    settings = get_settings()
    try:
        options = SipOptions.from_settings(settings, host=host, port=port, rtp_port=rtp_port)
    except ValueError as exc:
        typer.echo(f"assistant sip: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(run(options, settings))


def register(app: typer.Typer) -> None:
    app.command("sip")(sip)
