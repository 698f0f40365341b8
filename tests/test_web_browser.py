"""The review workspace end to end in headless Chromium: sign in, open an officer card, record a
decision, find it in the audit trail, with no console error on the way.

Playwright's Python package drives Debian's Chromium (``/usr/bin/chromium``); no browser is
ever downloaded. The app runs under uvicorn on a free localhost port in a thread, over a small
hand-made workspace (``tests/web_builders.py``). The test also takes the two screenshots of
docs/review-workspace.md, ``workspace-list.png`` and ``workspace-officer-card.png``: into the
test's temporary folder, or into ``docs/screenshots`` with ``EWP_UPDATE_SCREENSHOTS=1`` (a different
Chromium or font set renders other bytes, so a plain test run never touches the checkout).

Skipped, with the reason, when Playwright is not installed or Chromium cannot be launched
(``apt-get install -y chromium`` provides it; ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from ewp.stores.access import WorkspaceStore
from ewp.web import create_app
from tests.web_builders import NOW, PASSWORD, Clock, build_workspace, fid

README_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 860}
TIMEOUT_MS = 10_000
REVIEWER = "insp.jones"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if path is None:
        pytest.skip("Chromium not found: apt-get install -y chromium (Debian) to run this test")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[str]:
    """The workspace served on localhost; yields its base URL."""
    workspace = build_workspace(tmp_path / "workspace")
    store = WorkspaceStore(workspace.database_url, clock=lambda: NOW)
    store.add_user(
        username=REVIEWER,
        role="reviewer",
        units=("Borough 01", "Borough 02"),
        password=PASSWORD,
        actor="test",
    )
    store.close()
    port = _free_port()
    config = uvicorn.Config(
        create_app(workspace.settings(Clock())), host="127.0.0.1", port=port, log_level="warning"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the workspace server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: docs/screenshots only when asked to update them."""
    if os.environ.get("EWP_UPDATE_SCREENSHOTS") == "1":
        return README_SCREENSHOTS
    return tmp_path / "screenshots"


def test_sign_in_open_a_card_record_a_decision_and_find_it_in_the_trail(
    server: str, screenshots: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = _chromium()
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
        except sync_api.Error as exc:
            pytest.skip(f"Chromium cannot be launched by Playwright: {exc}")
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda message: problems.append(f"console: {message.text}"))
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))

            page.goto(f"{server}/flags")
            assert "/login?next=" in page.url  # not signed in yet
            page.fill("#username", REVIEWER)
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server}/flags")
            rows = page.locator("tbody tr")
            assert rows.count() == 5
            assert "5 flags this week in your units" in page.inner_text("main")
            screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshots / "workspace-list.png"), full_page=True)

            page.click("text=OFF000101")
            page.wait_for_url(f"{server}/flags/{fid('OFF000101')}")
            assert page.inner_text("h1") == "Officer OFF000101"
            assert page.locator("ol.reasons li").count() == 3
            assert page.locator("table.timeline tbody tr").count() == 5
            assert page.locator("svg.chart path").count() == 5
            page.screenshot(path=str(screenshots / "workspace-officer-card.png"), full_page=True)
            for name in ("workspace-list.png", "workspace-officer-card.png"):
                assert (screenshots / name).read_bytes().startswith(b"\x89PNG")

            page.check("#decision-referral_to_professional_standards")
            page.fill("#note", "Pattern of force allegations; refer for assessment.")
            page.click("text=Record decision")
            page.wait_for_url("**?saved=1")
            assert "Decision recorded" in page.inner_text("[role=status]")

            page.click("nav >> text=Audit trail")
            page.wait_for_url(f"{server}/trail")
            newest = page.locator("table.trail tbody tr").first.inner_text()
            assert REVIEWER in newest
            assert "OFF000101" in newest
            assert "decision recorded" in newest
            assert "referral_to_professional_standards" in newest
            assert "Pattern of force allegations" in newest
        finally:
            browser.close()
    assert problems == []
