"""SIP OPTIONS ping (health check of a running agent) and the ``sip`` part of ``assistant up``.

No PJSIP here: a plain UDP socket, so ``assistant up`` can watch the agent without loading it.
"""

from __future__ import annotations

import secrets
import socket
import sys
from typing import Any


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (tests, benchmark, Kamailio on loopback)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def options_ping(host: str, port: int, timeout: float = 1.0) -> int | None:
    """Send one SIP OPTIONS over UDP; the response status code, or None when nothing answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.bind(("127.0.0.1" if host.startswith("127.") else "", 0))
        local_host, local_port = s.getsockname()
        tag = secrets.token_hex(4)
        msg = (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
               f"From: <sip:probe@{local_host}>;tag={tag}\r\nTo: <sip:{host}:{port}>\r\n"
               f"Call-ID: {secrets.token_hex(8)}@{local_host}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
               f"Content-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), (host, port))
            data, _ = s.recvfrom(65535)
        except OSError:
            return None
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def sip_port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be bound for UDP or for TCP (the agent needs both)."""
    from assistant.cli.up import port_in_use

    return port_in_use(host, port, udp=True) or port_in_use(host, port)


def sip_port_problems(settings: Any, other_ports: set[int]) -> list[str]:
    """Why ``assistant up`` cannot start the SIP agent on its port (empty when SIP is disabled or all is well)."""
    if not settings.sip_enabled:
        return []
    port = settings.sip_port
    if port in other_ports:
        return [f"sip port {port} is also the app, rasa or actions port"]
    return [f"sip port {port}"] if sip_port_in_use(settings.sip_host, port) else []


def sip_part(settings: Any, env: dict[str, str]) -> Any:
    """The SIP agent as a part of ``assistant up`` (None unless ``ASSISTANT_SIP_ENABLED``)."""
    from assistant.cli.up import Part
    from assistant.config import REPO_ROOT

    if not settings.sip_enabled:
        return None
    host = "127.0.0.1" if settings.sip_host in ("0.0.0.0", "") else settings.sip_host

    def healthy() -> bool:
        return options_ping(host, settings.sip_port) == 200

    argv = [sys.executable, "-m", "assistant.cli.main", "sip", "--host", settings.sip_host,
            "--port", str(settings.sip_port)]
    return Part("sip", argv, REPO_ROOT, env, healthy)
