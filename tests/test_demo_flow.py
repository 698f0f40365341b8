"""The first end-to-end path on a small synthetic force, and its byte-identical rerun."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ewp.config import Config, ScoringConfig, SyntheticConfig, TrainingConfig
from ewp.contract import AUDIT_ONLY_COLUMNS
from ewp.flags import REVIEW_COLUMNS

SMALL = Config(
    name="small",
    synthetic=SyntheticConfig(officers=3000, start_year=2014, end_year=2021),
    training=TrainingConfig(as_of_start=dt.date(2017, 1, 1)),
    scoring=ScoringConfig(top_k=15),
)
OUTPUTS = (
    "flags.csv",
    "flags.json",
    "reasons.csv",
    "report.html",
    "manifest.json",
    "quarantine.csv",
    "validation_summary.csv",
)


@pytest.fixture(scope="module")
def demo_runs(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory):
    from flows.demo import demo_flow

    home = tmp_path_factory.mktemp("home")
    first = demo_flow(SMALL, home)
    first_bytes = {name: (first.run_dir / name).read_bytes() for name in OUTPUTS}
    second = demo_flow(SMALL, home)
    return home, first, first_bytes, second


def test_demo_writes_a_ranked_flag_list_with_reasons(demo_runs) -> None:
    home, first, _, _ = demo_runs
    # The export ends 2021-12-31, so the list is dated the Monday before 2022-01-01.
    assert first.run_dir == home / "runs" / "small" / "2021-12-27"
    flags = pd.read_csv(first.flags_csv, keep_default_na=False)
    assert len(flags) == 15
    assert flags["rank"].tolist() == list(range(1, 16))
    assert flags["score"].is_monotonic_decreasing
    assert flags["reason_1"].str.len().gt(0).all()  # every flag has at least one reason
    assert (flags["model_version"] == first.model_id).all()
    assert flags["data_fingerprint"].str.fullmatch("[0-9a-f]{64}").all()
    assert set(REVIEW_COLUMNS) <= set(flags.columns)
    assert not set(AUDIT_ONLY_COLUMNS) & set(flags.columns)
    summary = pd.read_csv(first.run_dir / "validation_summary.csv")
    assert (summary["read"] == summary["accepted"] + summary["quarantined"]).all()


def test_demo_rerun_is_byte_identical(demo_runs) -> None:
    _, first, first_bytes, second = demo_runs
    assert second.run_dir == first.run_dir
    assert second.model_id == first.model_id
    for name in OUTPUTS:
        assert (second.run_dir / name).read_bytes() == first_bytes[name], name


def test_demo_logs_model_and_no_officer_ids_to_mlflow(demo_runs) -> None:
    from mlflow.tracking import MlflowClient

    home, first, _, _ = demo_runs
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    run = client.get_run(first.mlflow_run_id)
    assert run.data.tags["model_id"] == first.model_id
    assert "holdout.top_1pct.scorecard.precision" in run.data.metrics
    flags = pd.read_csv(first.flags_csv)
    logged = " ".join([*run.data.params.values(), *run.data.tags.values()])
    assert not any(officer in logged for officer in flags["officer_id"])


def test_ground_truth_is_kept_out_of_the_export(demo_runs) -> None:
    home, _, _, _ = demo_runs
    exports = list((home / "synthetic").glob("*/export"))
    assert len(exports) == 1
    top_level = sorted(p.name for p in exports[0].iterdir() if p.is_file())
    assert top_level == ["notices.csv", "officers.csv", "outcomes.csv"]
    assert (exports[0] / "ground_truth" / "latent_risk.parquet").exists()


def test_cli_help_reads_well() -> None:
    from typer.testing import CliRunner

    from ewp.cli import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "validate", "demo"):
        assert command in result.output


def test_cli_validate_names_file_line_and_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ewp.cli import app

    (tmp_path / "officers.csv").write_text(
        "officer_id,joined_on,rank,unit\nO1,2010-01-01,Constable,U1\n"
    )
    (tmp_path / "notices.csv").write_text(
        "notice_id,case_id,officer_id,received_on,category,source\n"
        "N1,C1,O1,2019-13-45,other,public\n"
        "N2,C2,O9,2019-01-01,other,public\n"
        "N3,C3,O1,2019-02-01,other,public\n"
    )
    (tmp_path / "outcomes.csv").write_text("notice_id,decided_on,finding\n")
    quarantine = tmp_path / "q.csv"
    result = CliRunner().invoke(
        app, ["validate", str(tmp_path), "--quarantine", str(quarantine)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    assert "notices.csv line 2, field received_on" in result.output
    assert "notices.csv line 3, field officer_id" in result.output
    rows = pd.read_csv(quarantine)
    assert rows["line"].tolist() == [2, 3]


def test_cli_validate_missing_column_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ewp.cli import app

    (tmp_path / "officers.csv").write_text("officer_id,rank,unit\nO1,Constable,U1\n")
    (tmp_path / "notices.csv").write_text("notice_id\n")
    (tmp_path / "outcomes.csv").write_text("notice_id\n")
    result = CliRunner().invoke(app, ["validate", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 2
    assert "officers.csv" in result.output and "joined_on" in result.output
