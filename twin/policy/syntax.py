"""The syntax of every name and literal a policy holds: plain regular expressions, no model.

Kept apart from the pydantic models so that what only needs a name checked (the lab registry,
the state file, teardown, `twin status`, `twin down`) starts without building them.
"""

from __future__ import annotations

import re

# Names end up in interface names, nft comments and NFLOG prefixes, container and namespace
# names. They are checked here and never escaped later: what passes cannot inject anything.
# Anchored with \A and \Z, never ^ and $: `$` also matches before a final newline, and
# "web1\n" would pass (and split an `ip -batch` line). Callers use fullmatch.
# A lab name has no '-': nodes are named clab-<lab>-<node>, node names may hold '-', and with
# a '-' in lab names too, clab-a-b-fw would be node b-fw of lab a and node fw of lab a-b. So the
# prefix clab-<lab>- names one lab's nodes and no other's (teardown relies on it).
LAB_NAME = re.compile(r"\A[a-z0-9]{1,20}\Z")
NODE_NAME = re.compile(r"\A[a-z](?:[a-z0-9_-]{0,30}[a-z0-9])?\Z")
OBJECT_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
SERVICE_LITERAL = re.compile(
    r"\A(?:(tcp|udp)(?:/([0-9]{1,5})(?:-([0-9]{1,5}))?)?|(icmp|icmpv6|any))\Z"
)
# A container image reference (registry[:port]/path[:tag][@digest]): it is written into the
# topology YAML and handed to Docker, so nothing that could end a YAML scalar or a word.
IMAGE_REF = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}\Z")
