"""The CI examples are valid YAML and gate a change with `twin diff` and `twin rehearse`."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT

CI = ROOT / "examples" / "ci"


def test_github_actions_workflow_gates_and_publishes() -> None:
    flow = yaml.safe_load((CI / "github-actions.yml").read_text())
    job = flow["jobs"]["rehearse"]
    assert "self-hosted" in job["runs-on"] and "docker" in job["runs-on"]
    script = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert "twin diff baseline.yml" in script and "twin rehearse" in script
    assert "--junit out/junit.xml" in script and "--html out/report.html" in script
    always = [s for s in job["steps"] if s.get("if") == "always()"]
    assert any("twin down" in str(s.get("run", "")) for s in always)
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in always)


def test_gitlab_job_gates_and_publishes() -> None:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["twin-policy-gate"]
    script = "\n".join(job["script"])
    assert "twin diff baseline.yml" in script and "twin rehearse" in script
    assert "twin down --all" in job["after_script"]
    assert job["artifacts"]["reports"]["junit"] == "out/junit.xml"
    assert job["artifacts"]["when"] == "always"
