"""The SIP endpoint of the hotline: a PJSIP (pjsua2) agent on the shared call core. See docs/sip.md.

* :mod:`voice.sip.agent` — :class:`~voice.sip.agent.SipAgent`: PJSIP on its own thread (UDP+TCP, PCMU/PCMA,
  DTMF, REFER/bridge transfer, allow-list, digest auth, registration), events to an asyncio loop;
* :mod:`voice.sip.call` / :mod:`voice.sip.media` — one call: PJSIP callbacks, the 20 ms media port, the
  playout buffer, the latency meter;
* :mod:`voice.sip.events` — call events to the handlers on the asyncio loop (and the agent's stats);
* :mod:`voice.sip.transfer` — REFER and bridged transfers;
* :mod:`voice.sip.redact` — what the log may say about a caller (Call-ID hash, masked URI);
* :mod:`voice.sip.core` — the handler that drives :class:`voice.call.CallSession`;
* :mod:`voice.sip.server` / :mod:`voice.sip.cli` — ``assistant sip``; :mod:`voice.sip.probe` — OPTIONS
  health check and the ``assistant up`` part (no PJSIP import);
* :mod:`voice.sip.kamailio` — Kamailio dispatcher configuration for several agents;
* :mod:`voice.sip.rtp_pcap` — RTP pcap writer for sipp (tests, benchmark).

Only :mod:`probe`, :mod:`options`, :mod:`auth`, :mod:`events`, :mod:`redact`, :mod:`kamailio` and
:mod:`rtp_pcap` import without pjsua2.
"""
