"""``polypdet detect`` on DICOM files and folders, with ``--dicom-out`` writing the SR (and SC)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom

from dicom_samples import multi_frame, to_bytes, ybr_jpeg_baseline
from polypdet.clinical.sr import read_polyps


def polypdet(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "polypdet", *args, "--backend", "onnxruntime"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_dicom_folder_gives_results_per_frame_and_srs(polyp_image: np.ndarray, tmp_path: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    frames = 18  # more than one batch (polypdet.cli.detect.BATCH) in one file
    single, multi = ybr_jpeg_baseline(polyp_image), multi_frame([polyp_image] * frames)
    (study / "a.dcm").write_bytes(to_bytes(single))
    (study / "b.dcm").write_bytes(to_bytes(multi))
    (study / "broken.dcm").write_bytes(b"not dicom at all")
    done = polypdet("detect", str(study), "--json", "--dicom-out", str(tmp_path / "out"), "--dicom-sc")
    assert done.returncode == 1  # the broken file fails, the rest goes on
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("broken.dcm: not a DICOM file" in e for e in errors) and "Traceback" not in done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    expected = [("a.dcm", None)] + [("b.dcm", n) for n in range(1, frames + 1)]
    assert [(Path(r["image"]).name, r.get("frame")) for r in results] == expected
    assert all(r["detections"] == results[1]["detections"] for r in results[2:]) and results[0]["detections"]
    sr = pydicom.dcmread(tmp_path / "out" / f"{single.SOPInstanceUID}.sr.dcm")
    polyps = read_polyps(sr)
    assert len(polyps) == len(results[0]["detections"])
    np.testing.assert_allclose(polyps[0].bbox, results[0]["detections"][0]["bbox"], atol=0.01)
    multi_polyps = read_polyps(pydicom.dcmread(tmp_path / "out" / f"{multi.SOPInstanceUID}.sr.dcm"))
    assert {p.referenced_frame_numbers for p in multi_polyps} == {(n,) for n in range(1, frames + 1)}
    sc = pydicom.dcmread(tmp_path / "out" / f"{single.SOPInstanceUID}.sc.dcm")
    assert sc.BurnedInAnnotation == "YES" and sc.StudyInstanceUID == single.StudyInstanceUID
