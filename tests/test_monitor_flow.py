"""``ewp monitor --backfill``: lists published at past dates on the small synthetic force, then
the monitor on the full export: page, CSVs, health, MLflow and the weekly report's line."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat

import pandas as pd
import pytest

from ewp.core.atomic import read_csv
from ewp.stores.review import ReviewStore
from tests.builders import formula_cells
from tests.conftest import SMALL_TRAIN


@pytest.fixture(scope="module")
def monitored(small_trained, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the trained home (its own review store), lists backfilled every 8 weeks from
    2020-06-01, then monitored."""
    from ewp.flows.monitor import backfill_flow, monitor_flow

    home = tmp_path_factory.mktemp("monitor") / "home"
    shutil.copytree(small_trained.home, home)
    for stale in ("review.db", "runs"):
        path = home / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    days = backfill_flow(SMALL_TRAIN, home, dt.date(2020, 6, 1), 8)
    result = monitor_flow(SMALL_TRAIN, home)
    return home, days, result


def test_backfill_publishes_lists_at_past_mondays(monitored) -> None:
    home, days, _ = monitored
    # Every 8th Monday from 2020-06-01 to the export's latest Monday (2021-12-27): the last
    # is 2021-12-13, 80 weeks on.
    assert days == [dt.date(2020, 6, 1) + dt.timedelta(weeks=8 * n) for n in range(11)]
    store = ReviewStore(f"sqlite:///{home / 'review.db'}")
    try:
        flags = store.flags_frame()
    finally:
        store.close()
    assert sorted({d for d in flags["as_of"]}) == days
    assert (flags.groupby("as_of").size() == SMALL_TRAIN.scoring.top_k).all()
    for day in days:
        assert (home / "runs" / SMALL_TRAIN.name / f"weekly-{day}" / "manifest.json").is_file()


def test_monitor_measures_the_matured_lists(monitored) -> None:
    _, days, result = monitored
    run_dir = result.run_dir
    # The export runs to 2021-12-31: it was taken on 2022-01-01.
    assert run_dir.name == "monitor-2022-01-01"
    weeks = read_csv(run_dir / "matured_weeks.csv")
    # A list matures once its 365 days have passed by the export date.
    matured = [d for d in days if d + dt.timedelta(days=365) <= dt.date(2022, 1, 1)]
    assert len(matured) == 4  # 2020-06-01, 2020-07-27, 2020-09-21, 2020-11-16
    assert weeks["as_of"].tolist() == [d.isoformat() for d in matured]
    assert (weeks["flagged"] == SMALL_TRAIN.scoring.top_k).all()
    assert (weeks["rule_places"] == SMALL_TRAIN.scoring.top_k).all()
    pooled = read_csv(run_dir / "matured_pooled.csv").set_index("candidate")
    published = pooled.loc["published list"]
    assert published["places"] == SMALL_TRAIN.scoring.top_k * len(matured)
    assert published["tp"] == weeks["flagged_escalated"].sum()
    assert published["precision_low"] <= published["precision"] <= published["precision_high"]
    rule = pooled.loc[SMALL_TRAIN.evaluation.headline_rule]
    assert rule["tp"] == pytest.approx(weeks["rule_escalated"].sum())
    pending = read_csv(run_dir / "pending_lists.csv")
    assert len(pending) == len(days) - len(matured)
    health = json.loads((run_dir / "health.json").read_text())
    assert health["matured_weeks"] == len(matured)
    assert health["precision"] == pytest.approx(published["precision"])
    # The champion trained to 2021-01-01 on this export: every matured list is inside its
    # training labels, and the health line says so.
    assert health["in_sample_weeks"] == len(matured)
    assert "inside the champion's training labels" in result.health.line()


def test_monitor_outputs_are_marked_owner_only_and_safe(monitored) -> None:
    _, _, result = monitored
    html = result.report.read_text()
    assert html.count("OFFICIAL-SENSITIVE") >= 2
    assert "<script" not in html and "http" not in html.split("</style>")[1]
    assert "not a causal effect" in html
    assert "lowers the model's measured precision" in html
    for path in result.run_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        if path.suffix == ".csv":
            assert formula_cells(path) == []
    assert stat.S_IMODE(result.run_dir.stat().st_mode) == 0o700


def test_champion_version_carries_the_observed_precision(monitored, small_trained) -> None:
    from ewp.flows.monitor import MLFLOW_PREFIX
    from ewp.flows.train import tracker_for

    home, _, result = monitored
    tracker = tracker_for(SMALL_TRAIN, home)
    champion = tracker.champion()
    tags = tracker.monitoring_tags(champion.version, prefix=MLFLOW_PREFIX)
    assert float(tags["precision"]) == pytest.approx(result.health.precision, abs=1e-6)
    assert float(tags["matured_weeks"]) == result.health.matured_weeks
    assert {"precision_low", "precision_high", "rule_precision", "drift_breaches"} <= set(tags)


def test_weekly_report_and_models_carry_the_health_line(monitored) -> None:
    from typer.testing import CliRunner

    from ewp.cli.commands import app
    from ewp.flows.score import score_flow

    home, _, result = monitored
    published = score_flow(SMALL_TRAIN, home, dt.date(2021, 12, 27))
    html = published.report.read_text()
    assert "Monitoring (export of 2022-01-01)" in html
    config_file = home / "small.yaml"
    config_file.write_text(json.dumps({**SMALL_TRAIN.model_dump(mode="json"), "home": str(home)}))
    out = CliRunner().invoke(app, ["--home", str(home), "models", "list", "-c", str(config_file)])
    assert out.exit_code == 0, out.output
    assert "Monitoring (export of 2022-01-01)" in " ".join(out.output.split())
    assert pd.notna(result.health.precision)
