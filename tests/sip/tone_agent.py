"""A SIP agent with a tiny fake call core, for tests that exercise SIP itself (auth, allow-list, Kamailio).

Each call hears a 1 s tone (440 Hz, or ``--hz``); DTMF ``0`` transfers, ``9`` hangs up; every event is
printed (``EVENT start|dtmf|mark|transferred|transfer_failed|transfer_gave_up|hangup ...``). With
``--transfer-wait-s`` it gives up waiting for a transfer's outcome after that long, as the call core does
(``SipTransport.cancel_transfer``). Run: ``python tests/sip/tone_agent.py --port 5080``.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
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
    def __init__(self, sip, hz: float, name: str, transfer_wait_s: float | None = None):
        self.sip = sip
        t = np.arange(8000) / 8000
        self.tone = mulaw_encode((8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16))
        self.name = name
        self.transfer_wait_s = transfer_wait_s
        self._give_up: asyncio.TimerHandle | None = None

    def on_start(self) -> None:
        say("start", self.name, self.sip.info.call_id)
        self.sip.send_audio(self.tone)
        self.sip.mark("tone")

    def on_dtmf(self, digit: str) -> None:
        say("dtmf", self.name, digit)
        if digit == "0":
            self.sip.transfer(None)
            if self.transfer_wait_s is not None:
                self._give_up = asyncio.get_running_loop().call_later(self.transfer_wait_s, self._gave_up)
        elif digit == "9":
            self.sip.hangup()

    def _gave_up(self) -> None:
        self._give_up = None
        say("transfer_gave_up", self.name)
        self.sip.cancel_transfer()

    def _settled(self) -> None:
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None

    def on_mark(self, name: str) -> None:
        say("mark", self.name, name)

    def on_transferred(self) -> None:
        self._settled()
        say("transferred", self.name)

    def on_transfer_failed(self, code: int) -> None:
        self._settled()
        say("transfer_failed", self.name, code)

    def on_hangup(self) -> None:
        self._settled()
        say("hangup", self.name)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, default=46000)
    ap.add_argument("--allow", action="append", default=[])
    ap.add_argument("--auth", default=None, help="user:password")
    ap.add_argument("--ring-ms", type=int, default=0)
    ap.add_argument("--transfer-uri", default=None)
    ap.add_argument("--transfer-mode", default="refer")
    ap.add_argument("--transfer-wait-s", type=float, default=None)
    ap.add_argument("--max-calls", type=int, default=None)
    ap.add_argument("--hz", type=float, default=440.0)
    ap.add_argument("--name", default="agent")
    a = ap.parse_args()
    user, _, password = (a.auth or "").partition(":")
    options = SipOptions(port=a.port, rtp_port=a.rtp_port, allow=tuple(a.allow), auth_user=user or None,
                         auth_password=password or None, ring_ms=a.ring_ms, transfer_uri=a.transfer_uri,
                         transfer_mode=a.transfer_mode)
    if a.max_calls is not None:
        options = options.with_(max_calls=a.max_calls)
    agent = SipAgent(options, lambda sip: ToneHandler(sip, a.hz, a.name, a.transfer_wait_s))
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
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a test that finds it hung asks for a thread dump
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main()))
