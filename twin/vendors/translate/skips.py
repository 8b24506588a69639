"""Why a vendor rule is not imported exactly: raised while translating it, caught per rule."""

from __future__ import annotations


class Skip(Exception):
    """This rule cannot be represented safely; the message says why."""


class Unmodelled(Skip):
    """An address or service the twin cannot model (FQDN, region, unknown name, …)."""


class Never(Exception):
    """This rule can never match an IPv4 flow (e.g. negate-source of `any`)."""


class Ipv6Only(Exception):
    """This rule matches IPv6 traffic only: the twin (IPv4) does not test it."""
