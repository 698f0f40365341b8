"""A stale export is not republished silently, and a failed scheduled run is shown where the
unit works (issue 14, point 6)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ewp.core.config import Config, DataConfig, ScoringConfig
from ewp.reports.weekly import StaleExport, render_weekly_report
from ewp.stores.run_status import STATUS_FILE, failures, record_outcome
from ewp.web import create_app
from tests.test_weekly_report import sample_inputs
from tests.web_builders import Clock, build_workspace

TAKEN = dt.date(2021, 12, 31)
REAL = Config(name="force", data=DataConfig(dir=Path("/srv/export")))


def test_an_export_older_than_the_limit_on_the_day_of_the_run_is_stale() -> None:
    from ewp.flows.score import check_export_age

    # Taken 2021-12-31, limit 35 days: 2022-02-04 is 35 days on, 2022-02-05 is 36.
    assert check_export_age(REAL, extracted_on=TAKEN, today=dt.date(2022, 2, 4)) is None
    stale = check_export_age(REAL, extracted_on=TAKEN, today=dt.date(2022, 2, 5))
    assert stale == StaleExport(extracted_on="2021-12-31", max_age_days=35, age_days=36)
    assert stale.warning.startswith("The export was taken on 2021-12-31, 36 days ago (more than")
    never = REAL.model_copy(update={"scoring": ScoringConfig(max_export_age_days=None)})
    assert check_export_age(never, extracted_on=TAKEN, today=dt.date(2026, 1, 1)) is None
    # The synthetic force's dates are made up: it is never stale.
    synthetic = Config(name="demo")
    assert check_export_age(synthetic, extracted_on=TAKEN, today=dt.date(2026, 1, 1)) is None


def test_a_stale_export_puts_a_banner_on_the_report() -> None:
    stale = StaleExport(extracted_on="2021-12-31", max_age_days=35, age_days=800)
    html = render_weekly_report(**sample_inputs(), stale_export=stale)
    banner = html[html.index('id="stale-export"') : html.index("</p>", html.index("stale-export"))]
    assert "an export taken on 2021-12-31, more than 35 days before it was published" in banner
    assert "800" not in html  # the age changes daily; the report of a week does not
    assert html.index('id="stale-export"') < html.index('<section id="summary">')
    assert 'id="stale-export"' not in render_weekly_report(**sample_inputs())


def test_outcomes_are_recorded_and_only_the_latest_failure_of_a_job_shows(tmp_path: Path) -> None:
    at = dt.datetime(2026, 12, 7, 6, 0, 12, tzinfo=dt.UTC)
    record_outcome(tmp_path, job="weekly scoring", at=at, error=ValueError("bad export\nmore"))
    record_outcome(tmp_path, job="monthly retraining", at=at)
    (failed,) = failures(tmp_path)
    assert (failed.job, failed.at, failed.error) == ("weekly scoring", at, "ValueError: bad export")
    record_outcome(tmp_path, job="weekly scoring", at=at + dt.timedelta(days=7))
    assert failures(tmp_path) == []
    (tmp_path / STATUS_FILE).write_text("{not json")
    assert failures(tmp_path) == []  # an unreadable status never breaks the list page


def test_a_failed_scheduled_run_is_recorded_and_re_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ewp.flows.schedule import WEEKLY_JOB, _recorded

    monkeypatch.setenv("EWP_HOME", str(tmp_path))  # as `ewp serve` sets it for its runs
    config = Config(name="force")

    def broken(home: Path) -> None:
        raise RuntimeError(f"export missing under {home.name}")

    with pytest.raises(RuntimeError, match="export missing"):
        _recorded(config, WEEKLY_JOB, broken)
    (failed,) = failures(tmp_path / "runs" / "force")
    assert failed.job == "weekly scoring" and failed.error.startswith("RuntimeError: export")
    assert _recorded(config, WEEKLY_JOB, lambda home: 42) == 42
    assert failures(tmp_path / "runs" / "force") == []


def test_the_list_page_shows_a_failed_scheduled_run(tmp_path: Path) -> None:
    from tests.test_web import login

    workspace = build_workspace(tmp_path / "workspace")
    at = dt.datetime(2025, 1, 13, 6, 0, tzinfo=dt.UTC)
    with TestClient(create_app(workspace.settings(Clock())), follow_redirects=False) as client:
        login(client, "rev.a")
        assert "failed at" not in client.get("/flags").text
        record_outcome(
            workspace.runs_dir,
            job="weekly scoring",
            at=at,
            error=ValueError("Contract error: notices.csv is missing <b>"),
        )
        page = client.get("/flags").text
    assert (
        "The scheduled weekly scoring failed at 2025-01-13 06:00 UTC (ValueError: Contract "
        "error: notices.csv is missing &lt;b&gt;). The list below is the latest one published"
    ) in page
