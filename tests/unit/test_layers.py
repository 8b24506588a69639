"""The package reads top-down: no import cycle between twin's modules, and no layer imports a
layer above it. Every import counts — module level, inside functions, under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import twin

ROOT = Path(twin.__file__).resolve().parent

# Lowest first. A module belongs to the layer of the longest name that prefixes it; it may import
# from its own layer and the layers below, never from one above.
LAYERS: list[tuple[str, ...]] = [
    # one root error; run a command; read and write a user's files; docker with a deadline
    ("twin.errors", "twin.proc", "twin.files", "twin.runtime.dockercli"),
    ("twin.policy",),  # the policy file: model, YAML source, wording, checks, load
    ("twin.lab",),  # the lab directory and its file names, the state file, the registry
    ("twin.images.recipe",),  # which image twin nodes run: data the plan names
    # the plan's types: addresses, nodes, links, chains, verdicts; what each host enforces
    ("twin.plan.plan", "twin.plan.agent"),
    ("twin.firewalls",),  # one adapter per firewall kind, and the table of kinds
    ("twin.plan",),  # build_plan (bridge names come from the kind's adapter); flows to probe
    ("twin.analysis",),  # exact analysis of a policy, no lab
    ("twin.render",),  # templates, topology
    ("twin.images",),  # the node image built (images.recipe sits lower)
    ("twin.runtime",),  # netns, docker, containerlab behind one protocol
    ("twin.deploy",),  # configure, responders, health, host limits, teardown
    ("twin.verify",),  # probes, crafted packets, log evidence, saved runs, provenance
    ("twin.report",),  # console, JSON, JUnit, HTML, change, blast radius, graph
    ("twin.vendors",),  # import vendor policy, export what was tested, push over SSH
    ("twin.pipeline", "twin.rehearse", "twin.evidence"),  # orchestration only
    ("twin.cli", "twin.__main__"),  # parse options, call the above
]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """twin modules that `name` imports anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            module = target
            while module not in known and "." in module:
                module = module.rpartition(".")[0]
            if module in known and module != name:
                found.add(module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer(name: str) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching prefix, layer)
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = name == prefix or name.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), i)
    return None if best is None else best[1]


def test_the_graph_sees_every_kind_of_import() -> None:
    edges = graph()
    assert "twin.proc" in edges["twin.runtime.base"]  # module level
    assert "twin.runtime.netns" in edges["twin.runtime.registry"]  # inside a function
    typing_only = edges["twin.vendors.translate.addrs"]  # imports Ctx under TYPE_CHECKING
    assert "twin.vendors.translate.context" in typing_only
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" → ".join(c) for c in found)


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if name != "twin" and layer(name) is None]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_no_layer_imports_a_layer_above_it() -> None:
    wrong = []
    for name, targets in graph().items():
        here = layer(name)
        if here is None:
            continue
        for target in sorted(targets):
            there = layer(target)
            if there is not None and there > here:
                wrong.append(f"{name} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
    assert not wrong, "a lower layer imports a higher one:\n" + "\n".join(wrong)
