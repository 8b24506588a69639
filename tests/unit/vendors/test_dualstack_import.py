"""IPv6 from PAN-OS and FortiGate, imported exactly: objects, interfaces, consolidated and IPv6
policies, ICMPv6; `all` of one family is not the twin's any (which covers both)."""

from __future__ import annotations

from tests.unit.vendors.helpers import decide
from twin.plan.build import build_plan
from twin.policy.model import Action
from twin.vendors.registry import parse
from twin.vendors.report import Outcome
from twin.vendors.translate.build import build_policy

FORTIGATE = """\
config system interface
    edit "port1"
        set ip 10.1.0.1 255.255.255.0
        config ipv6
            set ip6-address 2001:db8:1::1/64
        end
    next
    edit "port2"
        set ip 10.2.0.1 255.255.255.0
        config ipv6
            set ip6-address 2001:db8:2::1/64
        end
    next
end
config firewall address
    edit "all"
    next
    edit "web"
        set subnet 10.2.0.10 255.255.255.255
    next
end
config firewall address6
    edit "all"
        set ip6 ::/0
    next
    edit "web"
        set ip6 2001:db8:2::10/128
    next
end
config firewall service custom
    edit "PING6"
        set protocol ICMP6
    next
end
config firewall policy
    edit 1
        set name "v4-web"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "all"
        set dstaddr "web"
        set action accept
        set service "HTTPS"
    next
    edit 2
        set name "both-ssh"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "all"
        set dstaddr "all"
        set srcaddr6 "all"
        set dstaddr6 "web"
        set action accept
        set service "SSH"
    next
end
config firewall policy6
    edit 1
        set name "ping6"
        set srcintf "port1"
        set dstintf "port2"
        set srcaddr "all"
        set dstaddr "web"
        set action accept
        set service "PING6"
    next
end
"""


def test_fortigate_ipv6_objects_policies_and_interfaces() -> None:
    imp = build_policy(parse("fortigate", FORTIGATE, "fg.conf"), "fg")
    assert {r.name: r.outcome for r in imp.report.rules} == dict.fromkeys(
        ("v4-web", "both-ssh", "ping6"), Outcome.exact
    )
    zones = imp.policy.zones
    assert [str(z.subnet6) for z in zones.values()] == ["2001:db8:1::/64", "2001:db8:2::/64"]
    plan = build_plan(imp.policy)
    a, b = "port1", "port2"
    # a policy without srcaddr6/dstaddr6 matches IPv4 only: its `all` is 0.0.0.0/0
    assert decide(plan, a, b, "10.1.0.11", "10.2.0.10", "tcp", 443) == (Action.allow, "v4-web")
    assert decide(plan, a, b, "2001:db8:1::11", "2001:db8:2::10", "tcp", 443)[0] is Action.deny
    # a consolidated policy: each family by its own pair (the IPv6 `web` is another object)
    assert decide(plan, a, b, "10.1.0.11", "10.2.0.99", "tcp", 22) == (Action.allow, "both-ssh")
    assert decide(plan, a, b, "2001:db8:1::11", "2001:db8:2::10", "tcp", 22)[1] == "both-ssh"
    assert decide(plan, a, b, "2001:db8:1::11", "2001:db8:2::99", "tcp", 22)[0] is Action.deny
    # policy6: IPv6 only, ICMPv6 as a service
    assert decide(plan, a, b, "2001:db8:1::11", "2001:db8:2::10", "icmpv6", 0)[1] == "ping6"
    assert decide(plan, a, b, "10.1.0.11", "10.2.0.10", "icmp", 0)[0] is Action.deny


PANOS = """\
<config><devices><entry name="localhost.localdomain">
<network><interface><ethernet>
  <entry name="ethernet1/1"><layer3><ip><entry name="10.1.0.1/24"/></ip>
    <ipv6><enabled>yes</enabled><address><entry name="2001:db8:1::1/64"/></address></ipv6>
  </layer3></entry>
  <entry name="ethernet1/2"><layer3>
    <ipv6><enabled>yes</enabled><address><entry name="2001:db8:2::1/64"/></address></ipv6>
  </layer3></entry>
</ethernet></interface></network>
<vsys><entry name="vsys1">
  <zone>
    <entry name="in"><network><layer3><member>ethernet1/1</member></layer3></network></entry>
    <entry name="v6srv"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
  </zone>
  <address><entry name="srv6"><ip-netmask>2001:db8:2::10/128</ip-netmask></entry></address>
  <rulebase><security><rules>
    <entry name="to-srv6"><from><member>in</member></from><to><member>v6srv</member></to>
      <source><member>any</member></source><destination><member>srv6</member></destination>
      <application><member>ipv6-icmp</member></application>
      <service><member>application-default</member></service><action>allow</action></entry>
  </rules></security></rulebase>
</entry></vsys>
</entry></devices></config>
"""


def test_panos_ipv6_zone_object_and_icmpv6_application() -> None:
    imp = build_policy(parse("panos", PANOS, "pa.xml"), "pa")
    assert [r.outcome for r in imp.report.rules] == [Outcome.exact]
    srv = imp.policy.zones["v6srv"]
    assert srv.subnet is None and str(srv.subnet6) == "2001:db8:2::/64"  # IPv6 only
    plan = build_plan(imp.policy)
    flow = ("in", "v6srv", "2001:db8:1::11", "2001:db8:2::10", "icmpv6", 0)
    assert decide(plan, *flow) == (Action.allow, "to-srv6")
    assert [e.verdict.value for e in imp.policy.expect] == ["allow"]  # derived, over IPv6
    assert imp.policy.expect[0].to == "2001:db8:2::10"
