"""Every exception twin defines is a TwinError (the CLI's one line and exit code), and the
prober's refusal to send a packet outside the twin reaches twin as one."""

from __future__ import annotations

import importlib
import inspect

import pytest

from tests.unit.test_layers import modules
from traffic.prober import Probe
from twin.deploy.configure import send_probes
from twin.errors import ProbeRefused, TwinError


def test_every_exception_twin_defines_is_a_twin_error() -> None:
    strays = []
    for name in modules():
        if name.endswith("__main__"):
            continue  # importing it runs the CLI
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            own = inspect.isclass(value) and value.__module__ == name and not attr.startswith("_")
            # Ctrl-C and SIGTERM stay KeyboardInterrupts: nothing may swallow them
            if (
                own
                and issubclass(value, BaseException)
                and not issubclass(value, TwinError | KeyboardInterrupt)
            ):
                strays.append(f"{name}.{attr}")
    assert not strays, f"not under TwinError: {strays}"


@pytest.mark.parametrize(
    ("netns", "dst"),
    [("/run/netns/none", "192.0.2.1"), ("", "10.99.0.2")],
    ids=["outside the subnets", "from the machine's own namespace"],
)
def test_a_refused_probe_is_a_twin_error_and_nothing_is_sent(netns: str, dst: str) -> None:
    probe = Probe(netns, "10.99.0.1", dst, "tcp", 80)
    with pytest.raises(ProbeRefused, match="refusing to probe"):
        send_probes([probe], ["10.99.0.0/24"], 0.05)
