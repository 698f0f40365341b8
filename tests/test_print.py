"""The weekly report printed to PDF by headless Chromium: every page carries the protective
marking (``@page`` margin boxes), and every officer card starts a page.

Reads the PDF's pages back with ``pdftotext`` (Debian's poppler-utils); skipped, naming the
package, when it or Chromium is missing (``.ci/run`` installs both).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ewp.reports.weekly import MARKING, render_weekly_report
from tests.test_browser import _headless
from tests.test_weekly_report import OFFICERS, sample_inputs


def _pages(pdf: Path) -> list[str]:
    """The text of each page of ``pdf``."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not found: apt-get install -y poppler-utils to read printed pages")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return text.split("\f")[:-1]  # pdftotext ends every page with a form feed


def test_every_printed_page_is_marked_and_each_card_starts_a_page(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_weekly_report(**sample_inputs()), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    action = ["--no-pdf-header-footer", f"--print-to-pdf={pdf}"]
    _headless(page, profile=tmp_path / "profile", action=action)
    pages = _pages(pdf)
    assert len(pages) > len(OFFICERS)
    # Top and bottom margin of every page, and nowhere else (the on-screen bars are hidden).
    assert [text.count(MARKING) for text in pages] == [2] * len(pages)
    assert [f"page {n} of {len(pages)}" in text for n, text in enumerate(pages, 1)] == [True] * len(
        pages
    )
    for rank, officer in enumerate(OFFICERS, start=1):
        heading = f"{rank}. Officer {officer}"
        (starts,) = [text for text in pages if heading in text]
        lines = [line.strip() for line in starts.splitlines() if line.strip()]
        assert lines[:2] == [MARKING, heading], f"the card of {officer} does not start a page"
