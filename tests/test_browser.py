"""The weekly report in a real browser: headless Chromium renders every list row and officer
card, logs nothing to the console, and takes a screenshot.

Uses Chromium's own headless mode through a subprocess (no driver library). Skipped when
Chromium is not installed; ``apt-get install -y chromium`` (Debian) provides it.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ewp.reports.weekly import MARKING, render_weekly_report
from tests.test_weekly_report import sample_inputs

TIMEOUT_SECONDS = 30
WINDOW = (1280, 2000)
# The report has no JavaScript, so any console message at all means something went wrong
# (Chromium logs console.log and console.error alike as INFO:CONSOLE, without the level).
CONSOLE_PROBLEM = re.compile(r"INFO:CONSOLE|Uncaught")


def _chromium() -> str:
    """The Chromium executable, or skip the test."""
    path = shutil.which("chromium") or shutil.which("chromium", path="/usr/bin")
    if path is None:
        pytest.skip(
            "Chromium not found: apt-get install -y chromium (Debian) to run the browser check"
        )
    return path


def _headless(page: Path, *, profile: Path, action: list[str]) -> subprocess.CompletedProcess:
    """Run headless Chromium on a local page with one action (--dump-dom or --screenshot)."""
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *action,
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert result.returncode == 0, f"Chromium failed ({result.returncode}):\n{result.stderr}"
    return result


def _console_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE_PROBLEM.search(line)]


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    page = tmp_path / "weekly.html"
    page.write_text(render_weekly_report(**sample_inputs()), encoding="utf-8")
    return page


def test_chromium_renders_every_row_and_card_without_console_errors(
    report: Path, tmp_path: Path
) -> None:
    result = _headless(report, profile=tmp_path / "profile", action=["--dump-dom"])
    dom = result.stdout
    flags = sample_inputs()["flags"]
    for flag, officer in zip(flags["flag_id"], flags["officer_id"], strict=True):
        assert f'id="row-{flag}"' in dom
        assert f'<a href="#flag-{flag}">{officer}</a>' in dom
        assert f'<article class="card" id="flag-{flag}"' in dom
    assert dom.count('<article class="card"') == len(flags)
    assert dom.count('<svg class="chart" role="img"') == len(flags)
    assert dom.count(MARKING) >= 2
    assert _console_problems(result.stderr) == []


def test_the_console_check_catches_a_script_error(tmp_path: Path) -> None:
    """Guards the check above: this Chromium's log format is the one it parses."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefined_function();</script>")
    result = _headless(page, profile=tmp_path / "profile", action=["--dump-dom"])
    problems = _console_problems(result.stderr)
    assert len(problems) == 1 and "Uncaught ReferenceError" in problems[0]


def test_chromium_takes_a_screenshot_of_the_report(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "weekly.png"
    action = [f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars"]
    _headless(report, profile=tmp_path / "profile", action=action)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert struct.unpack(">II", data[16:24]) == WINDOW  # the IHDR width and height
    assert len(data) > 50_000  # a rendered page, not a blank one
