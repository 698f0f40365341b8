"""Evaluation tables, the equal-volume headline, stability and the selection rule, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewp.core.config import CandidateConfig, ScoringConfig
from ewp.models.credit import CreditBuilder, bootstrap_lists
from ewp.models.evaluation import (
    GateDecision,
    ListSize,
    draw_list,
    evaluate_split,
    headline,
    headline_intervals,
    list_metrics,
    list_sizes,
    pool_evaluations,
    select_champion,
    share_of_references,
    short_rule_lists,
    stability,
    tie_break_keys,
    top_order,
)


def test_list_sizes_names_and_ks() -> None:
    sizes = list_sizes(n_rows=250, sizes=[50], fractions=[0.01], rule_volumes={"rule_3_in_180d": 4})
    assert sizes == [
        ListSize("top_50", 50),
        ListSize("top_1pct", 3),  # ceil(250 * 0.01)
        ListSize("volume_rule_3_in_180d", 4),
    ]
    assert list_sizes(n_rows=20, sizes=[50], fractions=[], rule_volumes={})[0].k == 20


def test_list_metrics_on_a_hand_worked_ranking() -> None:
    y = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.1, 0.0])
    probs = np.array([0.9, 0.8, 0.7, 0.7, 0.1, 0.0])
    frame = list_metrics(
        y_true=y, scores=scores, probabilities=probs, sizes=[ListSize("a", 2), ListSize("b", 3)]
    ).set_index("list")
    # Top 2: 0.9 (pos), 0.8 (neg) -> TP 1, FP 1.
    assert frame.loc["a", ["tp", "fp", "precision"]].tolist() == [1.0, 1.0, 0.5]
    # Top 3: 0.7 is tied between a positive and a negative for one place: worst 1, best 2,
    # expected 1.5; recall = 1.5 / 3 positives.
    assert frame.loc["b", "tp_worst"] == 1 and frame.loc["b", "tp_best"] == 2
    assert frame.loc["b", "tp"] == pytest.approx(1.5)
    assert frame.loc["b", "recall"] == pytest.approx(0.5)
    # Brier: mean of (0.1^2, 0.8^2, 0.3^2, 0.7^2, 0.1^2, 1^2) = 2.24 / 6.
    assert frame.loc["a", "brier"] == pytest.approx(2.24 / 6)


def test_top_order_breaks_ties_by_officer_id_unless_given_keys() -> None:
    ids = np.array(["C", "B", "A"])
    assert top_order(ids, np.array([1.0, 1.0, 0.5]), 2).tolist() == [1, 0]
    keys = np.array([0, 9, 5], dtype=np.uint64)
    assert top_order(ids, np.array([1.0, 1.0, 1.0]), 2, tie_keys=keys).tolist() == [0, 2]


def test_random_tie_keys_ignore_id_order_and_change_with_the_date() -> None:
    ids = np.array([f"{i:04d}" for i in range(1000)])
    tied = np.zeros(1000)
    keys = tie_break_keys(ids, seed=7, as_of="2020-01-01")
    chosen = top_order(ids, tied, 500, tie_keys=keys)
    # Not the first 500 IDs (file order), but about half of them.
    assert 200 < (chosen < 500).sum() < 300
    # The same seed and date give the same list whatever the row order.
    shuffled = np.random.default_rng(0).permutation(1000)
    again = top_order(ids[shuffled], tied, 500, tie_keys=keys[shuffled])
    assert sorted(ids[shuffled][again]) == sorted(ids[chosen])
    later = tie_break_keys(ids, seed=7, as_of="2020-02-01")
    assert set(top_order(ids, tied, 500, tie_keys=later)) != set(chosen)


def metrics_frame(rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["test_as_of", "candidate", "list", "k", "tp", "fp"]).assign(
        precision=lambda f: f["tp"] / f["k"]
    )


def test_headline_pools_over_test_dates_at_the_rule_volume() -> None:
    m = metrics_frame(
        [
            ("2020", "rule", "volume_rule", 10, 4, 6),
            ("2021", "rule", "volume_rule", 10, 2, 8),
            ("2020", "model", "volume_rule", 10, 6, 4),
            ("2021", "model", "volume_rule", 10, 3, 7),
            ("2020", "model", "top_50", 50, 20, 30),
        ]
    )
    table = headline(m, rule="rule").set_index("candidate")
    # Model: 9 TP and 11 FP over 20 flags, rule: 6 TP and 14 FP.
    assert table.loc["model", "tp_ratio"] == pytest.approx(9 / 6)
    assert table.loc["model", "fp_change"] == pytest.approx(11 / 14 - 1)
    assert table.loc["model", "precision"] == pytest.approx(0.45)
    assert table.loc["rule", "tp_ratio"] == 1


def test_selection_rule_gate_black_box_and_regret_tie_break() -> None:
    m = metrics_frame(
        [
            ("2020", "a", "top_1pct", 10, 6, 4),
            ("2021", "a", "top_1pct", 10, 4, 6),  # mean 0.5, worst regret 0.2 (2021)
            ("2020", "b", "top_1pct", 10, 4, 6),
            ("2021", "b", "top_1pct", 10, 6, 4),  # mean 0.5, worst regret 0.2 (2020)
            ("2020", "c", "top_1pct", 10, 5, 5),
            ("2021", "c", "top_1pct", 10, 5, 5),  # mean 0.5, worst regret 0.1: wins the tie
            ("2020", "box", "top_1pct", 10, 9, 1),
            ("2021", "box", "top_1pct", 10, 9, 1),  # best, but a black box
        ]
    )
    eligible = {"a": True, "b": True, "c": True, "box": False}
    selection = select_champion(m, list_name="top_1pct", eligible=eligible)
    assert selection.champion == "c"
    assert selection.table["candidate"].tolist()[:3] == ["c", "a", "b"]

    def gate(name: str) -> GateDecision:
        return GateDecision(passed=name != "c", reason="flag-rate ratio outside 0.8-1.25")

    gated = select_champion(m, list_name="top_1pct", eligible=eligible, gate=gate)
    assert gated.champion == "a"  # a and b tie on mean and regret: name order
    row = gated.table.set_index("candidate").loc["c"]
    assert not row["eligible"] and row["gate_reason"].startswith("flag-rate ratio")
    nobody = select_champion(m, list_name="top_1pct", eligible={"box": False})
    assert nobody.champion is None


def test_stability_overlap_with_previous_list() -> None:
    lists = pd.DataFrame(
        {
            "candidate": ["m", "m", "m"],
            "test_as_of": ["2020", "2021", "2022"],
            "officer_ids": [["A", "B"], ["B", "C"], ["B", "C"]],
        }
    )
    table = stability(lists)
    assert table["jaccard"].tolist() == pytest.approx([1 / 3, 1.0])
    assert table["retained"].tolist() == pytest.approx([0.5, 1.0])


def test_promotion_needs_a_different_and_strictly_better_model() -> None:
    from ewp.models.evaluation import promotion_decision

    first = promotion_decision(
        metric="top_1pct.precision", candidate_score=0.1, champion_score=None, same_model=False
    )
    assert first.promote and "no champion" in first.reason
    better = promotion_decision(
        metric="top_1pct.precision", candidate_score=0.12, champion_score=0.1, same_model=False
    )
    assert better.promote and "0.1200 > 0.1000" in better.reason
    tie = promotion_decision(
        metric="top_1pct.precision", candidate_score=0.1, champion_score=0.1, same_model=False
    )
    assert not tie.promote
    same = promotion_decision(
        metric="top_1pct.precision", candidate_score=0.2, champion_score=0.1, same_model=True
    )
    assert not same.promote and "already the champion" in same.reason


def test_summary_pools_precision_over_dates_instead_of_averaging() -> None:
    from ewp.models.evaluation import summarise

    m = pd.DataFrame(
        {
            "test_as_of": ["2020", "2021"],
            "candidate": ["m", "m"],
            "list": ["volume_rule", "volume_rule"],
            "k": [0, 4],
            "tp": [0.0, 2.0],
            "fp": [0.0, 2.0],
            "tp_worst": [0, 2],
            "tp_best": [0, 2],
            "recall": [0.0, 0.5],
            "average_precision": [0.2, 0.4],
            "brier": [0.01, 0.03],
        }
    )
    row = summarise(m).iloc[0]
    # A date where the rule flags nobody adds no list: pooled precision is 2 / 4, not 0.25.
    assert row["precision"] == pytest.approx(0.5)
    assert row["tp"] == 2 and row["k"] == 4 and row["test_dates"] == 2
    assert row["average_precision"] == pytest.approx(0.3)


def test_by_split_pools_each_block_and_all() -> None:
    from ewp.models.evaluation import by_split

    m = metrics_frame(
        [
            ("2020-01", "m", "top_1pct", 10, 2, 8),
            ("2020-02", "m", "top_1pct", 10, 4, 6),
            ("2021-01", "m", "top_1pct", 10, 0, 10),
        ]
    ).assign(split=["2020", "2020", "2021"])
    table = by_split(m, list_name="top_1pct").set_index("split")
    assert table.loc["2020", ["k", "tp", "fp"]].tolist() == [20, 6, 14]
    assert table.loc["2020", "precision"] == pytest.approx(0.3)
    assert table.loc["all", "precision"] == pytest.approx(6 / 30)


def replicates_of(rows: list[tuple[str, list[str], list[int]]], samples: int, seed: int):
    """Lists at the rule's volume on one test date: (candidate, officer_ids, labels)."""
    officers = sorted({officer for _, ids, _ in rows for officer in ids})
    builder = CreditBuilder(np.array(officers))
    for name, ids, labels in rows:
        builder.add_listed(
            candidate=name,
            list_name="volume_rule",
            rows=np.array([officers.index(i) for i in ids]),
            labels=np.array(labels),
        )
    return bootstrap_lists(builder.build(), samples=samples, seed=seed)


def test_headline_intervals_of_an_identical_list_are_exact() -> None:
    replicates = replicates_of(
        [("rule", ["A", "B"], [1, 0]), ("same", ["B", "A"], [0, 1])], samples=200, seed=1
    )
    table = headline_intervals(replicates, rule="rule", confidence=0.9).set_index("candidate")
    assert table.loc["same"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert table.loc["rule"].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_headline_intervals_pair_officers_across_candidates() -> None:
    # The docstring's example: the rule flags A+ and B-, the model A+ and C+. Every replicate's
    # ratio is (wA + wC) / wA >= 1 (never below: the model also lists A), and the model has no
    # false positive while the rule has B, so fp_change is -1 wherever B is drawn.
    rows = [("rule", ["A", "B"], [1, 0]), ("model", ["A", "C"], [1, 1])]
    table = headline_intervals(replicates_of(rows, 500, 3), rule="rule", confidence=0.9)
    model = table.set_index("candidate").loc["model"]
    assert model["tp_ratio_low"] >= 1.0
    assert model["tp_ratio_high"] > 2.0
    assert model["fp_change_low"] == model["fp_change_high"] == -1.0
    again = headline_intervals(replicates_of(rows, 500, 3), rule="rule", confidence=0.9)
    pd.testing.assert_frame_equal(table, again)


def rule_candidates() -> list[CandidateConfig]:
    return [
        CandidateConfig(
            name="rule_a", kind="threshold_rule", params={"feature": "n180", "threshold": 3}
        ),
        CandidateConfig(
            name="rule_b", kind="threshold_rule", params={"feature": "n365", "threshold": 1}
        ),
    ]


def evaluated_on_itself(
    test: pd.DataFrame, labels: np.ndarray, candidates: list[CandidateConfig], **options: object
):
    """``evaluate_split`` trained and tested on the same hand-built rows (rules and rankers
    learn only rates, so the lists are exactly the hand-worked ones)."""
    return evaluate_split(
        train=test,
        train_labels=labels,
        train_weights=np.ones(len(test)),
        test=test,
        test_labels=labels,
        features=["n180", "n365"],
        candidates=candidates,
        seed=1,
        **{"sizes": (), "fractions": (), **options},
    )


def test_an_interval_contains_its_estimate_when_ids_follow_the_labels() -> None:
    """Issue 15 item 8: rule_b flags 20 officers, tied, for rule_a's 4 places; they hold 7
    positives, so its expected TP is 4 x 7/20 = 1.4, ratio 0.7 to rule_a's 2. A list broken by
    officer ID took the four lowest IDs, rule_a's own flags (IDs in a real export follow file
    order), so every replicate gave ratio 1: an interval [1, 1] around an estimate of 0.7."""
    n = 40
    ids = [f"{i:03d}" for i in range(n)]
    n180 = [3.0] * 4 + [0.0] * (n - 4)
    n365 = [3.0] * 4 + [1.0] * 16 + [0.0] * (n - 20)
    labels = np.array([1, 1, 0, 0] + [1] * 5 + [0] * (n - 9))
    test = pd.DataFrame(
        {"officer_id": ids, "as_of": pd.Timestamp("2020-01-01"), "n180": n180, "n365": n365}
    )
    evaluation = evaluated_on_itself(test, labels, rule_candidates())
    replicates = bootstrap_lists(evaluation.credit, samples=500, seed=2)
    table = headline(evaluation.metrics, rule="rule_a").merge(
        headline_intervals(replicates, rule="rule_a", confidence=0.95), on="candidate"
    )
    b = table.set_index("candidate").loc["rule_b"]
    assert b["tp"] == pytest.approx(1.4)
    assert b["tp_ratio"] == pytest.approx(0.7)
    assert b["tp_ratio_low"] <= b["tp_ratio"] <= b["tp_ratio_high"]
    assert b["fp_change_low"] <= b["fp_change"] <= b["fp_change_high"]


def test_share_of_references_divides_the_champions_precision_by_each_reference() -> None:
    """Champion 0.06 against a ceiling of 0.08 (0.75) and an oracle of 0.12 (0.5); a reference
    the run did not have (a real force) gives no row."""
    selection = pd.DataFrame(
        {
            "candidate": ["oracle", "ceiling", "champion", "rule"],
            "mean_precision": [0.12, 0.08, 0.06, 0.01],
        }
    )
    table = share_of_references(
        selection, champion="champion", references=["ceiling", "oracle", "missing"]
    )
    assert table["reference"].tolist() == ["ceiling", "oracle"]
    assert table["share"].tolist() == pytest.approx([0.75, 0.5])
    assert table["champion_precision"].tolist() == pytest.approx([0.06, 0.06])


# --- thin data: the evaluation and selection never crash -----------------------------------


THIN_CANDIDATES = [
    *rule_candidates(),
    CandidateConfig(
        name="ranker", kind="count_ranker", params={"feature": "n365", "tie_breaker": "n180"}
    ),
    CandidateConfig(name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}),
]


def thin_frame(n180: list[float], n365: list[float], day: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "officer_id": [f"{i:03d}" for i in range(len(n180))],
            "as_of": pd.Timestamp(day),
            "n180": n180,
            "n365": n365,
        }
    )


def thin_evaluation(tests: list[tuple[pd.DataFrame, list[int]]]):
    """The pure evaluation pipeline on tiny test blocks: every table, the selection at top_2
    and stability; the training rows hold both labels."""
    train = thin_frame([0.0, 1.0, 3.0, 4.0], [0.0, 2.0, 3.0, 5.0], "2019-01-01")
    train_labels = np.array([0, 0, 1, 1])
    evaluations = [
        evaluate_split(
            train=train,
            train_labels=train_labels,
            train_weights=np.ones(len(train)),
            test=test,
            test_labels=np.array(labels),
            features=["n180", "n365"],
            candidates=THIN_CANDIDATES,
            seed=1,
            sizes=(2,),
            fractions=(0.01,),
            curve_sizes=(1, 5),
        )
        for test, labels in tests
    ]
    pooled = pool_evaluations(
        evaluations, rules=["rule_a", "rule_b"], samples=50, confidence=0.9, seed=1
    )
    eligible = {c.name: True for c in THIN_CANDIDATES}
    selection = select_champion(pooled.metrics, list_name="top_2", eligible=eligible)
    churn = stability(pooled.lists.loc[pooled.lists["list"] == "top_2"])
    return pooled, selection, churn


def test_a_headline_rule_that_flags_nobody_gives_undefined_ratios_not_a_crash() -> None:
    """Issue 15 item 7: KeyError 'tp' when the headline rule flagged nobody on every test date
    (a 1,500-officer force, test dates 2022 and 2023)."""
    quiet = [
        (thin_frame([0.0, 1.0, 2.0], [1.0, 1.0, 0.0], "2022-01-01"), [1, 0, 0]),
        (thin_frame([0.0, 0.0, 1.0], [0.0, 2.0, 1.0], "2023-01-01"), [0, 1, 0]),
    ]
    pooled, selection, _ = thin_evaluation(quiet)
    table = pooled.headline("rule_a").set_index("candidate")
    assert (table["k"] == 0).all() and (table["tp"] == 0).all()
    assert table[["tp_ratio", "tp_ratio_low", "tp_ratio_high", "fp_change_low"]].isna().all().all()
    # rule_b flags 2 then 2 officers: its own comparison is defined.
    assert pooled.headline("rule_b").set_index("candidate").loc["rule_b", "k"] == 4
    assert selection.champion is not None


def test_no_positive_anywhere_leaves_recall_and_ratios_undefined() -> None:
    nobody = [(thin_frame([3.0, 1.0, 0.0], [3.0, 1.0, 0.0], "2022-01-01"), [0, 0, 0])]
    pooled, selection, _ = thin_evaluation(nobody)
    assert pooled.summary["average_precision"].isna().all()
    assert (pooled.summary["precision"].dropna() == 0).all()
    assert pooled.intervals["recall"].isna().all()
    assert pooled.headline("rule_a")["tp_ratio"].isna().all()
    assert selection.table["mean_precision"].eq(0).all()


def test_one_officer_and_all_tied_scores() -> None:
    one = [(thin_frame([5.0], [5.0], "2022-01-01"), [1])]
    pooled, _, churn = thin_evaluation(one)
    assert (pooled.metrics["k"] <= 1).all()
    assert pooled.headline("rule_a").set_index("candidate").loc["scorecard", "tp_ratio"] == 1.0
    assert churn.empty  # one date: nothing to compare with
    # Every officer the same on two dates: each of the 4 holds half of a top-2 place.
    tied = [
        (thin_frame([1.0] * 4, [1.0] * 4, "2022-01-01"), [1, 0, 0, 0]),
        (thin_frame([1.0] * 4, [1.0] * 4, "2022-02-01"), [0, 0, 0, 1]),
    ]
    pooled, selection, churn = thin_evaluation(tied)
    assert selection.champion == "ranker"  # all tied at 0.25 and no regret: name order
    top_2 = pooled.intervals.loc[pooled.intervals["list"] == "top_2"].set_index("candidate")
    assert top_2["tp"].tolist() == pytest.approx([1.0] * len(THIN_CANDIDATES))
    assert top_2["precision"].tolist() == pytest.approx([0.25] * len(THIN_CANDIDATES))
    assert (top_2["precision_low"] <= 0.25).all() and (top_2["precision_high"] >= 0.25).all()
    assert len(churn) == len(THIN_CANDIDATES)


def test_a_short_rule_list_is_filled_by_its_own_feature_and_says_so() -> None:
    """Issue 21 item 2: rule_a flags one officer ("009"); its top-3 list used to take "000" and
    "001" (scores tied at 0, ID order). Now the officers with 2 notices in 180 days follow;
    the list carries how many are the rule's own flags."""
    test = thin_frame(
        [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 3.0],
        [0.0] * 9 + [3.0],
        "2022-01-01",
    )
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0, 1])
    evaluation = evaluated_on_itself(test, labels, rule_candidates(), sizes=(3,))
    lists = evaluation.lists.set_index(["candidate", "list"])
    row = lists.loc[("rule_a", "top_3")]
    assert row["officer_ids"][0] == "009" and sorted(row["officer_ids"][1:]) == ["005", "007"]
    assert row["rule_flags"] == 1
    assert lists.loc[("rule_a", "volume_rule_b"), "rule_flags"] == 1
    metrics = evaluation.metrics.set_index(["candidate", "list"])
    assert metrics.loc[("rule_a", "top_3"), ["tp", "rule_flags"]].tolist() == [2.0, 1.0]
    short = short_rule_lists(
        evaluation.metrics, fills={"rule_a": "then by n180", "rule_b": "then by n365"}
    )
    assert short.to_dict("records") == [
        {
            "rule": "rule_a",
            "list": "top_3",
            "test_dates": 1,
            "short_dates": 1,
            "places": 3,
            "rule_flags": 1.0,
            "filled_by": "then by n180",
        },
        {
            "rule": "rule_b",
            "list": "top_3",
            "test_dates": 1,
            "short_dates": 1,
            "places": 3,
            "rule_flags": 1.0,
            "filled_by": "then by n365",
        },
    ]


def test_kept_lists_keeps_only_the_named_lists_and_changes_no_metric() -> None:
    """The flows keep officers only for the selection list; every metric, rule flag count
    included, is the same as when every list is kept, and the kept list is identical."""
    test = thin_frame(
        [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 2.0, 1.0, 3.0],
        [0.0, 1.0, 0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 1.0, 3.0],
        "2022-01-01",
    )
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 1, 0, 1])
    candidates = [*rule_candidates(), THIN_CANDIDATES[2]]
    every = evaluated_on_itself(test, labels, candidates, sizes=(3,))
    kept = evaluated_on_itself(test, labels, candidates, sizes=(3,), kept_lists=("top_3",))
    pd.testing.assert_frame_equal(every.metrics, kept.metrics)
    assert set(every.lists["list"]) == {"top_3", "volume_rule_a", "volume_rule_b"}
    assert kept.lists["list"].tolist() == ["top_3"] * 3
    pd.testing.assert_frame_equal(
        kept.lists.reset_index(drop=True),
        every.lists.loc[every.lists["list"] == "top_3"].reset_index(drop=True),
    )
    assert evaluated_on_itself(test, labels, candidates, kept_lists=()).lists.empty


def test_draw_list_caps_per_unit_and_cuts_at_k_or_at_a_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.5])
    probabilities = np.array([0.40, 0.30, 0.25, 0.20, 0.10, 0.10])
    units = np.array(["U1", "U1", "U1", "U2", "U2", "U3"])
    keys = np.array([5, 4, 3, 2, 9, 1], dtype=np.uint64)

    def drawn(**scoring: object) -> list[int]:
        return draw_list(
            scoring=ScoringConfig(**scoring),
            scores=scores,
            probabilities=probabilities,
            tie_keys=keys,
            units=units,
        ).tolist()

    assert drawn(top_k=3) == [0, 1, 2]
    assert drawn(top_k=3, max_per_unit=2) == [0, 1, 3]  # U1's third officer gives way
    assert drawn(top_k=5, max_per_unit=1) == [0, 3, 5]  # only three units
    assert drawn(top_k=5) == [0, 1, 2, 3, 5]  # the tie at 0.5: key 1 before key 9
    assert drawn(selection="threshold", threshold=0.25) == [0, 1, 2]
    assert drawn(selection="threshold", threshold=0.25, max_per_unit=2) == [0, 1]


def test_the_published_list_is_evaluated_as_scoring_draws_it() -> None:
    test = thin_frame([3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0], "2022-01-01").assign(
        unit=["U1", "U1", "U2", "U2"]
    )
    labels = np.array([1, 1, 0, 1])
    ranker = THIN_CANDIDATES[2:3]
    evaluation = evaluated_on_itself(
        test, labels, ranker, published=ScoringConfig(top_k=2, max_per_unit=1)
    )
    row = evaluation.metrics.set_index("list").loc["top_2_max_1_per_unit"]
    assert row[["k", "tp", "fp", "precision"]].tolist() == [2, 1.0, 1.0, 0.5]
    listed = evaluation.lists.set_index("list").loc["top_2_max_1_per_unit", "officer_ids"]
    assert listed == ["000", "002"]
    # Uncapped, the published list is a list size like any other.
    plain = evaluated_on_itself(test, labels, ranker, sizes=(2,), published=ScoringConfig(top_k=2))
    assert plain.metrics["list"].tolist() == ["top_2"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.5, 0.9]), min_size=1, max_size=40),
    st.integers(0, 2**16),
)
def test_calibration_deciles_are_those_of_average_ranks(values: list[float], seed: int) -> None:
    # The decile of each officer, 1 + floor(10 (average rank - 0.5) / n), from scipy's
    # average ranks: ties (few distinct scores) share their decile.
    from scipy.stats import rankdata

    from ewp.models.evaluation import calibration_sums

    scores = np.array(values)
    rng = np.random.default_rng(seed)
    probabilities, labels = rng.random(scores.size), rng.integers(0, 2, scores.size)
    decile = np.minimum((10 * (rankdata(scores) - 0.5) / scores.size).astype(int), 9) + 1
    table = calibration_sums(scores, probabilities, labels).set_index("decile")
    expected = pd.DataFrame({"decile": decile, "p": probabilities, "y": labels}).groupby("decile")
    np.testing.assert_array_equal(table["n"].to_numpy(), np.bincount(decile, minlength=11)[1:])
    shown = table.loc[table["n"] > 0]
    np.testing.assert_allclose(shown["predicted"], expected["p"].sum())
    np.testing.assert_array_equal(shown["observed"], expected["y"].sum())


def test_calibration_deciles_share_ties_and_histograms_bin_probabilities() -> None:
    from ewp.models.evaluation import calibration_sums, score_histogram

    # Average ranks 1, 2.5, 2.5, 4 of 4: deciles 1 + floor(10 (rank - 0.5) / 4) = 2, 6, 6, 9.
    table = calibration_sums(
        np.array([1.0, 2.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.2, 0.3]), np.array([0, 1, 0, 1])
    )
    shown = table.loc[table["n"] > 0]
    assert shown["decile"].tolist() == [2, 6, 9]
    np.testing.assert_allclose(
        shown[["n", "predicted", "observed"]].to_numpy(dtype=float),
        [[1, 0.1, 0], [2, 0.4, 1], [1, 0.3, 1]],
    )
    # 0 and 5e-5 fall below 1 in 10,000; 0.5 in the bin from 10^-0.5 to 10^-0.25; 1 in the last.
    histogram = score_histogram(np.array([0.0, 5e-5, 0.5, 1.0]), np.array([0, 1, 1, 0]))
    assert histogram.loc[0, ["negatives", "positives"]].tolist() == [1, 1]
    half = histogram.loc[(histogram["lower"] <= 0.5) & (histogram["upper"] > 0.5)]
    assert half[["negatives", "positives"]].to_numpy().tolist() == [[0, 1]]
    assert histogram.iloc[-1][["negatives", "positives"]].tolist() == [1, 0]  # 1.0: last bin
    assert histogram[["negatives", "positives"]].to_numpy().sum() == 4
