"""Write pcap files of RTP (μ-law audio and RFC 2833 DTMF) for sipp's ``play_pcap_audio`` (tests, benchmark).

One stream (one SSRC, continuous sequence numbers and timestamps), 20 ms per packet, Ethernet/IPv4/UDP
framing: sipp keeps the payloads and timing and rewrites the addresses and ports.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from voice.audio import FRAME_BYTES, mulaw_encode, read_wav

DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
PT_PCMU, PT_EVENT = 0, 101


def _udp_packet(payload: bytes, sport: int = 6000, dport: int = 6000) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + udp


class RtpPcap:
    """Accumulates RTP packets 20 ms apart; ``write(path)`` saves a pcap."""

    def __init__(self, ssrc: int = 0x1234ABCD):
        self.ssrc = ssrc
        self.seq = 1
        self.ts = 0
        self.t_us = 0
        self.packets: list[tuple[int, bytes]] = []

    def _rtp(self, pt: int, payload: bytes, *, marker: bool = False, ts: int | None = None) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF,
                             (self.ts if ts is None else ts) & 0xFFFFFFFF, self.ssrc)
        self.packets.append((self.t_us, _udp_packet(header + payload)))
        self.seq += 1
        self.t_us += 20000

    def audio(self, ulaw: bytes) -> RtpPcap:
        for i in range(0, len(ulaw) - FRAME_BYTES + 1, FRAME_BYTES):
            self._rtp(PT_PCMU, ulaw[i:i + FRAME_BYTES])
            self.ts += FRAME_BYTES
        return self

    def silence(self, ms: int) -> RtpPcap:
        return self.audio(b"\xff" * (FRAME_BYTES * (ms // 20)))

    def wav(self, path: str | Path, gain: float = 1.0) -> RtpPcap:
        pcm, _ = read_wav(path, 8000)
        pcm = np.clip(pcm.astype(np.float32) * gain, -32768, 32767).astype(np.int16)
        return self.audio(mulaw_encode(pcm))

    def dtmf(self, digit: str, ms: int = 160) -> RtpPcap:
        """One RFC 2833 event: packets every 20 ms with a growing duration, then three end packets."""
        event = DTMF_EVENTS[digit]
        start = self.ts
        steps = max(ms // 20, 3)
        for k in range(1, steps + 1):
            self._rtp(PT_EVENT, struct.pack("!BBH", event, 10, k * FRAME_BYTES), marker=k == 1, ts=start)
        for _ in range(3):
            self._rtp(PT_EVENT, struct.pack("!BBH", event, 0x80 | 10, steps * FRAME_BYTES), ts=start)
        self.ts = start + (steps + 3) * FRAME_BYTES
        return self

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
        for t_us, pkt in self.packets:
            out += struct.pack("<IIII", 1_700_000_000 + t_us // 1_000_000, t_us % 1_000_000, len(pkt), len(pkt))
            out += pkt
        path.write_bytes(bytes(out))
        return path

    @property
    def duration_ms(self) -> int:
        return self.t_us // 1000
