"""Lists with shared ties and the officer bootstrap over them: hand-worked cases, agreement
with ``at_k``, and intervals that contain their own point estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ewp.models.credit import (
    CreditBuilder,
    bootstrap_lists,
    list_intervals,
    pool_credit,
    weighted_totals,
)
from ewp.models.evaluation import headline_intervals
from ewp.models.metrics import at_k


def test_the_docstring_example_shares_the_tie_and_weights_officers() -> None:
    # The rule flags A+; B- and C+ are tied for the one remaining place of a list of 2.
    builder = CreditBuilder(np.array(["A", "B", "C"]))
    builder.add_positives(np.arange(3), np.array([1, 0, 1]))
    builder.add_ranking(
        candidate="rule",
        rows=np.arange(3),
        labels=np.array([1, 0, 1]),
        scores=np.array([1.0, 0.0, 0.0]),
        sizes={"top_2": 2},
    )
    credit = builder.build()
    places, tp, positives = weighted_totals(credit, np.ones(3))
    assert places.tolist() == [[2.0]] and tp.tolist() == [[1.5]] and positives.tolist() == [2.0]
    # A drawn twice, B once, C not at all: places 2 + (1 + 0) / 2, TP 2 + 0.
    places, tp, positives = weighted_totals(credit, np.array([2.0, 1.0, 0.0]))
    assert places.tolist() == [[2.5]] and tp.tolist() == [[2.0]] and positives.tolist() == [2.0]


def test_a_tie_cut_by_several_lists_shares_its_places_among_its_officers() -> None:
    # Ten officers tied at 0 below one flagged officer: top 3 and top 6 both cut the tie.
    builder = CreditBuilder(np.array([f"o{i:02d}" for i in range(11)]))
    scores = np.array([1.0] + [0.0] * 10)
    labels = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    builder.add_ranking(
        candidate="rule",
        rows=np.arange(11),
        labels=labels,
        scores=scores,
        sizes={"top_3": 3, "top_6": 6, "top_1": 1, "top_0": 0},
    )
    credit = builder.build()
    column = {name: i for i, name in enumerate(credit.columns["list"])}
    places = credit.places.toarray()
    # Each tied officer holds 2/10 of a place on the top 3 and 5/10 on the top 6; the top 1
    # is the flagged officer alone; the top 0 is empty.
    assert places[column["top_3"]] == pytest.approx([1.0] + [0.2] * 10)
    assert places[column["top_6"]] == pytest.approx([1.0] + [0.5] * 10)
    assert places[column["top_1"]].tolist() == [1.0] + [0.0] * 10
    # An empty list is still a column (so a table can say it is empty), with no places.
    assert places[column["top_0"]].tolist() == [0.0] * 11
    # TP: the places of the two positives (o01, o02).
    assert credit.tp.toarray()[column["top_6"]] == pytest.approx([0.0, 0.5, 0.5] + [0.0] * 8)
    places, tp, _ = weighted_totals(credit, np.ones(11))
    by_list = dict(zip(credit.columns["list"], zip(places[0], tp[0], strict=True), strict=True))
    assert by_list["top_3"] == pytest.approx((3.0, 2 * 0.2))
    assert by_list["top_6"] == pytest.approx((6.0, 2 * 0.5))
    assert by_list["top_0"] == (0.0, 0.0)


def test_pooling_merges_officers_across_test_blocks() -> None:
    first = CreditBuilder(np.array(["B", "A"]))
    first.add_ranking(
        candidate="m",
        rows=np.arange(2),
        labels=np.array([1, 0]),
        scores=np.array([0.9, 0.1]),
        sizes={"top_1": 1},
    )
    second = CreditBuilder(np.array(["C", "B"]))
    second.add_ranking(
        candidate="m",
        rows=np.arange(2),
        labels=np.array([0, 1]),
        scores=np.array([0.2, 0.8]),
        sizes={"top_1": 1},
    )
    pooled = pool_credit([first.build(), second.build()])
    assert pooled.officers.tolist() == ["A", "B", "C"]
    # B heads both blocks' lists: 2 places, both true positives; A and C none.
    assert pooled.places.toarray().tolist() == [[0.0, 2.0, 0.0]]
    assert pooled.tp.toarray().tolist() == [[0.0, 2.0, 0.0]]
    # B is listed on both blocks' dates: weight B three times, TP is 6.
    _, tp, _ = weighted_totals(pooled, np.array([1.0, 3.0, 1.0]))
    assert tp.tolist() == [[6.0]]


@st.composite
def evaluations(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, int]]:
    """Test rows over a few dates (officers recur across dates), two candidates' scores with
    heavy ties, labels, and list sizes up to the cohort."""
    n_officers = draw(st.integers(min_value=1, max_value=12))
    n_dates = draw(st.integers(min_value=1, max_value=3))
    rows = []
    for day in range(n_dates):
        present = draw(
            st.lists(st.integers(0, n_officers - 1), min_size=1, max_size=n_officers, unique=True)
        )
        for officer in present:
            rows.append(
                {
                    "officer_id": f"o{officer:02d}",
                    "as_of": day,
                    "label": draw(st.integers(0, 1)),
                    "rule": float(draw(st.integers(0, 1))),
                    "model": float(draw(st.integers(0, 3))),
                }
            )
    sizes = {
        f"top_{k}": k for k in draw(st.lists(st.integers(0, n_officers), min_size=1, max_size=3))
    }
    return pd.DataFrame(rows), sizes


def credit_of(frame: pd.DataFrame, sizes: dict[str, int]):
    builder = CreditBuilder(frame["officer_id"].to_numpy())
    for _, day in frame.groupby("as_of"):
        rows = day.index.to_numpy()
        labels = day["label"].to_numpy()
        builder.add_positives(rows, labels)
        volume = int(day["rule"].sum())
        for candidate in ("rule", "model"):
            builder.add_ranking(
                candidate=candidate,
                rows=rows,
                labels=labels,
                scores=day[candidate].to_numpy(),
                sizes={**{n: min(k, len(day)) for n, k in sizes.items()}, "volume_rule": volume},
            )
    return builder.build()


@settings(max_examples=200, deadline=None)
@given(evaluations())
def test_the_point_estimate_is_at_k_pooled_over_dates(case) -> None:
    frame, sizes = case
    credit = credit_of(frame, sizes)
    replicates = bootstrap_lists(credit, samples=3, seed=1)
    for column, (candidate, list_name) in enumerate(
        credit.columns[["candidate", "list"]].itertuples(index=False)
    ):
        expected_places = expected_tp = 0.0
        for _, day in frame.groupby("as_of"):
            k = int(day["rule"].sum()) if list_name == "volume_rule" else sizes[list_name]
            result = at_k(day["label"].to_numpy(), day[candidate].to_numpy(), min(k, len(day)))
            expected_places += result.k
            expected_tp += result.tp
        assert replicates.places[0, column] == pytest.approx(expected_places)
        assert replicates.tp[0, column] == pytest.approx(expected_tp)
    assert replicates.positives[0] == frame["label"].sum()


def contains(low: float, point: float, high: float) -> bool:
    """low <= point <= high, allowing for rounding; an undefined interval holds nothing."""
    if np.isnan(point):
        return bool(np.isnan(low) and np.isnan(high))
    if np.isnan(low) or np.isnan(high):
        return False
    slack = 1e-9 * max(1.0, abs(point))
    return low - slack <= point <= high + slack


@settings(max_examples=200, deadline=None)
@given(evaluations(), st.integers(min_value=0, max_value=2**31))
def test_every_interval_contains_its_point_estimate(case, seed) -> None:
    frame, sizes = case
    replicates = bootstrap_lists(credit_of(frame, sizes), samples=200, seed=seed)
    for row in list_intervals(replicates, confidence=0.9).itertuples(index=False):
        for metric in ("precision", "recall"):
            point, low, high = (getattr(row, metric + end) for end in ("", "_low", "_high"))
            if not np.isnan(point):
                assert contains(low, point, high), (row.candidate, row.list, metric)
    table = headline_intervals(replicates, rule="rule", confidence=0.9).set_index("candidate")
    _, places, tp = replicates.at_list("volume_rule")
    for at, candidate in enumerate(["rule", "model"]):
        rule_tp, rule_fp = tp[0, 0], places[0, 0] - tp[0, 0]
        if rule_tp > 0:
            point = tp[0, at] / rule_tp
            low, high = table.loc[candidate, ["tp_ratio_low", "tp_ratio_high"]]
            assert contains(low, point, high), (candidate, "tp_ratio")
        if rule_fp > 0:
            point = (places[0, at] - tp[0, at]) / rule_fp - 1
            low, high = table.loc[candidate, ["fp_change_low", "fp_change_high"]]
            assert contains(low, point, high), (candidate, "fp_change")
