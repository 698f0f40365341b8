"""The weekly score flow: publish, rerun idempotently, record a decision, suppress next week."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import SMALL_TRAIN


@pytest.fixture(scope="module")
def weekly(small_trained, tmp_path_factory: pytest.TempPathFactory):
    from flows.score import score_flow

    home = small_trained.home
    first = score_flow(SMALL_TRAIN, home)
    first_bytes = {p.name: p.read_bytes() for p in first.run_dir.iterdir()}
    rerun = score_flow(SMALL_TRAIN, home)
    config_file = tmp_path_factory.mktemp("cfg") / "small.yaml"
    config_file.write_text(
        yaml.safe_dump({**SMALL_TRAIN.model_dump(mode="json"), "home": str(home)})
    )
    return home, first, first_bytes, rerun, config_file


def test_weekly_list_is_dated_monday_and_fully_published(weekly) -> None:
    _, first, _, _, _ = weekly
    # The export ends 2021-12-31: the latest Monday on or before 2022-01-01 is 2021-12-27.
    assert first.run_dir.name == "weekly-2021-12-27"
    assert {"flags.csv", "flags.json", "reasons.csv", "timelines.csv", "report.html"} <= {
        p.name for p in first.run_dir.iterdir()
    }
    flags = pd.read_csv(first.flags_csv, keep_default_na=False)
    # The history behind every flag, for the workspace's officer cards.
    timelines = pd.read_csv(first.run_dir / "timelines.csv")
    assert set(timelines["officer_id"]) <= set(flags["officer_id"])
    assert timelines["officer_id"].nunique() > 0
    assert len(flags) == SMALL_TRAIN.scoring.top_k == first.flagged
    assert flags["model_version"].str.endswith("(v1)").all()
    html = first.report.read_text()
    assert "OFFICIAL-SENSITIVE" in html
    assert all(officer in html for officer in flags["officer_id"])


def test_rerun_same_week_is_identical_and_adds_no_rows(weekly) -> None:
    from ewp.review import ReviewStore
    from flows.score import review_url

    home, first, first_bytes, rerun, _ = weekly
    assert rerun.new_flags == 0
    assert {p.name: p.read_bytes() for p in rerun.run_dir.iterdir()} == first_bytes
    store = ReviewStore(review_url(SMALL_TRAIN, home))
    try:
        assert len(store.flags_frame()) == first.flagged
    finally:
        store.close()


def test_reviewed_officer_is_suppressed_next_week(weekly) -> None:
    from typer.testing import CliRunner

    from ewp.cli import app
    from flows.score import score_flow

    home, first, _, _, config_file = weekly
    flags = pd.read_csv(first.flags_csv, keep_default_na=False)
    top = flags.iloc[0]
    runner = CliRunner()
    bad = runner.invoke(
        app,
        [
            "review",
            "decide",
            top["flag_id"],
            "--decision",
            "sack",
            "--reviewer",
            "DS Khan",
            "-c",
            str(config_file),
        ],
        terminal_width=200,
    )
    assert bad.exit_code == 2 and "sack" in bad.output
    ok = runner.invoke(
        app,
        [
            "review",
            "decide",
            top["flag_id"],
            "--decision",
            "supervisor_conversation",
            "--reviewer",
            "DS Khan",
            "--on",
            "2021-12-29",
            "-c",
            str(config_file),
        ],
        terminal_width=200,
    )
    assert ok.exit_code == 0, ok.output
    trail = runner.invoke(app, ["review", "trail", "-c", str(config_file)], terminal_width=250)
    assert "DS Khan" in trail.output

    next_week = score_flow(SMALL_TRAIN, home, dt.date(2022, 1, 3))
    listed = pd.read_csv(next_week.flags_csv, keep_default_na=False)
    # No notice after 2021-12-31 exists in the export, so nothing is new since the review.
    assert top["officer_id"] not in set(listed["officer_id"])
    assert next_week.suppressed == 1
    html = next_week.report.read_text()
    assert "supervisor conversation" in html.lower() or "supervisor_conversation" in html


def test_schedules_are_monday_six_and_monthly_in_london(tmp_path: Path) -> None:
    from flows.schedule import deployments

    weekly_d, monthly_d = deployments(None)
    assert weekly_d.name == "weekly-scoring" and monthly_d.name == "monthly-retraining"
    (weekly_schedule,) = weekly_d.schedules
    assert weekly_schedule.schedule.cron == "0 6 * * 1"
    assert weekly_schedule.schedule.timezone == "Europe/London"
    assert monthly_d.schedules[0].schedule.cron == "0 5 1 * *"


def test_weekly_list_has_a_fairness_audit_and_ewp_audit_reruns_it(weekly) -> None:
    from typer.testing import CliRunner

    from ewp.cli import app

    _, first, _, _, config_file = weekly
    audit_html = first.run_dir / "audit.html"
    assert audit_html.exists() and 'href="audit.html"' in first.report.read_text()
    by_group = pd.read_csv(first.run_dir / "audit_by_group.csv")
    # Outcomes of a weekly list are unknown: flag rates only.
    assert set(by_group["metric"]) == {"flag_rate", "share_of_flags"}
    assert {"ethnicity", "gender", "age_band"} <= set(by_group["attribute"])
    before = audit_html.read_bytes()
    audit_html.unlink()
    result = CliRunner().invoke(
        app, ["audit", str(first.run_dir), "-c", str(config_file)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert audit_html.exists() and "OFFICIAL-SENSITIVE" in audit_html.read_text()
    assert len(audit_html.read_bytes()) > 0 and before


def test_report_carries_the_gate_findings_and_the_audit_pools_earlier_weeks(
    weekly, tmp_path: Path
) -> None:
    from features.history import build_features
    from flows.common import prepare_export, validate
    from flows.score import audit_weekly_list
    from flows.train import tracker_for

    home, first, _, _, _ = weekly
    # The champion's findings (recorded when it was selected) are in the report's methods.
    findings = tracker_for(SMALL_TRAIN, home).champion().tags["fairness_findings"].split("\n")
    report = first.report.read_text()
    assert "Fairness: groups outside the band, the current rule included" in report
    assert all(line.replace("'", "&#39;") in report for line in findings)
    # One list: no rolling section yet. With three earlier weeks' lists (here, the same
    # officers), the audit pools the four weeks and draws their trend.
    assert '<section id="rolling">' not in (first.run_dir / "audit.html").read_text()
    data = validate.fn(prepare_export.fn(SMALL_TRAIN, home), SMALL_TRAIN).data
    as_of = dt.date(2021, 12, 27)
    flags = pd.read_csv(first.flags_csv, keep_default_na=False)
    earlier = pd.concat(
        [
            flags[["officer_id"]].assign(as_of=as_of - dt.timedelta(weeks=weeks))
            for weeks in (1, 2, 3)
        ]
    )
    path = audit_weekly_list(
        data=data,
        matrix=build_features(data, [as_of], config=SMALL_TRAIN.features),
        flagged_ids=flags["officer_id"],
        config=SMALL_TRAIN,
        run_dir=tmp_path,
        as_of=as_of,
        provenance={"model_version": "m", "data_fingerprint": "d", "config_name": "c"},
        earlier_lists=earlier,
    )
    html = path.read_text()
    assert '<section id="rolling">' in html
    assert f"(4 weeks, {4 * len(flags)} flags on {len(flags)} distinct officers)" in html
    trend = pd.read_csv(tmp_path / "audit_rolling_trend.csv")
    assert trend["as_of"].nunique() == 4
