"""Host setup lines sent over rtnetlink: which lines are recognised (pure), and what the kernel
makes of them in a namespace of the test's own (root only)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import need_root_netns, unique_lab
from traffic import rtnl
from traffic.netns import entered, in_thread

HOST = """# ip -batch for host web1 (zone web)
link set lo up
addr add 192.168.10.11/24 dev eth1
link set eth1 up
route replace default via 192.168.10.1 dev eth1
"""


def test_the_host_template_lines_are_recognised() -> None:
    cmds = rtnl.ip_lines(HOST)
    assert cmds is not None
    assert [c[0] for c in cmds] == ["up", "addr", "up", "default"]
    assert cmds[1][1] == ("192.168.10.11", "24", "eth1")


@pytest.mark.parametrize(
    "line",
    ["link add br0 type bridge", "addr add 10.0.0.1/24 dev eth1 brd +",
     "route add 10.0.0.0/8 dev x", "link set eth1 down", "addr add 10.0.0.1 dev eth1"],
)  # fmt: skip
def test_any_other_line_leaves_the_file_to_ip_batch(line: str) -> None:
    assert rtnl.ip_lines(HOST + line + "\n") is None


@pytest.mark.integration
def test_lines_applied_in_a_namespace_and_refusals_named() -> None:
    need_root_netns()
    ns = f"rtnl-{unique_lab()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        link = ["link", "add", "eth1", "type", "veth", "peer", "name", "eth2"]
        subprocess.run(["ip", "-n", ns, *link], check=True)

        def work() -> str:
            with entered(f"/run/netns/{ns}"):
                rtnl.apply(rtnl.ip_lines(HOST) or [])
                try:
                    rtnl.apply(rtnl.ip_lines("route replace default via 10.9.9.9 dev eth1") or [])
                except OSError as exc:
                    return str(exc)
            return ""

        refused = in_thread(work, "test-rtnl")
        assert "route replace default via 10.9.9.9 dev eth1: Network is unreachable" in refused
        shown = subprocess.run(["ip", "-n", ns, "-4", "addr", "show", "eth1"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        assert "inet 192.168.10.11/24" in shown and "UP" in shown
        route = subprocess.run(["ip", "-n", ns, "route", "show", "default"], capture_output=True,
                               text=True, check=True).stdout  # fmt: skip
        assert route.startswith("default via 192.168.10.1 dev eth1")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
