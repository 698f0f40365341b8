"""The promotion gate: an unfair candidate is blocked, and passes only with a written override."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ewp.models.evaluation import GateDecision, select_champion


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
    from ewp.models.selection import gate_with_overrides

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
    from ewp.models.selection import gate_with_overrides

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
    from ewp.core.config import FeatureConfig
    from ewp.features.registry import feature_specs
    from ewp.reports.model_card import render_model_card

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


# --- the gate against today's practice ------------------------------------------------------
def _force(lists: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Two groups of 4,000 officers (400 go on to escalate); in A every list flags 200 who
    escalate and 360 who do not (false positive rate 0.1); in B each list flags its own
    (true positives, false positives), the false positives from the first officers who do not
    escalate, or from the last for a negative count. One column per list."""
    rows = []
    for group in ("A", "B"):
        label = np.r_[np.ones(400), np.zeros(3600)]
        frame = pd.DataFrame(
            {"officer_id": [f"{group}{i}" for i in range(4000)], "ethnicity": group, "label": label}
        )
        for column, (tp, fp) in lists.items():
            tp, fp = (200, 360) if group == "A" else (tp, fp)
            negatives = np.arange(3600) < fp if fp >= 0 else np.arange(3600) >= 3600 + fp
            frame[column] = np.r_[np.arange(400) < tp, negatives]
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


def _select(force: pd.DataFrame, precision: dict[str, float], config) -> tuple:
    """Audit every list against shared references, gate it, select the most precise
    candidate the gate passes; returns the selection, the gate decisions and the findings."""
    from ewp.models.fairness import band_breaches, fairness_gate
    from ewp.models.selection import gate_with_overrides
    from ewp.reports.audit import GateSummary, breach_findings
    from tests.builders import audit_lists

    names = list(precision)
    audits, comparisons = audit_lists(force, names, config=config, rule="rule", seed=3)
    relative = config.gate == "relative_to_rule"
    decisions = gate_with_overrides(
        {
            name: fairness_gate(
                audits[name],
                config=config,
                comparison=comparisons[name] if relative else None,
                rule="rule",
            )
            for name in names
        },
        {},
    )
    table = pd.DataFrame(
        {
            "test_as_of": "2020",
            "candidate": names,
            "list": "top_1pct",
            "precision": [precision[n] for n in names],
        }
    )
    selection = select_champion(
        table, list_name="top_1pct", eligible=dict.fromkeys(names, True), gate=decisions.__getitem__
    )
    summary = GateSummary(
        mode=config.gate,
        rule="rule",
        champion=selection.champion,
        passed={n: decisions[n].passed for n in names},
        breaches=band_breaches(audits, metrics=config.gate_metrics),
    )
    return selection, decisions, breach_findings(summary, config)


# In B, false positive rates: the rule 0.2 (ratio 2.0 to A), "similar" 0.2 too but on other
# officers, "better" 0.15 (1.5), "worse" 0.4 (4.0); every one is outside the 0.8–1.25 band,
# the rule included.
EVERY_LIST_BREACHES = {
    "rule": (200, 720),
    "similar": (200, -720),
    "better": (200, 540),
    "worse": (200, 1440),
}
PRECISION = {"rule": 0.10, "similar": 0.20, "better": 0.15, "worse": 0.30}


def test_every_candidate_breaches_the_band_yet_a_champion_no_worse_than_the_rule_is_chosen() -> (
    None
):
    from ewp.core.config import FairnessConfig

    config = FairnessConfig(attributes=("ethnicity",), bootstrap_samples=400)
    selection, decisions, findings = _select(_force(EVERY_LIST_BREACHES), PRECISION, config)
    # "worse" is the most precise but further from parity than the rule: blocked. The most
    # precise of the rest, "similar", is no worse than the rule and becomes champion.
    assert selection.champion == "similar"
    assert not decisions["worse"].passed
    assert decisions["worse"].reason.startswith(
        "blocked, outside the band 0.8–1.25 and further from parity than rule: ethnicity 'B': "
    )
    assert all(decisions[name].passed for name in ("rule", "similar", "better"))
    # The breach the champion shares with the rule is on the record, in the gate's reason ...
    recorded = selection.table.set_index("candidate").loc["similar", "gate_reason"]
    assert recorded.startswith("passed; outside the band 0.8–1.25 but not clearly further from ")
    assert "false_positive_rate ratio 2.00" in recorded and "; rule 2.00" in recorded
    # ... and in plain words, for every option, the current rule included.
    assert findings[0].startswith("The fairness gate compared every candidate with the force's")
    assert (
        "Outside the 0.8–1.25 band for every option, the current rule included: B officers on "
        "false positive rate (rule 2.00×, similar 2.00× the A reference)"
    ) in findings[1]
    assert findings[-1].startswith("A breach the current rule shares is harm already")


def test_the_absolute_gate_blocks_them_all_and_the_relative_gate_keeps_the_rule() -> None:
    from ewp.core.config import FairnessConfig

    absolute = FairnessConfig(attributes=("ethnicity",), bootstrap_samples=400, gate="absolute")
    selection, _, findings = _select(_force(EVERY_LIST_BREACHES), PRECISION, absolute)
    assert selection.champion is None
    assert findings[1] == "No candidate passed the gate: there is no champion."
    # Only candidates worse than the rule: the rule itself is the champion (the status quo).
    relative = absolute.model_copy(update={"gate": "relative_to_rule"})
    worse_only = {"rule": EVERY_LIST_BREACHES["rule"], "worse": EVERY_LIST_BREACHES["worse"]}
    selection, decisions, _ = _select(_force(worse_only), {"rule": 0.1, "worse": 0.3}, relative)
    assert selection.champion == "rule" and not decisions["worse"].passed


def test_a_candidate_flagging_the_rules_officers_and_more_is_further_from_parity() -> None:
    # Paired: "more" flags every officer the rule flags in B and 36 more who do not escalate
    # (false positive ratio 2.1 against 2.0). Measured on the same officers that small step
    # away from parity is certain, so the gate blocks it.
    from ewp.core.config import FairnessConfig

    config = FairnessConfig(attributes=("ethnicity",), bootstrap_samples=400)
    lists = {"rule": EVERY_LIST_BREACHES["rule"], "more": (200, 756)}
    _, decisions, _ = _select(_force(lists), {"rule": 0.1, "more": 0.3}, config)
    assert not decisions["more"].passed and decisions["rule"].passed


def test_a_rule_leaning_the_other_way_does_not_excuse_a_candidate() -> None:
    # The rule flags B's officers who do not escalate half as often as A's (ratio 0.5); the
    # candidate twice as often (2.0). Both are as far from parity, on opposite sides: the
    # candidate makes B's officers worse off than the rule ever did, and is blocked.
    from ewp.core.config import FairnessConfig

    config = FairnessConfig(attributes=("ethnicity",), bootstrap_samples=400)
    lists = {"rule": (200, 180), "opposite": (200, 720)}
    _, decisions, _ = _select(_force(lists), {"rule": 0.1, "opposite": 0.3}, config)
    assert not decisions["opposite"].passed and decisions["rule"].passed
    assert "false_positive_rate ratio 2.00" in decisions["opposite"].reason
    assert "; rule 0.50" in decisions["opposite"].reason


def test_a_rule_that_flags_nobody_is_still_audited_and_passes_its_own_gate() -> None:
    # A rule list may be short, or empty (a rule flags whom it flags, never padded): every
    # candidate is audited, the empty rule too, and the gate still compares with it.
    from ewp.core.config import Config, FairnessConfig
    from ewp.flows.audit import audit_candidates, audit_rows, gate_decisions
    from tests.builders import make_force

    officers = [
        {"officer_id": f"O{i:03d}", "joined_on": "2010-01-01", "ethnicity": "AB"[i % 2]}
        for i in range(200)
    ]
    data = make_force(officers, [])
    as_of = pd.Timestamp("2020-01-01")
    rows = pd.DataFrame(
        {
            "officer_id": [o["officer_id"] for o in officers],
            "as_of": as_of,
            "notices_365d": 0,
            "findings_case_to_answer_all": 0,
            "findings_no_case_all": 0,
        }
    )
    labels = pd.Series((np.arange(200) % 10 == 0).astype(float))
    lists = pd.DataFrame(
        {
            "candidate": ["rule", "model"],
            "test_as_of": as_of,
            # The model: 20 A officers (even numbers) and 5 B officers (odd).
            "officer_ids": [[], [f"O{i:03d}" for i in [*range(0, 40, 2), *range(1, 10, 2)]]],
        }
    )
    config = Config(fairness=FairnessConfig(attributes=("ethnicity",), bootstrap_samples=200))
    block = audit_rows(data=data, rows=rows, labels=labels, lists=lists, config=config)
    audited = audit_candidates(block, config=config, rule="rule")
    assert set(audited.audits) == {"rule", "model"}
    rule_rates = audited.audits["rule"].by_group.set_index(["group", "metric"])["value"]
    assert rule_rates.loc[("A", "flag_rate")] == 0 == rule_rates.loc[("B", "flag_rate")]
    decisions = gate_decisions(audited, config=config, rule="rule")
    assert decisions["rule"].passed
    # The model flags B at a quarter of A's rate: the rule, flagging nobody, is at parity, so
    # the model is further from parity than the rule, and blocked.
    assert not decisions["model"].passed
    assert "flag_rate ratio 0.25" in decisions["model"].reason
    assert "; rule 1.00" not in decisions["model"].reason  # 0 / 0 is no ratio to print
    assert "; rule no ratio (its reference rate is 0)" in decisions["model"].reason


def test_a_candidate_audited_among_every_list_or_in_parts_equals_its_audit_alone() -> None:
    # A test block's audit input is merged once with every candidate's list (audit_rows), and
    # the selected model is later audited on it alone (audit_by_split): merging by more lists
    # splits an officer's rows finer, which must change none of the candidate's numbers; nor
    # must building the input a part of the block's dates at a time (score_split's parts).
    from ewp.core.config import Config, FairnessConfig
    from ewp.flows.audit import AuditRows, audit_candidates, audit_rows, candidate_sources
    from tests.builders import make_force

    officers = [
        {
            "officer_id": f"O{i:03d}",
            "joined_on": "2010-01-01",
            "ethnicity": "AB"[i % 2],
            "gender": "FM"[i % 3 == 0],
        }
        for i in range(120)
    ]
    data = make_force(officers, [])
    dates = [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01")]
    rows = pd.DataFrame(
        {
            "officer_id": [o["officer_id"] for o in officers] * 2,
            "as_of": np.repeat(dates, 120),
            "notices_365d": np.arange(240) % 4,
            "findings_case_to_answer_all": np.arange(240) % 2,
            "findings_no_case_all": np.arange(240) % 3,
        }
    )
    labels = pd.Series((np.arange(240) % 7 == 0).astype(float))
    # The two lists overlap and differ from date to date, so the merged rows differ.
    lists = pd.DataFrame(
        {
            "candidate": ["model", "model", "other", "other"],
            "test_as_of": dates * 2,
            "officer_ids": [
                [f"O{i:03d}" for i in range(0, 30)],
                [f"O{i:03d}" for i in range(10, 40)],
                [f"O{i:03d}" for i in range(0, 120, 4)],
                [f"O{i:03d}" for i in range(1, 120, 5)],
            ],
        }
    )
    config = Config(
        fairness=FairnessConfig(
            attributes=("ethnicity", "gender"), bootstrap_samples=200, min_group_size=5
        )
    )
    shared = audit_rows(data=data, rows=rows, labels=labels, lists=lists, config=config)
    alone = audit_rows(
        data=data,
        rows=rows,
        labels=labels,
        lists=lists.loc[lists["candidate"] == "model"],
        config=config,
    )
    assert len(shared.frame) > len(alone.frame)  # merged finer
    # The block scored in two parts, a date each, and their audit inputs put together.
    parts = AuditRows.concat(
        [
            audit_rows(
                data=data,
                rows=rows.loc[rows["as_of"] == date].reset_index(drop=True),
                labels=labels[(rows["as_of"] == date).to_numpy()].reset_index(drop=True),
                lists=lists.loc[lists["test_as_of"] == date],
                config=config,
            )
            for date in dates
        ]
    )
    references = {"ethnicity": ("A", "given"), "gender": ("M", "given")}
    (among,) = audit_candidates(
        shared.only(["model"]), config=config, references=references
    ).audits.values()
    (own,) = audit_candidates(alone, config=config, references=references).audits.values()
    (in_parts,) = audit_candidates(
        parts.only(["model"]), config=config, references=references
    ).audits.values()
    for audited in (own, in_parts):
        pd.testing.assert_frame_equal(among.by_group, audited.by_group)
    assert among.by_group["value"].notna().any()
    # Where its disparities come from, asked of the rows merged by every list (as training
    # asks it of the selected candidate), equals the same asked of its own rows or the parts.
    sources = [
        candidate_sources(block, "model", config=config, references=references)
        for block in (shared, alone, parts)
    ]
    for other in sources[1:]:
        pd.testing.assert_frame_equal(sources[0], other)
    assert sources[0]["flag_ratio"].notna().any()


def test_gate_summary_says_what_ungated_age_would_have_blocked() -> None:
    """End to end through ``audit_candidates`` and ``gate_summary`` (as ``ewp train`` runs
    them) with the default config: the model flags non-escalating officers aged 45–54 five
    times as often as those aged 25–34 where the rule is at parity. Age is not gated, so the
    model passes; the findings name the band, the model's ratio and the rule's."""
    from ewp.core.config import Config
    from ewp.flows.audit import AuditRows, audit_candidates, gate_decisions, gate_summary
    from ewp.reports.audit import breach_findings

    config = Config()
    assert "age_band" not in config.fairness.gated_attributes
    frames = []
    for band, (model_tp, model_fp) in (("25–34", (20, 40)), ("45–54", (50, 200))):
        label = np.r_[np.ones(100), np.zeros(900)]
        frames.append(
            pd.DataFrame(
                {
                    "officer_id": [f"{band}-{i}" for i in range(1000)],
                    "ethnicity": "White",
                    "gender": "Male",
                    "age_band": band,
                    "label": label,
                    "model": np.r_[np.arange(100) < model_tp, np.arange(900) < model_fp],
                    "rule": np.r_[np.arange(100) < 20, np.arange(900) < 40],
                }
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    rows = AuditRows(
        frame.drop(columns=["model", "rule"]),
        {name: frame[name].to_numpy() for name in ("model", "rule")},
    )
    audited = audit_candidates(rows, config=config, rule="rule")
    decisions = gate_decisions(audited, config=config, rule="rule")
    assert decisions["model"].passed
    selection = pd.DataFrame({"candidate": ["model", "rule"], "gate_passed": [True, True]})
    summary = gate_summary(
        audited,
        options=["model", "rule"],
        config=config,
        rule="rule",
        selection=selection,
        champion="model",
    )
    assert list(summary.ungated) == ["age_band"]
    against = summary.ungated_against
    assert set(zip(against["group"], against["metric"], strict=True)) == {
        ("45–54", "false_positive_rate"),
        ("45–54", "flag_rate"),
    }
    findings = breach_findings(summary, config.fairness)
    would_block = next(line for line in findings if line.startswith("Gated, age band would"))
    assert "officers aged 45–54 on false positive rate (model 5.00×, rule 1.00× the 25–34" in (
        would_block
    )
    # Gated by config, the same model is blocked on that band.
    gated = config.model_copy(
        update={
            "fairness": config.fairness.model_copy(
                update={"gate_attributes": ("ethnicity", "gender", "age_band")}
            )
        }
    )
    blocked = gate_decisions(audited, config=gated, rule="rule")["model"]
    assert not blocked.passed and "age_band '45–54'" in blocked.reason
