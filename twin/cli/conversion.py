"""Option values converted without pydantic, where typer would import it for them.

typer 0.2x converts every value, `--help` included, through a pydantic TypeAdapter, so every
command imported pydantic: ~60 ms of a ~0.2 s `twin status` (bench/startup.py). twin's options
are strings, paths, numbers and flags without constraints: those are converted by their type.
Anything else keeps typer's conversion, and a typer without that machinery is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import typer.core

PLAIN = (str, Path, int, float, bool)  # bool: flags (no flag of twin's reads a variable)
CHECKS = ("parser", "min", "max", "exists", "resolve_path", "allow_dash")  # typer's own, then


def install() -> None:
    try:
        from typer._coercion import RuntimeParam  # noqa: PLC0415 - only where typer has it

        typers = typer.core.build_runtime_param  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return

    @dataclass(frozen=True)
    class Plain(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.annotation(value)
            except (TypeError, ValueError):
                kind = getattr(self.annotation, "__name__", "value")
                raise typer.BadParameter(
                    f"{value!r} is not a {kind}", ctx=ctx, param=param
                ) from None

    def convert(descriptor: Any) -> Any:
        info = descriptor.parameter_info
        if (
            descriptor.annotation not in PLAIN
            or descriptor.file_annotation is not None
            or any(getattr(info, check, None) not in (None, False) for check in CHECKS)
        ):
            return typers(descriptor)
        return Plain(info, descriptor.annotation)

    typer.core.build_runtime_param = convert  # type: ignore[attr-defined]
