"""Real peers for the PACS tests: Orthanc (Debian package) on loopback ports, and the listener as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
import requests

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Orthanc:
    aet: str
    dicom_port: int
    http_port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str) -> requests.Response:
        response = requests.get(self.url + path, timeout=10)
        response.raise_for_status()
        return response

    def sr_instances(self) -> list[bytes]:
        """Every SR instance Orthanc holds, as DICOM files."""
        files = []
        for series in self.get("/series?expand").json():
            if series["MainDicomTags"].get("Modality") == "SR":
                files += [self.get(f"/instances/{i}/file").content for i in series["Instances"]]
        return files

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def start_orthanc(
    folder: Path, dicom_port: int | None = None, modalities: dict[str, list[object]] | None = None
) -> Orthanc:
    """Start Orthanc with its own config and storage under ``folder``; returns once its REST API answers."""
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc is not installed (apt-get install orthanc; .ci/run installs it)")
    folder.mkdir(parents=True, exist_ok=True)
    dicom_port, http_port = dicom_port or free_port(), free_port()
    config = {
        "Name": "polypdet-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomModalities": modalities or {},
        "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.exists() else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    orthanc = Orthanc("ORTHANC", dicom_port, http_port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
        try:
            orthanc.get("/system")
            return orthanc
        except requests.RequestException:
            time.sleep(0.1)
    orthanc.stop()
    raise RuntimeError("Orthanc did not start in 30 s")


@dataclass
class Listener:
    aet: str
    port: int
    outbox: Path
    process: subprocess.Popen[str]

    def stop(self) -> str:
        """SIGTERM, as a service manager stops it; returns what it printed."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return out


def start_listener(
    outbox: Path,
    dest: str,
    *extra: str,
    allow: tuple[str, ...] = ("STORESCU", "ORTHANC"),
    env: dict[str, str] | None = None,
) -> Listener:
    """``polypdet pacs listen`` in a subprocess; returns once it answers C-ECHO.

    Its POLYPDET_HOME (development keys included) is a folder next to the outbox, the same for every listener
    started on that outbox."""
    port = free_port()
    allow_args = [arg for aet in allow for arg in ("--allow-aet", aet)]
    command = [sys.executable, "-m", "polypdet", "pacs", "listen", "--aet", "POLYPDET", "--host", "127.0.0.1"]
    command += ["--port", str(port), *allow_args, "--dest", dest, "--outbox", str(outbox), "--retry-max", "1"]
    command += ["--backend", "onnxruntime", *extra]
    home = outbox.with_name(outbox.name + "-home")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "POLYPDET_HOME": str(home), **(env or {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    listener = Listener("POLYPDET", port, outbox, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"listener exited: {process.stdout.read() if process.stdout else ''}")
        if echo(port, calling=allow[0]).returncode == 0:
            return listener
        time.sleep(0.2)
    listener.stop()
    raise RuntimeError("listener did not answer C-ECHO in 60 s")


def echo(port: int, calling: str = "STORESCU", called: str = "POLYPDET") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["echoscu", "-aet", calling, "-aec", called, "127.0.0.1", str(port)], capture_output=True, text=True, timeout=30
    )


_PROPOSE = {  # storescu proposes uncompressed syntaxes unless told which compressed one the file has
    "1.2.840.10008.1.2.4.50": "--propose-jpeg8",
    "1.2.840.10008.1.2.4.80": "--propose-jls-lossless",
    "1.2.840.10008.1.2.4.90": "--propose-j2k-lossless",
    "1.2.840.10008.1.2.5": "--propose-rle",
    "1.2.840.10008.1.2.4.102": "--propose-mpeg4",
}


def storescu(port: int, path: Path, calling: str = "STORESCU") -> subprocess.CompletedProcess[str]:
    """Send one file, proposing its own transfer syntax, as a modality would."""
    syntax = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    propose = [_PROPOSE[syntax]] if syntax in _PROPOSE else []
    command = ["storescu", "-v", *propose, "-aet", calling, "-aec", "POLYPDET", "127.0.0.1", str(port), str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def wait_for(condition, timeout_s: float = 60.0, interval_s: float = 0.25):  # type: ignore[no-untyped-def]
    """Poll ``condition()`` until it returns something truthy; returns it (or the last falsy value)."""
    deadline = time.monotonic() + timeout_s
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(interval_s)
        value = condition()
    return value


@pytest.fixture(scope="module")
def dcmtk() -> None:
    if shutil.which("storescu") is None or shutil.which("echoscu") is None:
        pytest.skip("dcmtk is not installed (apt-get install dcmtk; .ci/run installs it)")


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()
