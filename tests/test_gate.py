"""The promotion gate: an unfair candidate is blocked, and passes only with a written override."""

from __future__ import annotations

import pandas as pd

from models.evaluation import GateDecision, select_champion


def metrics() -> pd.DataFrame:
    rows = [
        ("2020", "fair", "top_1pct", 10, 3, 7),
        ("2020", "unfair", "top_1pct", 10, 5, 5),  # more precise, but blocked by the gate
    ]
    return pd.DataFrame(rows, columns=["test_as_of", "candidate", "list", "k", "tp", "fp"]).assign(
        precision=lambda f: f["tp"] / f["k"]
    )


def decisions() -> dict[str, GateDecision]:
    return {
        "fair": GateDecision(passed=True),
        "unfair": GateDecision(
            passed=False,
            reason="blocked, outside the band 0.8–1.25: ethnicity 'Black': flag_rate ratio 1.90",
        ),
    }


def test_gate_blocks_the_unfair_candidate() -> None:
    from flows.audit import gate_with_overrides

    gates = gate_with_overrides(decisions(), {})
    selection = select_champion(
        metrics(),
        list_name="top_1pct",
        eligible={"fair": True, "unfair": True},
        gate=gates.__getitem__,
    )
    assert selection.champion == "fair"
    blocked = selection.table.set_index("candidate").loc["unfair"]
    assert not blocked["gate_passed"] and "flag_rate ratio 1.90" in blocked["gate_reason"]


def test_written_override_lets_it_through_and_keeps_both_reasons() -> None:
    from flows.audit import gate_with_overrides

    reason = "Flag-rate gap explained by unit deployment; approved by the ethics board 2025-01-06"
    gates = gate_with_overrides(decisions(), {"unfair": reason})
    selection = select_champion(
        metrics(),
        list_name="top_1pct",
        eligible={"fair": True, "unfair": True},
        gate=gates.__getitem__,
    )
    assert selection.champion == "unfair"
    recorded = selection.table.set_index("candidate").loc["unfair", "gate_reason"]
    assert recorded.startswith("OVERRIDDEN: " + reason)
    assert "flag_rate ratio 1.90" in recorded  # the objection stays on the record


def test_model_card_records_the_override() -> None:
    from ewp.config import FeatureConfig
    from features.registry import feature_specs
    from reports.model_card import render_model_card

    table = pd.DataFrame(
        {
            "candidate": ["unfair", "rule"],
            "k": [10, 10],
            "tp": [5.0, 3.0],
            "fp": [5.0, 7.0],
            "precision": [0.5, 0.3],
            "tp_ratio": [5 / 3, 1.0],
            "fp_change": [-2 / 7, 0.0],
        }
    )
    reason = "Flag-rate gap explained by unit deployment; approved by the ethics board"
    card = render_model_card(
        model_id="scorecard-x",
        candidate="unfair",
        kind="scorecard",
        params={},
        interpretable=True,
        training_window=("2019-01-01", "2021-12-01"),
        data_fingerprint="f" * 64,
        extracted_on="2025-01-01",
        label_description="label",
        features=feature_specs(FeatureConfig()),
        headline=table,
        summary=pd.DataFrame(
            {
                "candidate": ["unfair"],
                "list": ["top_1pct"],
                "k": [10],
                "tp": [5.0],
                "fp": [5.0],
                "precision": [0.5],
                "precision_worst": [0.5],
                "precision_best": [0.5],
                "mean_recall": [0.1],
                "average_precision": [0.2],
                "brier": [0.01],
                "test_dates": [1],
            }
        ),
        selection=pd.DataFrame(
            {
                "candidate": ["unfair"],
                "mean_precision": [0.5],
                "worst_regret": [0.0],
                "eligible": [True],
                "gate_passed": [True],
                "gate_reason": ["OVERRIDDEN: x"],
                "interpretable_or_allowed": [True],
            }
        ),
        selection_metric="top_1pct.precision",
        rule_name="rule",
        gate_notes=["OVERRIDDEN: x"],
        override_reason=reason,
    )
    assert reason in card
