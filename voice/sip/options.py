"""SIP agent options: one dataclass, built from :class:`assistant.config.Settings` or by tests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any


#: calls one PJSIP process can hold: PJSUA_MAX_CALLS in the pjsua2-python 2.15.1 wheel (measured: a 5th
#: simultaneous INVITE gets 486 from PJSIP itself); the bridge leg of a transfer counts too
PJSUA_MAX_CALLS = 4


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
    #: simultaneous calls; the pjsua2-python wheel is built with PJSUA_MAX_CALLS = 4 (more: more agents)
    max_calls: int = 4
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
        if not 1 <= self.max_calls <= PJSUA_MAX_CALLS:
            raise ValueError(f"max_calls must be 1..{PJSUA_MAX_CALLS} (PJSIP's build limit); run more agents "
                             "behind Kamailio for more calls (docs/sip.md)")
        for entry in self.allow:
            ipaddress.ip_network(entry, strict=False)  # ValueError on a typo, at start-up
        if bool(self.auth_user) != bool(self.auth_password):
            raise ValueError("set both the SIP digest user and password, or neither")

    @property
    def contact_host(self) -> str:
        return self.public_host or self.host

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
