"""The Chicago configuration end to end on the real export (read from ../shared, never copied):
ingest, features, training, evaluation and the fairness audit, twice, with the same numbers.

The full run (`ewp evaluate -c configs/chicago.yaml`, five test dates, seven candidates) takes
minutes and its figures are in docs/chicago.md; this test keeps the config's data, label, features
and fairness settings and shrinks only the grid (one test date, one year of training history,
the headline rule in complaints and in allegations, and the scorecard), so it checks the wiring
on the real quirks in well under a minute.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import CandidateConfig, Config, load_config

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "chicago-cpdp-2000-2016"


def small_chicago() -> Config:
    """configs/chicago.yaml with an absolute data path and a one-date, two-candidate grid."""
    config = load_config(ROOT / "configs" / "chicago.yaml")
    assert config.data.ingest is not None
    ingest = config.data.ingest.model_copy(update={"from_dir": REAL})
    rules = {c.name: c for c in config.evaluation.candidates}
    evaluation = config.evaluation.model_copy(
        update={
            "test_dates": (dt.date(2014, 1, 1),),
            "training_history_days": 365,
            "bootstrap_samples": 100,
            "candidates": (
                rules["rule_3_in_180d"],  # the headline rule, in complaints
                rules["rule_3_notices_in_180d"],  # the same in allegations
                CandidateConfig(
                    name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}
                ),
            ),
        }
    )
    return config.model_copy(
        update={
            "data": config.data.model_copy(update={"ingest": ingest}),
            "evaluation": evaluation,
            "fairness": config.fairness.model_copy(update={"bootstrap_samples": 100}),
        }
    )


@pytest.fixture(scope="module")
def two_runs(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory):
    if not (REAL / "accused.csv.gz").is_file():
        pytest.skip(f"the real CPDP data is not at {REAL} (../shared is absent)")
    from ewp.flows.train import run_train

    config = small_chicago()
    # One data home: the rerun reuses the ingested export (test_adapter_cpdp checks that a
    # second ingest writes the same bytes) and must reproduce features, fits and audit.
    home = tmp_path_factory.mktemp("chicago")
    return [run_train(config, home, publish=False) for _ in range(2)]


def test_the_real_export_runs_end_to_end_with_an_audit(two_runs) -> None:
    first, _ = two_runs
    # One test date, one list per candidate and size: the rules' volume, top 50 and top 1%.
    assert set(first.metrics["test_as_of"].dt.date) == {dt.date(2014, 1, 1)}
    every_rule = first.headline_by_rule  # one block of rows per rule's flag volume
    table = every_rule.loc[every_rule["rule"] == "rule_3_in_180d"].set_index("candidate")
    rule = table.loc["rule_3_in_180d"]
    assert rule["tp"] + rule["fp"] == rule["k"] > 0
    assert rule["tp_ratio"] == rule["tp_ratio_low"] == rule["tp_ratio_high"] == 1.0
    assert table.loc["scorecard", "k"] == rule["k"]  # compared at equal volume
    # One allegation per complaint and officer here: both ways of counting flag the same.
    in_allegations = table.loc["rule_3_notices_in_180d"]
    assert (in_allegations["tp"], in_allegations["fp"]) == (rule["tp"], rule["fp"])
    # The gate compares with the rule (fairness.gate: relative_to_rule, the default), which is
    # never further from parity than itself: it always passes, so a champion is always selected
    # and audited by race and gender with the configured reference groups.
    selection = first.selection.set_index("candidate")
    assert selection.loc["rule_3_in_180d", "gate_passed"]
    assert first.champion in {"rule_3_in_180d", "scorecard"}
    by_group = first.audit_by_group
    references = by_group.loc[by_group["verdict"] == "reference", ["attribute", "group"]]
    assert {("ethnicity", "White"), ("gender", "Male")} <= set(map(tuple, references.values))
    assert first.audit_report is not None and first.audit_report.is_file()


def test_a_rerun_gives_the_same_numbers(two_runs) -> None:
    first, second = two_runs
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    pd.testing.assert_frame_equal(first.headline_by_rule, second.headline_by_rule)
    pd.testing.assert_frame_equal(first.audit_by_group, second.audit_by_group)
    for name in ("headline.csv", "selection.csv", "audit_by_split.csv"):
        assert (first.run_dir / name).read_bytes() == (second.run_dir / name).read_bytes()
