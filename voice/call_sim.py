"""``assistant call-sim``: one phone call through the real Twilio webhook and Media Streams protocol.

It plays a WAV file against a running server the way Twilio would: a signed ``POST
/voice/twilio/incoming`` (``X-Twilio-Signature`` computed with the auth token over the public URL),
then the WebSocket named in the TwiML with ``connected``/``start`` (the one-time token) and the caller
audio as 20 ms base64 μ-law ``media`` messages, in real time, followed by silence. It echoes the
server's ``mark`` messages when the audio before them would have finished playing, honours ``clear``,
and reports what came back. The transcript and the answer come from the server's call record
(``GET /voice/calls``, needs the calls token).

``first_audio_after_speech_ms``: from sending the last caller frame with speech (webrtcvad) to receiving
the first answer frame. :class:`MediaStreamClient` is the low-level client the tests use too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import numpy as np

from voice.audio import mulaw_encode, read_wav
from voice.audio.g711 import FRAME_BYTES, SAMPLE_RATE
from voice.twilio.security import sign
from voice.vad import FRAME_SAMPLES, Endpointer

SILENCE = mulaw_encode(np.zeros(FRAME_SAMPLES, dtype=np.int16))


def wav_to_frames(path_or_bytes, *, lead_silence_ms: int = 200) -> list[bytes]:
    """A WAV as 20 ms μ-law frames at 8 kHz (with a little leading silence)."""
    pcm, _ = read_wav(path_or_bytes, SAMPLE_RATE)
    pcm = np.concatenate([np.zeros(SAMPLE_RATE * lead_silence_ms // 1000, dtype=np.int16), pcm])
    pcm = np.pad(pcm, (0, -len(pcm) % FRAME_SAMPLES))
    ulaw = mulaw_encode(pcm)
    return [ulaw[i:i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]


def last_speech_frame(frames: list[bytes]) -> int:
    """Index of the last frame webrtcvad calls speech (-1: none)."""
    from voice.audio import mulaw_decode

    vad = Endpointer()
    last = -1
    for i, frame in enumerate(frames):
        if vad.is_voiced(mulaw_decode(frame)):
            last = i
    return last


def signed_post(client: httpx.Client | None, base_url: str, public_url: str, auth_token: str, path: str,
                params: dict[str, str], *, signature: str | None = None) -> httpx.Response:
    url = public_url.rstrip("/") + path
    headers = {"X-Twilio-Signature": signature if signature is not None else sign(auth_token, url, params)}
    own = client is None
    client = client or httpx.Client(timeout=30)
    try:
        return client.post(base_url.rstrip("/") + path, data=params, headers=headers)
    finally:
        if own:
            client.close()


def stream_from_twiml(twiml: str) -> tuple[str, dict[str, str]]:
    """The ``<Stream url>`` and its ``<Parameter>``s from the incoming webhook's TwiML."""
    url = re.search(r'<Stream[^>]*url="([^"]+)"', twiml)
    if not url:
        raise ValueError(f"no <Stream> in TwiML: {twiml[:200]}")
    params = dict(re.findall(r'<Parameter name="([^"]+)" value="([^"]*)"', twiml))
    return url.group(1), params


class MediaStreamClient:
    """Twilio's side of a Media Streams WebSocket, with playback simulated for marks."""

    def __init__(self, ws_url: str, *, call_sid: str, playback_rate: float = 1.0):
        self.ws_url = ws_url
        self.call_sid = call_sid
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.playback_rate = playback_rate  # 0: marks echoed at once
        self.ws = None
        self.received_frames = 0
        self.media: list[tuple[float, int]] = []  # (arrival time, frames)
        self.marks: list[str] = []
        self.clears: list[float] = []
        self.closed: asyncio.Event = asyncio.Event()
        self.close_code: int | None = None
        self._play_until = 0.0
        self._reader: asyncio.Task | None = None
        self._echoes: set[asyncio.Task] = set()

    async def connect(self, parameters: dict[str, str] | None = None, *, send_start: bool = True) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.ws_url, max_size=2**20, open_timeout=30)
        self._reader = asyncio.create_task(self._read())
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if send_start:
            await self.send({"event": "start", "sequenceNumber": "1", "streamSid": self.stream_sid, "start": {
                "streamSid": self.stream_sid, "callSid": self.call_sid, "accountSid": "AC" + "0" * 32,
                "tracks": ["inbound"], "customParameters": parameters or {},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})

    async def send(self, message: dict[str, Any] | str) -> bool:
        try:
            await self.ws.send(message if isinstance(message, str) else json.dumps(message))
            return True
        except Exception:  # noqa: BLE001 - the server closed the stream
            return False

    async def send_audio(self, frame: bytes) -> bool:
        return await self.send({"event": "media", "streamSid": self.stream_sid,
                                "media": {"track": "inbound", "payload": base64.b64encode(frame).decode()}})

    async def send_dtmf(self, digit: str) -> bool:
        return await self.send({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"digit": digit}})

    async def stop(self) -> None:
        await self.send({"event": "stop", "streamSid": self.stream_sid, "stop": {"callSid": self.call_sid}})
        await self.close()

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                msg = json.loads(text)
                event = msg.get("event")
                now = time.monotonic()
                if event == "media":
                    n = max(1, len(base64.b64decode(msg["media"]["payload"])) // FRAME_BYTES)
                    self.received_frames += n
                    self.media.append((now, n))
                    if self.playback_rate:
                        self._play_until = max(self._play_until, now) + n * 0.02 / self.playback_rate
                elif event == "clear":
                    self.clears.append(now)
                    self._play_until = now
                elif event == "mark":
                    name = msg["mark"]["name"]
                    delay = 0.0 if not self.playback_rate else max(0.0, self._play_until - now)
                    task = asyncio.create_task(self._echo(name, delay))
                    self._echoes.add(task)
                    task.add_done_callback(self._echoes.discard)
        except Exception:  # noqa: BLE001 - connection closed
            pass
        finally:
            self.close_code = getattr(self.ws, "close_code", None)
            self.closed.set()

    async def _echo(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.closed.is_set():
            await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
            self.marks.append(name)

    def frames_after(self, t: float) -> int:
        return sum(n for at, n in self.media if at >= t)

    def first_media_after(self, t: float) -> float | None:
        return next((at for at, _ in self.media if at >= t), None)

    def playing(self) -> bool:
        return time.monotonic() < self._play_until


@dataclass
class SimResult:
    call_sid: str
    transcript: str | None = None
    answer: str | None = None
    outcome: str | None = None
    audio_frames_received: int = 0
    answer_frames: int = 0
    first_audio_after_speech_ms: float | None = None
    server_timings: dict[str, float] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    clears: int = 0
    error: str | None = None


async def simulate_call(base_url: str, wav, *, auth_token: str, public_url: str | None = None,
                        calls_token: str | None = None, realtime: bool = True, playback_rate: float = 1.0,
                        wait_greeting: bool = True, answer_timeout_s: float = 30.0) -> SimResult:
    """Play ``wav`` (a path or WAV bytes) as one caller turn; see the module docstring."""
    public_url = public_url or base_url
    call_sid = "CA" + uuid.uuid4().hex
    result = SimResult(call_sid)
    frames = wav_to_frames(wav)  # a bad file fails here, before any traffic
    last_speech = last_speech_frame(frames)
    with httpx.Client(timeout=30) as http:
        r = signed_post(http, base_url, public_url, auth_token, "/voice/twilio/incoming",
                        {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": "+84900000000",
                         "To": "+84200000000", "CallStatus": "ringing", "Direction": "inbound"})
        if r.status_code != 200:
            result.error = f"incoming webhook answered {r.status_code}: {r.text[:200]}"
            return result
        stream_url, params = stream_from_twiml(r.text)
        path = stream_url.split("://", 1)[1].split("/", 1)[1]
        ws_url = re.sub(r"^http", "ws", base_url.rstrip("/")) + "/" + path
        client = MediaStreamClient(ws_url, call_sid=call_sid, playback_rate=playback_rate)
        await client.connect(params)
        pace = 0.02 if realtime else 0.0
        if wait_greeting:  # the greeting plays; Twilio streams caller audio meanwhile (silence here)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not client.closed.is_set() and not client.marks:
                await client.send_audio(SILENCE)
                await asyncio.sleep(pace or 0.005)
        speech_end_sent = None
        for i, frame in enumerate(frames):
            await client.send_audio(frame)
            if i == last_speech:
                speech_end_sent = time.monotonic()
            await asyncio.sleep(pace)
        speech_end_sent = speech_end_sent or time.monotonic()
        marks_before = len(client.marks)
        deadline = time.monotonic() + answer_timeout_s
        while time.monotonic() < deadline and not client.closed.is_set():
            got_answer = client.first_media_after(speech_end_sent) is not None
            if got_answer and len(client.marks) > marks_before and not client.playing():
                break
            await client.send_audio(SILENCE)
            await asyncio.sleep(0.02)
        first = client.first_media_after(speech_end_sent)
        if first is not None:
            result.first_audio_after_speech_ms = round((first - speech_end_sent) * 1000, 1)
        result.audio_frames_received = client.received_frames
        result.answer_frames = client.frames_after(speech_end_sent)
        result.clears = len(client.clears)
        await client.stop()
        if calls_token:
            await asyncio.sleep(0.2)
            r = http.get(base_url.rstrip("/") + "/voice/calls", headers={"Authorization": f"Bearer {calls_token}"})
            if r.status_code == 200:
                call = next((c for c in r.json()["calls"] if c["external_id"] == call_sid), None)
                if call:
                    result.outcome = call["outcome"]
                    result.turns = call["turns"]
                    speech = [t for t in call["turns"] if t["kind"] == "speech"]
                    if speech:
                        result.transcript = speech[-1]["transcript"]
                        result.answer = speech[-1]["answer"] or None
                        result.server_timings = speech[-1]["timings"]
            else:
                result.error = f"GET /voice/calls answered {r.status_code}"
    return result


def result_json(result: SimResult) -> str:
    return json.dumps(asdict(result), ensure_ascii=False)


def main(url: str, wav: str, *, as_json: bool, auth_token: str | None, public_url: str | None,
         calls_token: str | None, fast: bool, echo=print) -> int:
    """The ``assistant call-sim`` command (returns the exit code)."""
    from pathlib import Path

    from websockets.exceptions import WebSocketException

    from voice.audio.wav import AudioFormatError

    if not auth_token:
        echo("lỗi: cần auth token của Twilio (--auth-token hoặc ASSISTANT_TWILIO_AUTH_TOKEN)")
        return 2
    if not Path(wav).is_file():
        echo(f"lỗi: không có tệp {wav}")
        return 2
    try:
        result = asyncio.run(simulate_call(url, wav, auth_token=auth_token, public_url=public_url,
                                           calls_token=calls_token, realtime=True,
                                           playback_rate=0.0 if fast else 1.0))
    except AudioFormatError as exc:
        echo(f"lỗi: {wav}: {exc}")
        return 2
    except (httpx.HTTPError, OSError, WebSocketException, ValueError) as exc:
        echo(f"lỗi: không kết nối được {url}: {type(exc).__name__}: {exc}")
        return 1
    if not as_json:
        echo(f"cuộc gọi      {result.call_sid}")
        echo(f"nghe được     {result.transcript!r}")
        echo(f"trả lời       {result.answer!r}")
        echo(f"kết quả       {result.outcome}")
        echo(f"âm thanh về   {result.audio_frames_received} khung 20 ms ({result.answer_frames} sau câu hỏi)")
        echo(f"độ trễ        {result.first_audio_after_speech_ms} ms từ hết lời đến âm thanh trả lời đầu tiên")
        if result.server_timings:
            echo(f"máy chủ       {result.server_timings}")
        if not calls_token:
            echo("ghi chú       lời nghe được và câu trả lời lấy từ bản ghi cuộc gọi: cần --calls-token "
                 "(hoặc ASSISTANT_CALLS_TOKEN)")
        if result.error:
            echo(f"lỗi           {result.error}")
    else:
        echo(result_json(result))
    return 1 if result.error or result.first_audio_after_speech_ms is None else 0
