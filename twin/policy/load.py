"""load: policy YAML → validated `Policy`, or every problem at once, each with its file line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.errors import InputError, Problem
from twin.policy.checks import check_policy, flat_warnings
from twin.policy.model import Policy
from twin.policy.source import Path_, dotted, line_of, read_policy_file, read_yaml
from twin.policy.wording import drop_misspelled_missing, pydantic_problem


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. Raises InputError listing every problem."""
    return parse_policy(read_policy_file(path), str(path))


def parse_policy(raw: bytes | str, file: str = "<policy>") -> Policy:
    data, lines = read_yaml(raw, file)
    return validate_policy(data, lines, file)


def validate_policy(data: dict[str, Any], lines: dict[Path_, int], file: str) -> Policy:
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        errors = drop_misspelled_missing(exc.errors())
        problems = [pydantic_problem(err, lines, file) for err in errors]
        raise InputError(_unique(problems)) from None
    problems = [
        Problem(file, line_of(lines, path), dotted(path), msg, hint)
        for path, msg, hint in check_policy(policy)
    ]
    if problems:
        raise InputError(_unique(problems))
    return policy


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def policy_warnings(raw: bytes | str, file: str, policy: Policy) -> list[Problem]:
    """What a valid policy says that can never apply, each with its line (see `flat_warnings`)."""
    found = flat_warnings(policy)
    if not found:
        return []
    _, lines = read_yaml(raw, file)
    return [Problem(file, line_of(lines, p), dotted(p), msg, hint) for p, msg, hint in found]
