"""The phone hotline: audio codec, VAD, speech-to-text, speech synthesis, the call core and transports.

* :mod:`voice.audio` — G.711 μ-law, resampling, WAV reading/writing (16-bit mono PCM inside);
* :mod:`voice.vad` — webrtcvad endpointing for phone turn-taking;
* :mod:`voice.stt` / :mod:`voice.whisper_model` — faster-whisper, model assembled offline at set-up;
* :mod:`voice.tts` / :mod:`voice.prerender` — Piper or espeak-ng synthesis, pre-rendered answers;
* :mod:`voice.call` — the transport-agnostic call session (Twilio and SIP drive the same core);
* :mod:`voice.twilio` — Twilio webhooks and the Media Streams WebSocket.
"""
