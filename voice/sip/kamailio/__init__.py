"""Kamailio in front of several SIP agents (``kamailio.cfg``, ``dispatcher.list``; see docs/sip.md).

:func:`render` writes a copy of the configuration for other addresses: the test and the benchmark use it
to run Kamailio on a free loopback port in front of agents on their own ports.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "kamailio.cfg"
DEFAULT_LISTEN = "127.0.0.1:5060"
DEFAULT_LIST = "/etc/kamailio/dispatcher.list"


def render(workdir: Path, listen: str, agents: list[str], *, children: int = 2, debug: int = 1) -> Path:
    """Write ``kamailio.cfg`` and ``dispatcher.list`` into ``workdir`` (agents as ``host:port``); the cfg path."""
    workdir.mkdir(parents=True, exist_ok=True)
    dispatcher = workdir / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:{a} 0 0\n" for a in agents))
    cfg = CONFIG.read_text()
    for old, new in ((DEFAULT_LISTEN, listen), (DEFAULT_LIST, str(dispatcher)), ("children=2", f"children={children}"),
                     ("debug=1", f"debug={debug}")):
        if old not in cfg:
            raise ValueError(f"{CONFIG} no longer contains {old!r}")
        cfg = cfg.replace(old, new)
    path = workdir / "kamailio.cfg"
    path.write_text(cfg)
    return path
