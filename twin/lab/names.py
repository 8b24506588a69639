"""The names a lab's resources carry on the machine: containerlab's `clab-<lab>-<node>` for a
node's container or network namespace (twin's own namespaces too), so `twin down` and
`containerlab destroy` find the same things."""

from __future__ import annotations


def node_prefix(lab: str) -> str:
    """What every resource name of the lab starts with."""
    return f"clab-{lab}-"


def node_id(lab: str, node: str) -> str:
    """A node's container name, namespace name (and any other per-lab resource name)."""
    return node_prefix(lab) + node
