"""The clinician's page in Debian's headless Chromium: upload a real image, boxes appear, the slider filters."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from polypdet.api.app import create_app
from polypdet.config import Settings
from polypdet.security.roles import Role
from polypdet.security.totp import code_at

PASSWORD = "correct horse battery"

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing (.ci/run installs it)"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Site:
    url: str
    api_key: str
    username: str
    password: str
    totp_secret: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, detector: Any) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("page")
    app = create_app(Settings(polypdet_home=home, redis_url=None, log_level="WARNING"), detector)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(url + "/health/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    security = app.state.security
    security.users.create("dr.lee", PASSWORD, Role.CLINICIAN)
    totp_secret = security.users.enroll_totp("dr.lee").secret
    _, key = security.api_keys.create("page-test", Role.CLINICIAN)
    yield Site(url, key, "dr.lee", PASSWORD, totp_secret)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True
        )
        try:
            yield context.new_page()
        finally:
            context.close()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def box_pixel_is_drawn(page: Any, bbox: list[float]) -> bool:
    """True when a canvas pixel on the box's left edge (half-way down, within 2 px) has the box colour."""
    x, y = round(bbox[0]) - 2, round((bbox[1] + bbox[3]) / 2)
    rgba = page.evaluate(
        "([x, y]) => Array.from(document.getElementById('canvas').getContext('2d').getImageData(x, y, 5, 1).data)",
        [x, y],
    )
    pixels = [rgba[i : i + 3] for i in range(0, len(rgba), 4)]
    return any(abs(r - 0x00) < 40 and abs(g - 0xE5) < 40 and abs(b - 0xFF) < 40 for r, g, b in pixels)


def sign_in(page: Any, site: Site) -> None:
    """As a clinician does: user name, password and the authenticator's current code."""
    page.goto(site.url + "/")
    assert page.locator("#main").is_hidden()  # nothing to do before signing in
    page.fill("#username", site.username)
    page.fill("#password", site.password)
    page.fill("#totp", code_at(site.totp_secret, datetime.now(UTC)))
    page.click("#login-form button")
    page.wait_for_selector("#main", state="visible", timeout=10_000)
    assert "dr.lee" in page.locator("#who-text").inner_text()


def test_upload_draws_the_detected_boxes(server: Site, page: Any, data: Path) -> None:
    image = data / "kvasir-seg/images/cju1d31sp4d4k0878r3fr02ul.jpg"
    expected = httpx.post(
        server.url + "/api/detect?conf=0.05",
        content=image.read_bytes(),
        headers={"content-type": "image/jpeg", "X-API-Key": server.api_key},
    ).json()["detections"]
    assert expected
    sign_in(page, server)
    assert page.title().startswith("polypdet")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#detections li", timeout=15_000)

    at_default = [d for d in expected if d["confidence"] >= 0.25]
    items = page.locator("#detections li")
    assert items.count() == len(at_default)
    drawn = [json.loads(items.nth(i).get_attribute("data-bbox")) for i in range(items.count())]
    assert drawn == [d["bbox"] for d in at_default]
    assert page.evaluate("document.getElementById('canvas').width") == 622
    assert all(box_pixel_is_drawn(page, d["bbox"]) for d in at_default)
    assert "polyp" in page.locator("#status").inner_text()

    page.locator("#threshold").fill("1")  # above every confidence: no box left
    sync_api.expect(page.locator("#detections li")).to_have_count(
        0
    )  # a locator assertion: no eval (the CSP forbids it)
    assert not any(box_pixel_is_drawn(page, d["bbox"]) for d in at_default)
    assert page.locator("#recent li").count() >= 1


def test_a_non_image_shows_an_error_message(server: Site, page: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not a picture")
    page.goto(server.url + "/")
    page.fill("#api-key", "pdk_wrong00000_nope")
    page.click("#key-form button")
    sync_api.expect(page.locator("#signin-status")).to_contain_text("not valid")
    page.fill("#api-key", server.api_key)
    page.click("#key-form button")
    page.wait_for_selector("#main", state="visible", timeout=10_000)
    page.set_input_files("#file", str(bogus))
    page.wait_for_selector("#status.error", timeout=15_000)
    assert "Could not analyse notes.png" in page.locator("#status").inner_text()
