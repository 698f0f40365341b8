"""The weekly score flow: publish, rerun idempotently, record a decision, suppress next week."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import SMALL_TRAIN


@pytest.fixture(scope="module")
def weekly(small_trained, tmp_path_factory: pytest.TempPathFactory):
    from ewp.flows.score import score_flow

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
    assert {
        "flags.csv",
        "flags.json",
        "reasons.csv",
        "timelines.csv",
        "report.html",
        "quarantine.csv",
        "validation_summary.csv",
        "manifest.json",
    } <= {p.name for p in first.run_dir.iterdir()}
    assert "No records were rejected." in first.report.read_text()
    # The synthetic force's dates are made up: never a stale export.
    assert first.warnings == () and 'id="stale-export"' not in first.report.read_text()
    # SMALL_TRAIN's list sizes are (20,) but it publishes 50: the evaluation measures the
    # published list too, so the report gives its back-tested hit rate.
    assert "on a list of the top 50 went on to have" in first.report.read_text()
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
    from ewp.flows.common import review_url
    from ewp.stores.review import ReviewStore

    home, first, first_bytes, rerun, _ = weekly
    assert rerun.new_flags == first.new_flags == first.flagged  # new to the list, both times
    assert {p.name: p.read_bytes() for p in rerun.run_dir.iterdir()} == first_bytes
    store = ReviewStore(review_url(SMALL_TRAIN, home))
    try:
        assert len(store.flags_frame()) == first.flagged
    finally:
        store.close()


def test_reviewed_officer_is_suppressed_next_week(weekly) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app
    from ewp.flows.score import score_flow

    home, first, _, _, config_file = weekly
    flags = pd.read_csv(first.flags_csv, keep_default_na=False)
    top = flags.iloc[0]
    runner = CliRunner(env={"EWP_HOME": str(home)})
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
    # The officer dropped off the list, and the report says why; so for every other officer
    # who dropped off, and "new" means new against the previous week.
    dropped = re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td></tr>",
        re.search(r'<section id="dropped">(.*?)</section>', html, flags=re.S).group(1),
    )
    why = dict(dropped)
    assert why[top["officer_id"]] == (
        "suppressed after review: reviewed 2021-12-29 (supervisor conversation); no new notice "
        "since"
    )
    assert all(reason != "not recorded" for reason in why.values())
    assert set(why) == set(flags["officer_id"]) - set(listed["officer_id"])
    assert next_week.new_flags == len(set(listed["officer_id"]) - set(flags["officer_id"]))


def test_schedules_are_monday_six_and_monthly_in_london(tmp_path: Path) -> None:
    from ewp.flows.schedule import deployments

    weekly_d, monthly_d, oversight_d, monitor_d = deployments(None)
    assert weekly_d.name == "weekly-scoring" and monthly_d.name == "monthly-retraining"
    assert oversight_d.name == "monthly-oversight"
    assert oversight_d.schedules[0].schedule.cron == "0 7 1 * *"
    assert oversight_d.schedules[0].schedule.timezone == "Europe/London"
    assert monitor_d.name == "monthly-monitoring"
    assert monitor_d.schedules[0].schedule.cron == "0 5 2 * *"
    (weekly_schedule,) = weekly_d.schedules
    assert weekly_schedule.schedule.cron == "0 6 * * 1"
    assert weekly_schedule.schedule.timezone == "Europe/London"
    assert monthly_d.schedules[0].schedule.cron == "0 5 1 * *"


def test_weekly_list_has_a_fairness_audit_and_ewp_audit_reruns_it(weekly) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app

    home, first, _, _, config_file = weekly
    audit_html = first.run_dir / "audit.html"
    assert audit_html.exists() and 'href="audit.html"' in first.report.read_text()
    by_group = pd.read_csv(first.run_dir / "audit_by_group.csv")
    # Outcomes of a weekly list are unknown: flag rates only.
    assert set(by_group["metric"]) == {"flag_rate", "share_of_flags"}
    assert {"ethnicity", "gender", "age_band"} <= set(by_group["attribute"])
    before = audit_html.read_bytes()
    audit_html.unlink()
    result = CliRunner(env={"EWP_HOME": str(home)}).invoke(
        app, ["audit", str(first.run_dir), "-c", str(config_file)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert audit_html.exists() and "OFFICIAL-SENSITIVE" in audit_html.read_text()
    assert len(audit_html.read_bytes()) > 0 and before


FULL_TAGS = {
    "label": "an allegation proven, within 12 months",
    "weekly_list": "top_50",
    "weekly_list.precision": "0.062500",
    "weekly_list.flagged": "3000",
    "weekly_list.test_dates": "60",
    "weekly_list.test_period": "2019-01-01 to 2023-12-01",
    "weekly_list.rule": "rule_3_in_180d",
    "weekly_list.rule_description": "3 or more notices received in the last 180 days",
    "weekly_list.rule_precision": "0.012000",
}


def test_what_a_score_means_is_read_from_the_registered_version() -> None:
    from ewp.core.config import Config, ScoringConfig
    from ewp.flows.score import score_meaning

    meaning = score_meaning(Config(name="x"), FULL_TAGS)
    assert (meaning.label, meaning.list_size, meaning.precision) == (
        "an allegation proven, within 12 months",
        50,
        0.0625,
    )
    assert (meaning.rule_precision, meaning.test_dates, meaning.notes) == (0.012, 60, ())
    # The list published now is not the one the model was measured at.
    other = score_meaning(Config(name="x", scoring=ScoringConfig(top_k=30)), FULL_TAGS)
    assert other.precision is None and other.rule_precision is None
    assert other.notes == (
        "No back-tested hit rate is given for this list: the model was evaluated for a list of "
        "the top 50, not the top 30; retrain to measure it.",
    )
    threshold = ScoringConfig(selection="threshold", threshold=0.2)
    assert (
        "drawn by a score threshold"
        in score_meaning(Config(name="x", scoring=threshold), FULL_TAGS).notes[0]
    )
    unmeasured = {"label": "x", "weekly_list": "top_50"}
    assert (
        "recorded no hit rate for a list of the top 50; retrain"
        in (score_meaning(Config(name="x"), unmeasured).notes[0])
    )


def test_a_model_registered_before_these_tags_still_scores_with_a_note() -> None:
    from ewp.core.config import Config
    from ewp.features.explanations import label_in_words
    from ewp.flows.score import score_meaning

    config = Config(name="x")
    meaning = score_meaning(config, {"model_id": "scorecard-1"})
    assert meaning.label == label_in_words(config.label) and meaning.precision is None
    assert meaning.notes == (
        "The label is taken from this configuration: the model was registered without it.",
        "No back-tested hit rate is given for this list: the model was registered before "
        "ewp recorded it; retrain (ewp train) to add it.",
    )
    # A model that was never registered (the demo's own).
    unregistered = score_meaning(config, None)
    assert unregistered.label == label_in_words(config.label)
    assert unregistered.precision is None and "not a registered version" in unregistered.notes[0]


def test_report_carries_the_gate_findings_and_the_audit_pools_earlier_weeks(
    weekly, tmp_path: Path
) -> None:
    from ewp.features.history import build_features
    from ewp.flows.audit import audit_weekly_list
    from ewp.flows.common import prepare_export, validate
    from ewp.stores.tracking import tracker_for

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
