"""Imported vendor policies are deployable: up on netns, every flow probed, judged, torn down."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import unique_lab
from twin import pipeline
from twin.vendors.registry import parse
from twin.vendors.translate.build import build_policy

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parents[1] / "data" / "vendors"


@pytest.mark.parametrize(
    ("vendor", "name"),
    [
        ("panos", "panos-running.xml"),
        ("panos", "panos-set.txt"),
        ("fortigate", "fortigate-backup.conf"),
    ],
)
def test_imported_policy_runs_and_matches_itself(
    vendor: str, name: str, tmp_path: Path, lab_up
) -> None:
    path = DATA / name
    imported = build_policy(parse(vendor, path.read_text(), str(path)), unique_lab("v"))
    policy_file = tmp_path / "imported.yml"
    policy_file.write_text(imported.to_yaml())
    lab = lab_up(policy_file)
    run = pipeline.test(lab)
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]]
    assert len(run.results) > 100
