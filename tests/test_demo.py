"""``ewp demo``: the demo config through the same train and score flows as ``ewp train`` and
``ewp score``, in a review store and model registry of its own; then the printed next step
makes a real weekly list in the default store, and neither store holds an officer twice a
week."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from ewp.core.config import DEMO_CONFIG, Config, load_config

# A small force and a one-date grid: the demo's shape (configs/demo.yaml) at a test's size.
SMALL_DEMO = {
    "name": "small-demo",
    "store": "demo",
    "synthetic": {"officers": 3000, "start_year": 2014, "end_year": 2021},
    "training": {"as_of_start": "2015-01-01"},
    "evaluation": {
        "test_dates": ["2018-01-01"],
        "test_block_days": 365,
        "training_history_days": 730,
        "negative_sample_rate": 0.5,
        "list_sizes": [20],
        "bootstrap_samples": 50,
        "candidates": [
            {
                "name": "rule_3_in_180d",
                "kind": "threshold_rule",
                "params": {"feature": "notices_180d", "threshold": 3},
            },
            {"name": "scorecard", "kind": "scorecard", "params": {"regularisation_c": 0.1}},
        ],
    },
    "fairness": {"bootstrap_samples": 50},
    "scoring": {"top_k": 15},
}
# The same force with the default store: what "ewp train && ewp score" would use.
SMALL_REAL = {k: v for k, v in SMALL_DEMO.items() if k != "store"} | {"name": "small-real"}
WEEK = "weekly-2021-12-27"  # the small force's export ends 2021-12-31
OUTPUTS = ("flags.csv", "flags.json", "reasons.csv", "timelines.csv", "report.html")


def ewp(*args: object) -> Result:
    from ewp.cli.commands import app

    return CliRunner().invoke(app, [str(a) for a in args], terminal_width=200)


@dataclasses.dataclass(frozen=True)
class DemoRuns:
    home: Path
    demo_config: Path
    real_config: Path
    first: Result
    first_bytes: dict[str, bytes]
    second: Result


@pytest.fixture(scope="module")
def demo_runs(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    root = tmp_path_factory.mktemp("demo")
    home = root / "home"
    demo_config, real_config = root / "small-demo.yaml", root / "small-real.yaml"
    demo_config.write_text(yaml.safe_dump(SMALL_DEMO))
    real_config.write_text(yaml.safe_dump(SMALL_REAL))
    first = ewp("--home", home, "demo", "-c", demo_config)
    run_dir = home / "runs" / "small-demo" / WEEK
    first_bytes = {name: (run_dir / name).read_bytes() for name in OUTPUTS}
    second = ewp("--home", home, "demo", "-c", demo_config)
    return DemoRuns(home, demo_config, real_config, first, first_bytes, second)


def registry(home: Path, store: str | None):
    from ewp.core.config import MlflowConfig
    from ewp.stores.tracking import tracker_for

    config = Config(store=store, mlflow=MlflowConfig())
    return tracker_for(config, home)


def stored_flags(home: Path, store: str | None) -> pd.DataFrame:
    from ewp.flows.common import review_url
    from ewp.stores.review import ReviewStore

    review = ReviewStore(review_url(Config(store=store), home))
    try:
        return review.flags_frame()
    finally:
        review.close()


def test_the_demo_config_is_the_default_force_on_a_smaller_grid_in_its_own_store() -> None:
    demo, default = load_config(DEMO_CONFIG), Config()
    assert demo.store == "demo" and default.store is None
    # Same force (generated once for both), same features, label and scoring.
    for section in ("seed", "home", "data", "synthetic", "features", "label", "scoring"):
        assert getattr(demo, section) == getattr(default, section), section
    assert len(demo.evaluation.test_dates) < len(default.evaluation.test_dates)
    assert {c.name for c in demo.evaluation.candidates} < {
        c.name for c in default.evaluation.candidates
    }


def test_demo_trains_and_scores_through_the_real_flows_into_its_own_store(
    demo_runs: DemoRuns,
) -> None:
    home = demo_runs.home
    assert demo_runs.first.exit_code == 0, demo_runs.first.output
    # Registered like `ewp train` does: a version of ewp-escalation, made champion.
    versions = registry(home, "demo").list_versions()
    assert versions["version"].tolist() == ["1"]
    assert versions["is_champion"].tolist() == [True]
    model_id = versions["model_id"].iloc[0]
    assert (home / "stores" / "demo" / "mlflow.db").is_file()
    # Scored like `ewp score` does: the champion's list in the demo's run folder and store.
    run_dir = home / "runs" / "small-demo" / WEEK
    flags = pd.read_csv(run_dir / "flags.csv", keep_default_na=False)
    assert len(flags) == 15
    assert (flags["model_version"] == f"{model_id} (v1)").all()
    assert sorted(stored_flags(home, "demo")["flag_id"]) == sorted(flags["flag_id"])
    # Nothing in the default store, which a real run uses.
    assert not (home / "review.db").exists()
    assert not (home / "mlflow.db").exists()
    lines = demo_runs.first.output.splitlines()
    # Each long step of both flows reported as it finished (no terminal here: one line each).
    steps = [line.rsplit(" (", 1)[0] for line in lines if line.startswith("✓ ")]
    assert steps[:2] == [
        "✓ Generating the synthetic force (3,000 officers, once)",
        "✓ Reading and validating the export: 5,879 rows read = 5,879 accepted + 0 quarantined",
    ]
    assert "✓ Evaluating 2 candidates at 1 test date" in steps
    assert steps[-2:] == [
        "✓ Loading the champion from the model registry",
        "✓ Scoring every serving officer; the list of 2021-12-27",
    ]
    assert f"Weekly report: {run_dir / 'report.html'}" in lines
    assert lines[-2:] == [
        "Next, a real weekly list (the default config, in its own store apart from the demo's):",
        "  ewp train && ewp score",
    ]


def test_demo_rerun_is_byte_identical_and_registers_nothing_new(demo_runs: DemoRuns) -> None:
    assert demo_runs.second.exit_code == 0, demo_runs.second.output
    run_dir = demo_runs.home / "runs" / "small-demo" / WEEK
    for name in OUTPUTS:
        assert (run_dir / name).read_bytes() == demo_runs.first_bytes[name], name
    assert registry(demo_runs.home, "demo").list_versions()["version"].tolist() == ["1"]
    assert "already registered; champion unchanged" in demo_runs.second.output


def test_the_next_step_makes_a_real_list_apart_from_the_demos(demo_runs: DemoRuns) -> None:
    home, real = demo_runs.home, demo_runs.real_config
    # Before training, scoring the real store says what to do, in one line.
    refused = ewp("--home", home, "score", "-c", real)
    assert refused.exit_code == 2
    failed_step, message = refused.output.splitlines()[-2:]
    assert failed_step.startswith("✗ Loading the champion from the model registry (")
    assert message == (
        f"No champion yet: run `ewp train -c {real}` first: it evaluates the candidates and "
        "makes the best one champion (or make a registered version champion with `ewp models "
        "promote`)"
    )
    assert "Traceback" not in refused.output
    trained = ewp("--home", home, "train", "-c", real)
    assert trained.exit_code == 0, trained.output
    scored = ewp("--home", home, "score", "-c", real)
    assert scored.exit_code == 0, scored.output
    assert "Weekly list of 2021-12-27: 15 flagged (15 new), 0 suppressed" in scored.output
    # Two stores, one list a week in each: no officer twice in a week.
    for store in ("demo", None):
        flags = stored_flags(home, store)
        assert len(flags) == 15, store
        assert not flags.duplicated(["as_of", "officer_id"]).any(), store
    assert registry(home, None).list_versions()["version"].tolist() == ["1"]
    # One synthetic force for both configs: generated once.
    assert len(list((home / "synthetic").glob("*/export"))) == 1


def test_ground_truth_is_kept_out_of_the_export(demo_runs: DemoRuns) -> None:
    (export,) = (demo_runs.home / "synthetic").glob("*/export")
    top_level = sorted(p.name for p in export.iterdir() if p.is_file())
    assert top_level == ["notices.csv", "officers.csv", "outcomes.csv"]
    assert (export / "ground_truth" / "latent_risk.parquet").exists()
