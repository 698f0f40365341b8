"""The oversight flow end to end on a small synthetic force: the run folder, its marking and
permissions, spreadsheet-safe CSVs, pseudonyms outside the pile-up CSV, byte-identical reruns;
the report in headless Chromium; the workspace's oversight pages by role."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ewp.core.atomic import read_csv
from ewp.core.config import Config, FairnessConfig, SyntheticConfig
from ewp.core.marking import NOTICE_FILE
from tests.builders import formula_cells
from tests.test_browser import _console_problems, _headless
from tests.web_builders import PASSWORD, Clock, build_workspace, copy_workspace

SMALL = Config(
    name="oversight-small",
    synthetic=SyntheticConfig(officers=1500, start_year=2016, end_year=2021),
    fairness=FairnessConfig(bootstrap_samples=100),
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
DAY = "2021-12-30"  # the day after the small force's last record


@pytest.fixture(scope="module")
def run(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory):
    from ewp.flows.oversight import oversight_flow

    home = tmp_path_factory.mktemp("oversight-home")
    first = oversight_flow(SMALL, home)
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir()}
    again = oversight_flow(SMALL, home)
    return first, before, again


def test_the_run_folder_holds_the_report_and_its_tables_marked_and_owner_only(run) -> None:
    first, _, _ = run
    manifest = json.loads((first.run_dir / "manifest.json").read_text(encoding="utf-8"))
    # As of the export date by default: the synthetic force's, inferred from its last record.
    assert first.run_dir.name == f"oversight-{manifest['extracted_on']}" == f"oversight-{DAY}"
    names = {p.name for p in first.run_dir.iterdir()}
    assert {
        "oversight.html",
        "oversight_durations.csv",
        "oversight_trend.csv",
        "oversight_backlog.csv",
        "oversight_pileup_summary.csv",
        "oversight_pileups.csv",
        "oversight_findings.csv",
        "oversight_repeat_officers.csv",
        "oversight_disparity.csv",
        "quarantine.csv",
        "validation_summary.csv",
        "manifest.json",
        NOTICE_FILE,
    } == names
    assert stat.S_IMODE(first.run_dir.stat().st_mode) == 0o700
    for path in first.run_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        if path.suffix == ".csv":
            assert formula_cells(path) == [], path.name
    assert len(first.headline) >= 4 and "median" in first.headline[1]


def test_no_raw_officer_id_outside_the_pileup_csv_and_reruns_are_identical(run) -> None:
    first, before, again = run
    listed = read_csv(first.run_dir / "oversight_pileups.csv", dtype=str)
    assert len(listed) > 0
    assert listed["pseudonym"].str.fullmatch(r"P-[0-9a-f]{16}").all()
    html = (first.run_dir / "oversight.html").read_text(encoding="utf-8")
    for officer, pseudonym in zip(listed["officer_id"], listed["pseudonym"], strict=True):
        assert officer not in html and pseudonym in html
    for path in first.run_dir.glob("oversight_*.csv"):
        if path.name != "oversight_pileups.csv":
            assert "officer_id" not in path.read_text(encoding="utf-8"), path.name
    assert again.run_dir == first.run_dir
    assert {p.name: p.read_bytes() for p in again.run_dir.iterdir()} == before


def test_as_of_an_earlier_date_counts_only_what_was_known_then(
    prefect_harness: None, tmp_path: Path
) -> None:
    from ewp.flows.oversight import oversight_flow

    earlier = oversight_flow(SMALL, tmp_path, dt.date(2019, 1, 1))
    assert earlier.run_dir.name == "oversight-2019-01-01"
    trend = pd.read_csv(earlier.run_dir / "oversight_trend.csv")
    assert trend["quarter"].iloc[-1] == "2018Q4"


def test_the_report_opens_in_headless_chromium_with_no_external_asset(run, tmp_path: Path) -> None:
    first, _, _ = run
    page = first.run_dir / "oversight.html"
    html = page.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    for reference in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert reference.startswith("#"), reference
    assert "<script" not in html and "<link" not in html and "url(" not in html
    result = _headless(page, profile=tmp_path / "profile", action=["--dump-dom"])
    dom = result.stdout
    assert dom.count('<svg class="chart" role="img"') >= 9  # curve, trend, backlog, 6 ratios
    assert dom.count("OFFICIAL-SENSITIVE") >= 2
    assert 'id="disparity"' in dom and 'id="backlog"' in dom
    assert _console_problems(result.stderr) == []


# --- the workspace ------------------------------------------------------------------------------
@pytest.fixture()
def client(run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from ewp.web import create_app

    first, _, _ = run
    workspace = copy_workspace(
        build_workspace(tmp_path_factory.mktemp("web") / "built"),
        tmp_path_factory.mktemp("web-copy") / "workspace",
    )
    folder = workspace.runs_dir / first.run_dir.name
    folder.mkdir()
    (folder / "oversight.html").write_bytes((first.run_dir / "oversight.html").read_bytes())
    with TestClient(create_app(workspace.settings(Clock())), follow_redirects=False) as c:
        yield c


def _login(client: TestClient, username: str) -> None:
    form = client.get("/login").text
    token = CSRF.search(form).group(1)
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def _logout(client: TestClient) -> None:
    token = CSRF.search(client.get("/", follow_redirects=True).text).group(1)
    client.post("/logout", data={"csrf_token": token})


def test_auditors_and_reviewers_read_the_oversight_reports_and_admins_do_not(
    client: TestClient,
) -> None:
    assert client.get("/oversight").status_code == 303  # to the login form
    for username in ("auditor", "rev.a"):
        _login(client, username)
        listing = client.get("/oversight")
        assert listing.status_code == 200
        assert f'href="/oversight/{DAY}"' in listing.text
        assert 'href="/oversight"' in client.get("/audits").text  # in the navigation
        report = client.get(f"/oversight/{DAY}")
        assert report.status_code == 200 and f"Oversight report, as of {DAY}" in report.text
        assert '<a href="/oversight">Back to the workspace</a>' in report.text
        assert client.get("/oversight/2021-01-01").status_code == 404
        _logout(client)
    _login(client, "admin")
    assert client.get("/oversight").status_code == 403
    assert client.get(f"/oversight/{DAY}").status_code == 403
