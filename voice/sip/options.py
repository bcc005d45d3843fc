"""SIP agent options: one dataclass, built from :class:`assistant.config.Settings` or by tests."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field, replace
from typing import Any


#: calls one PJSIP process can hold: PJSUA_MAX_CALLS in the pjsua2-python 2.15.1 wheel (measured: a 5th
#: simultaneous INVITE gets a stateless 486 from PJSIP itself, before the agent sees it); the bridge leg of a
#: transfer and an INVITE being refused take a slot too
PJSUA_MAX_CALLS = 4
#: callers one agent takes: one slot below PJSIP's ceiling stays free for a bridge leg, and so that the
#: agent's own check (503 + Retry-After, which Kamailio fails over on) runs instead of PJSIP's 486
MAX_CALLS = PJSUA_MAX_CALLS - 1
#: RTP/RTCP ports the agent may use from ``rtp_port`` on
RTP_PORT_RANGE = 64
#: seconds a refused caller (503) is asked to wait before trying this agent again
RETRY_AFTER_S = 5


@dataclass(frozen=True)
class SipOptions:
    """Everything the agent needs; see docs/sip.md for the matching ``ASSISTANT_SIP_*`` variables."""

    host: str = "127.0.0.1"
    port: int = 5070
    #: address written in Contact and SDP (default: ``host``)
    public_host: str | None = None
    #: caller source addresses or networks allowed to call; empty = anyone
    allow: tuple[str, ...] = ()
    auth_user: str | None = None
    auth_password: str | None = None
    realm: str = "hoidap"
    #: where "talk to an officer" goes; None = the call core's transfer target or nothing
    transfer_uri: str | None = None
    #: ``refer`` (SIP REFER to the caller) or ``bridge`` (the agent dials the target and joins the audio)
    transfer_mode: str = "refer"
    registrar: str | None = None
    reg_user: str | None = None
    reg_password: str | None = None
    rtp_port: int = 40000
    #: simultaneous callers (1..MAX_CALLS); more get 503 + Retry-After (more calls: more agents, docs/sip.md)
    max_calls: int = MAX_CALLS
    #: 180 Ringing lasts this long before 200 OK (lets a CANCEL arrive; also a polite ring)
    ring_ms: int = 0
    #: PJSIP log level on stderr (0 = silent, 3 = chatty)
    pj_log_level: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"SIP port out of range: {self.port}")
        if self.transfer_mode not in ("refer", "bridge"):
            raise ValueError(f"transfer mode must be 'refer' or 'bridge', not {self.transfer_mode!r}")
        if not 1 <= self.max_calls <= MAX_CALLS:
            raise ValueError(f"max_calls must be 1..{MAX_CALLS} (PJSIP's build limit is {PJSUA_MAX_CALLS} calls, one "
                             "kept for a transfer leg); run more agents behind Kamailio for more calls (docs/sip.md)")
        if not 1024 <= self.rtp_port <= 65535 - RTP_PORT_RANGE:
            raise ValueError(f"RTP port must be 1024..{65535 - RTP_PORT_RANGE} (the agent uses {RTP_PORT_RANGE} "
                             f"ports from it), not {self.rtp_port}")
        for entry in self.allow:
            ipaddress.ip_network(entry, strict=False)  # ValueError on a typo, at start-up
        if bool(self.auth_user) != bool(self.auth_password):
            raise ValueError("set both the SIP digest user and password, or neither")

    @property
    def contact_host(self) -> str:
        """The address others reach the agent at: ``public_host``, else ``host`` unless it is a wildcard
        (``0.0.0.0``/``::``), in which case the address of the interface that holds the default route."""
        if self.public_host:
            return self.public_host
        if self.host in ("0.0.0.0", "::", ""):
            return local_address(ipv6=self.host == "::")
        return self.host

    def with_(self, **changes: Any) -> SipOptions:
        return replace(self, **changes)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> SipOptions:
        """Options from the ``sip_*`` settings; ``overrides`` (e.g. --host/--port) win when not None."""
        values: dict[str, Any] = dict(
            host=settings.sip_host, port=settings.sip_port, public_host=settings.sip_public_host,
            allow=tuple(settings.sip_allow), auth_user=settings.sip_auth_user,
            auth_password=settings.sip_auth_password, realm=settings.sip_realm,
            transfer_uri=settings.sip_transfer_uri, transfer_mode=settings.sip_transfer_mode,
            registrar=settings.sip_registrar, reg_user=settings.sip_reg_user,
            reg_password=settings.sip_reg_password, rtp_port=settings.sip_rtp_port,
            max_calls=settings.sip_max_calls, ring_ms=settings.sip_ring_ms)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def local_address(ipv6: bool = False) -> str:
    """The local address of the default route (a UDP ``connect`` sends nothing); loopback without one."""
    family, probe, fallback = ((socket.AF_INET6, "2001:db8::1", "::1") if ipv6 else
                               (socket.AF_INET, "192.0.2.1", "127.0.0.1"))
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            return s.getsockname()[0]
    except OSError:
        return fallback
