"""The SIP endpoint of the hotline: a PJSIP (pjsua2) agent on the shared call core. See docs/sip.md.

* :mod:`voice.sip.agent` — :class:`~voice.sip.agent.SipAgent`: PJSIP on its own thread (UDP+TCP, PCMU/PCMA,
  DTMF, REFER/bridge transfer, allow-list, digest auth, registration), events to an asyncio loop;
* :mod:`voice.sip.call` / :mod:`voice.sip.media` — one call: PJSIP callbacks, the 20 ms media port, the
  playout buffer;
* :mod:`voice.sip.core` — the handler that drives :class:`voice.call.CallSession`;
* :mod:`voice.sip.server` / :mod:`voice.sip.cli` — ``assistant sip``; :mod:`voice.sip.probe` — OPTIONS
  health check and the ``assistant up`` part (no PJSIP import);
* :mod:`voice.sip.kamailio` — Kamailio dispatcher configuration for several agents;
* :mod:`voice.sip.rtp_pcap` — RTP pcap writer for sipp (tests, benchmark).

Only :mod:`probe`, :mod:`options`, :mod:`auth`, :mod:`kamailio` and :mod:`rtp_pcap` import without pjsua2.
"""
