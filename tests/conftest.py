"""Shared fixtures: the real datasets, the shipped model and a loaded detector."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POLYPDET_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not DATA.is_dir():
        skip = pytest.mark.skip(reason=f"datasets not found at {DATA} (set POLYPDET_DATA)")
        for item in items:
            if "data" in item.fixturenames:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def detector():  # type: ignore[no-untyped-def]
    from polypdet.engine.detector import Detector

    return Detector(backend="onnxruntime")


@pytest.fixture(scope="session")
def polyp_image(data: Path) -> np.ndarray:
    """A real non-square Kvasir-SEG image with one polyp."""
    from polypdet.io.images import read_image

    return read_image(data / "kvasir-seg" / "images" / "cju0qkwl35piu0993l0dewei2.jpg")
