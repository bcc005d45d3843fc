"""A SIP agent with a tiny fake call core, for tests that exercise SIP itself (auth, allow-list, Kamailio).

Each call hears a 1 s tone (440 Hz, or ``--hz``); DTMF ``0`` transfers, ``9`` hangs up; every event is
printed (``EVENT start|dtmf|mark|hangup ...``). Run: ``python tests/sip/tone_agent.py --port 5080``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from voice.audio import mulaw_encode  # noqa: E402
from voice.sip.agent import SipAgent  # noqa: E402
from voice.sip.options import SipOptions  # noqa: E402


def say(*parts: object) -> None:
    print("EVENT", *parts, flush=True)


class ToneHandler:
    def __init__(self, sip, hz: float, name: str):
        self.sip = sip
        t = np.arange(8000) / 8000
        self.tone = mulaw_encode((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16))
        self.name = name

    def on_start(self) -> None:
        say("start", self.name, self.sip.info.call_id)
        self.sip.send_audio(self.tone)
        self.sip.mark("tone")

    def on_dtmf(self, digit: str) -> None:
        say("dtmf", self.name, digit)
        if digit == "0":
            self.sip.transfer(None)
        elif digit == "9":
            self.sip.hangup()

    def on_mark(self, name: str) -> None:
        say("mark", self.name, name)

    def on_transferred(self) -> None:
        say("transferred", self.name)

    def on_hangup(self) -> None:
        say("hangup", self.name)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, default=46000)
    ap.add_argument("--allow", action="append", default=[])
    ap.add_argument("--auth", default=None, help="user:password")
    ap.add_argument("--ring-ms", type=int, default=0)
    ap.add_argument("--transfer-uri", default=None)
    ap.add_argument("--hz", type=float, default=440.0)
    ap.add_argument("--name", default="agent")
    a = ap.parse_args()
    user, _, password = (a.auth or "").partition(":")
    options = SipOptions(port=a.port, rtp_port=a.rtp_port, allow=tuple(a.allow), auth_user=user or None,
                         auth_password=password or None, ring_ms=a.ring_ms, transfer_uri=a.transfer_uri)
    agent = SipAgent(options, lambda sip: ToneHandler(sip, a.hz, a.name))
    agent.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await asyncio.to_thread(agent.stop)
    say("stats", a.name, agent.stats.calls_total, agent.stats.calls_answered, agent.stats.calls_rejected)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main()))
