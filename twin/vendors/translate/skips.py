"""Why a vendor rule is not imported exactly: raised while translating it, caught per rule."""

from __future__ import annotations

from twin.errors import TwinError


class Skip(TwinError):
    """This rule cannot be represented safely; the message says why."""


class Unmodelled(Skip):
    """An address or service the twin cannot model (FQDN, region, unknown name, …)."""


class Never(TwinError):
    """This rule can never match an IPv4 flow (e.g. negate-source of `any`)."""


class Ipv6Only(TwinError):
    """This rule matches IPv6 traffic only: the twin (IPv4) does not test it."""
