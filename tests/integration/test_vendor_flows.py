"""Hand-checked flows of real configurations hold on a live twin: each imported policy (with
its derived intent and the hand-checked lines) is brought up on netns and every flow probed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import unique_lab
from tests.vendor_flows import flow_files, imported_with_flows
from twin import pipeline

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", flow_files(), ids=lambda p: p.stem)
def test_hand_checked_flows_hold_on_a_live_twin(path: Path, tmp_path: Path, lab_up) -> None:
    policy, flows = imported_with_flows(path, unique_lab("vf"))
    policy_file = tmp_path / "imported.yml"
    policy_file.write_text(
        yaml.safe_dump(policy.model_dump(mode="json", by_alias=True, exclude_defaults=True))
    )
    lab = lab_up(policy_file)
    run = pipeline.test(lab)
    assert run.ok, [f"{r.src}->{r.dst} {r.proto}/{r.port}: {r.reason}" for r in run.failures[:5]]
    hand = {f"hand.{i}" for i in range(len(flows))}
    covered = {name for r in run.results for name in r.intent} & hand
    assert covered == hand  # every hand-checked flow was probed for real
