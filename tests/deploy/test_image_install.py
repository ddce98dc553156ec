"""The images' install steps, run for real: no Docker engine here, so the build stage of Dockerfile.edge and then of
Dockerfile (the same COPY steps, the same ``pip install`` line, parsed out of the files) go into a clean venv, which
must then serve detections: onnxruntime only for the edge image, OpenVINO for the server image.

About 70-110 s (a clean install of every dependency from pip's cache), hence ``slow``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploy_dockerfile import build_stage, parse, replay_copies
from deploy_paths import REPO
from deploy_processes import free_port, start, stop, wait_http

pytestmark = pytest.mark.slow

IMAGE = "kvasir-seg/images/cju1d31sp4d4k0878r3fr02ul.jpg"


@dataclass
class Venv:
    root: Path
    edge_modules: dict[str, bool]
    """Which heavy modules the edge install alone left importable."""

    @property
    def bin(self) -> Path:
        return self.root / "bin"


def run_build_stage(dockerfile: Path, venv: Path, context: Path) -> None:
    """The stage's COPY steps into ``context`` and its pip commands there, with the venv first on PATH."""
    stage = build_stage(dockerfile)
    assert stage.pip_commands, f"{dockerfile.name} installs nothing"
    replay_copies(stage, REPO, context)
    for command in stage.pip_commands:
        env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(Path.home()), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        result = subprocess.run(["sh", "-c", command], cwd=context, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"{dockerfile.name}: {command} failed:\n{result.stderr[-3000:]}"


def importable(venv: Path, *modules: str) -> dict[str, bool]:
    code = "import importlib.util as u, json, sys; print(json.dumps({m: bool(u.find_spec(m)) for m in sys.argv[1:]}))"
    result = subprocess.run([venv / "bin" / "python", "-c", code, *modules], capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A clean venv with the edge image's install; the server image's test adds its install on top."""
    root = tmp_path_factory.mktemp("image") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    run_build_stage(REPO / "Dockerfile.edge", root, root.parent / "edge-src")
    return Venv(root, importable(root, "onnxruntime", "openvino", "torch", "ultralytics", "polypdet"))


@pytest.fixture
def serve(venv: Venv, tmp_path: Path) -> Iterator[object]:
    """Start ``polypdet serve`` from the venv with a Dockerfile's ENV (image paths mapped onto this checkout)."""
    started = []

    def start_image(dockerfile: Path) -> str:
        env = {k: v for k, v in parse(dockerfile).envs.items() if k != "PATH"}
        env |= {
            "POLYPDET_MODELS_DIR": str(REPO / "models"),
            "MODEL_PATH": str(REPO / "models" / Path(env["MODEL_PATH"]).name),
            "POLYPDET_HOME": str(tmp_path / "home"),
            "AUTH_ENABLED": "false",
        }
        port = free_port()
        command = [str(venv.bin / "polypdet"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        process = start(command, env, tmp_path / "serve.log")
        started.append(process)
        wait_http(f"http://127.0.0.1:{port}/health/ready", process, timeout=90)
        return f"http://127.0.0.1:{port}"

    yield start_image
    for process in started:
        stop(process)


def detect(base: str, image: Path) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base}/api/detect", data=image.read_bytes(), headers={"Content-Type": "image/jpeg"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def loaded_backend(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        found = re.search(r'polypdet_model_info\{[^}]*backend="(\w+)"', response.read().decode())
    assert found, "polypdet_model_info is missing from /metrics"
    return found.group(1)


def test_edge_image_install_is_onnxruntime_only_and_serves(venv: Venv, serve, data: Path) -> None:  # type: ignore[no-untyped-def]
    assert venv.edge_modules == {
        "onnxruntime": True,
        "openvino": False,
        "torch": False,
        "ultralytics": False,
        "polypdet": True,
    }
    base = serve(REPO / "Dockerfile.edge")
    body = detect(base, data / IMAGE)
    assert body["detections"] and body["model_version"]
    assert loaded_backend(base) == "onnxruntime"


def test_server_image_install_adds_openvino_and_serves(venv: Venv, serve, data: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run_build_stage(REPO / "Dockerfile", venv.root, tmp_path / "server-src")
    assert importable(venv.root, "openvino", "boto3", "torch") == {"openvino": True, "boto3": True, "torch": False}
    installed = subprocess.run([venv.bin / "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert "opencv-python-headless" in names and "opencv-python" not in names, "OpenCV's GUI build is installed"
    base = serve(REPO / "Dockerfile")
    body = detect(base, data / IMAGE)
    assert body["detections"]
    assert loaded_backend(base) == "openvino"
    healthcheck = next(s["value"] for s in parse(REPO / "Dockerfile").structure if s["instruction"] == "HEALTHCHECK")
    probe = json.loads(healthcheck.split("CMD", 1)[1].replace("127.0.0.1:8000", base.removeprefix("http://")))
    assert subprocess.run([str(venv.bin / probe[0]), *probe[1:]], timeout=10).returncode == 0
