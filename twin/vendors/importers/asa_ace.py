"""One ASA / FTD access-list entry (ACE) → an `Ace`: both sides resolved, its service, options.

`access-list NAME [line N] extended|advanced permit|deny|trust PROTOCOL [ifc IF] SOURCE [PORTS]
[ifc IF] DESTINATION [PORTS | ICMP-TYPE] [log …] [time-range T] [inactive] [rule-id N] …`
where PROTOCOL is a name or number, `object SVC`, `object-group PROTOCOLS|SERVICES`, and each
side is `any`, `any4`, `any6`, `host A`, `A MASK`, `object N`, `object-group N`, `interface IF`
(or an identity match: user, security group — not modelled). FTD's `trust` is an allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.policy.model import Action
from twin.policy.resolve import IPv4Net
from twin.vendors.device import DevService
from twin.vendors.importers.asa_objects import AsaObjects, SvcSet, port_ranges, proto_set

PORT_OPS = {"eq", "neq", "lt", "gt", "range"}
OPTIONS = {"log", "time-range", "inactive", "rule-id", "event-log", "interval", "disable"}
IDENTITY = {"user", "user-group", "object-group-user", "security-group", "object-group-security"}


@dataclass
class Side:
    refs: list[str]  # DevRule references ("any", object names, CIDR literals)
    nets: list[IPv4Net] | None  # resolved IPv4 networks; None: any
    ifc: str | None = None  # FTD `ifc NAME`: the ingress (source) / egress (destination) interface
    problem: str = ""  # why the twin cannot model this side
    ipv6: bool = False  # IPv6 only: never an IPv4 flow


@dataclass
class Ace:
    acl: str
    index: int  # 1-based among the ACL's entries (remarks not counted)
    line: int
    action: Action
    text: str
    src: Side
    dst: Side
    svc: SvcSet
    svc_refs: list[str] | None  # DevRule services; None: any protocol
    log: bool = False
    inactive: bool = False
    remark: str = ""
    time_range: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.acl}#{self.index}"


class _Words:
    def __init__(self, words: list[str]) -> None:
        self.w = words
        self.i = 0

    def peek(self, k: int = 0) -> str:
        return self.w[self.i + k] if self.i + k < len(self.w) else ""

    def take(self) -> str:
        word = self.peek()
        self.i += 1
        return word


def parse_ace(words: list[str], line: int, text: str, index: int, objs: AsaObjects) -> Ace | None:
    """`words` from the ACL name on (`NAME extended permit …`); None: not an extended ACE."""
    t = _Words(words)
    acl = t.take()
    if t.peek() == "line":
        t.take(), t.take()
    if t.peek() in ("extended", "advanced"):
        t.take()
    if t.peek() not in ("permit", "deny", "trust"):
        return None
    action = Action.deny if t.take() == "deny" else Action.allow
    problems: list[str] = []
    protos, svc, svc_refs = _protocol(t, objs, problems)
    src = _side(t, objs, problems)
    src_ports = _ports(t, objs, protos, problems) if protos else None
    dst = _side(t, objs, problems)
    dst_ports = _ports(t, objs, protos, problems) if protos else None
    if protos is not None:
        svc = SvcSet()
        for p in protos:
            svc.add(proto_set(p, dst_ports if p in ("tcp", "udp", "6", "17") else None))
        svc.src_ports = src_ports is not None
        if "icmp" in protos and t.peek() and t.peek() not in OPTIONS:
            svc.icmp_types = True
            t.take()
            if t.peek().isdigit():
                t.take()
        if "icmp" in protos and t.peek() == "object-group":
            t.take(), t.take()
            svc.icmp_types = True
        svc_refs = None if svc.any else [str(r) for r in svc.merged()]
    ace = Ace(acl, index, line, action, text, src, dst, svc, svc_refs, problems=problems)
    _options(t, ace)
    return ace


def _protocol(
    t: _Words, objs: AsaObjects, problems: list[str]
) -> tuple[list[str] | None, SvcSet, list[str] | None]:
    """(protocols that take ports, or None when a service object/group says it all; …)."""
    word = t.take()
    if word == "object-group" and t.peek() in objs.proto_groups:
        return objs.protocols(t.take()), SvcSet(), None
    if word in ("object", "object-group"):
        name = t.take()
        svc = objs.service_ref(name)
        if svc.any:
            return None, svc, None
        if not svc.ranges:
            return None, svc, []
        objs.dev.services.setdefault(name, DevService(name, ranges=svc.merged()))
        return None, svc, [name]
    return [word], SvcSet(), None


def _side(t: _Words, objs: AsaObjects, problems: list[str]) -> Side:
    ifc = None
    while t.peek() == "ifc" or t.peek() in IDENTITY:
        if t.take() == "ifc":
            ifc = t.take()
        else:
            problems.append("an identity condition (user or security group) is not modelled")
            if t.take() in ("name", "tag"):
                t.take()
    word = t.take()
    side = _address(word, t, objs)
    side.ifc = ifc
    return side


def _address(word: str, t: _Words, objs: AsaObjects) -> Side:
    if word in ("any", "any4"):
        return Side(["any"], None)
    if word == "any6":
        return Side([], [], ipv6=True)
    if word in ("object", "object-group"):
        name = t.take()
        if name not in objs.dev.addresses:
            return Side([name], [], problem=f"unknown network object {name!r}")
        return Side([name], objs.nets(name))
    if word == "interface":
        name = t.take()
        return Side([], [], problem=f"the ASA's own address on {name!r} (not through traffic)")
    if word == "host":
        word = t.take()
        mask = "255.255.255.255"
    elif ":" in word:
        return Side([], [], ipv6=True)
    else:
        mask = t.take()
    if ":" in word:
        return Side([], [], ipv6=True)
    addr = objs.alias(word)
    try:
        net = IPv4Net(f"{addr}/{mask}", strict=False)
    except ValueError:
        return Side([word], [], problem=f"cannot read the address {word} {mask}")
    if addr is None:
        return Side([word], [], problem=f"unknown name {word!r}")
    return Side([str(net)], [net])


def _ports(
    t: _Words, objs: AsaObjects, protos: list[str], problems: list[str]
) -> list[tuple[int, int]] | None:
    op = t.peek()
    port_proto = next((p for p in protos if p in ("tcp", "udp", "6", "17")), "")
    port_proto = {"6": "tcp", "17": "udp"}.get(port_proto, port_proto)
    if op in PORT_OPS and port_proto:
        t.take()
        args = [t.take() for _ in range(2 if op == "range" else 1)]
        ranges, err = port_ranges(op, args, port_proto)
        if err:
            problems.append(err)
        return ranges
    if op == "object-group" and port_proto:
        group = objs.port_group(t.peek(1), port_proto)
        if group is not None:
            t.take(), t.take()
            return group
    return None


def _options(t: _Words, ace: Ace) -> None:
    while t.peek():
        word = t.take()
        if word == "log":
            ace.log = t.peek() != "disable"
        elif word == "time-range":
            ace.time_range = t.take()
        elif word == "inactive":
            ace.inactive = True
        elif word in ("rule-id", "event-log", "interval"):
            t.take()
