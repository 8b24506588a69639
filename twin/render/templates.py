"""The Jinja2 templates (`templates/`, one folder per target): they only loop and print.

A user folder passed as `template_dir` overrides any template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

_ROOT = Path(__file__).resolve().parent.parent  # the twin package
PACKAGE_TEMPLATES = _ROOT.parent / "templates"
INSTALLED_TEMPLATES = _ROOT / "templates"


class Templates:
    def __init__(self, template_dir: Path | None = None) -> None:
        search = [str(p) for p in (template_dir, PACKAGE_TEMPLATES, INSTALLED_TEMPLATES) if p]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)
