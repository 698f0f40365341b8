"""Tests for ewp.models.metrics on hand-worked examples, plus order-invariance properties."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from ewp.models.metrics import (
    AtK,
    ListOverlap,
    at_k,
    average_precision,
    brier,
    k_for_fraction,
    list_overlap,
    reliability_table,
    rule_volume,
)

# --- at_k: hand-worked examples -----------------------------------------------------------


def test_at_k_without_ties():
    # Top 3 by score: 0.9 (pos), 0.8 (neg), 0.7 (pos) -> tp 2, fp 1; 2 positives in all.
    result = at_k(np.array([1, 0, 1, 0, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5]), 3)
    assert result == AtK(
        k=3,
        tp=2.0,
        fp=1.0,
        precision=2 / 3,
        recall=1.0,
        tp_worst=2,
        tp_best=2,
        precision_worst=2 / 3,
        precision_best=2 / 3,
        n_tied_at_cutoff=0,
    )


def test_at_k_ties_straddling_the_cutoff():
    # k = 4. The 4th highest score is 0.5.
    #   Above 0.5: 0.9 (pos), 0.8 (neg)          -> 2 listed for sure, 1 positive.
    #   Tied at 0.5: 4 officers, 2 pos and 2 neg -> 4 - 2 = 2 places left for them.
    #   Worst: both places go to negatives       -> tp = 1 + 0 = 1, precision 1/4.
    #   Best: both places go to positives        -> tp = 1 + 2 = 3, precision 3/4.
    #   Expected (hypergeometric mean): 1 + 2 places * 2/4 positives = 2, precision 1/2.
    #   All positives: 1 + 2 tied + 1 below (0.1) = 4 -> recall 2/4.
    y = np.array([1, 0, 1, 1, 0, 0, 1])
    scores = np.array([0.9, 0.8, 0.5, 0.5, 0.5, 0.5, 0.1])
    assert at_k(y, scores, 4) == AtK(
        k=4,
        tp=2.0,
        fp=2.0,
        precision=0.5,
        recall=0.5,
        tp_worst=1,
        tp_best=3,
        precision_worst=0.25,
        precision_best=0.75,
        n_tied_at_cutoff=4,
    )


def test_at_k_tie_group_entirely_inside_the_list_is_a_clean_cut():
    # k = 3: 5 (neg) above, both 4s (one pos) fill the 2 remaining places -> tp 1, no ambiguity.
    result = at_k(np.array([0, 1, 0, 1]), np.array([5.0, 4.0, 4.0, 3.0]), 3)
    assert (result.tp, result.tp_worst, result.tp_best) == (1.0, 1, 1)
    assert result.n_tied_at_cutoff == 0
    assert result.recall == 0.5


def test_at_k_all_tied():
    # 5 officers all scored 0.5, 2 positives, k = 2: nobody is above the tie, 2 places.
    #   Worst: 2 of the 3 negatives -> 0. Best: both positives -> 2.
    #   Expected: 2 * 2/5 = 0.8 -> precision 0.4, recall 0.8/2 = 0.4.
    result = at_k(np.array([1, 1, 0, 0, 0]), np.full(5, 0.5), 2)
    assert result == AtK(
        k=2,
        tp=0.8,
        fp=1.2,
        precision=0.4,
        recall=0.4,
        tp_worst=0,
        tp_best=2,
        precision_worst=0.0,
        precision_best=1.0,
        n_tied_at_cutoff=5,
    )


def test_at_k_larger_than_n_is_clamped():
    result = at_k(np.array([1, 0, 1]), np.array([0.2, 0.2, 0.9]), 10)
    assert result.k == 3
    assert (result.tp, result.fp, result.recall) == (2.0, 1.0, 1.0)
    assert result.precision == 2 / 3
    assert result.n_tied_at_cutoff == 0  # everyone is listed: nobody straddles a cut-off


def test_at_k_zero_is_an_empty_list_with_zero_precision():
    assert at_k(np.array([1, 0]), np.array([0.9, 0.1]), 0) == AtK(
        0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0
    )


def test_at_k_empty_input_gives_an_empty_list():
    assert at_k(np.array([]), np.array([]), 5).k == 0


def test_at_k_without_positives():
    result = at_k(np.zeros(4), np.array([0.4, 0.3, 0.2, 0.1]), 2)
    assert (result.tp, result.fp, result.precision, result.recall) == (0.0, 2.0, 0.0, 0.0)


def test_at_k_accepts_aligned_series_and_refuses_misaligned_ones():
    y = pd.Series([1, 0, 1], index=["a", "b", "c"])
    scores = pd.Series([0.9, 0.1, 0.5], index=["a", "b", "c"])
    assert at_k(y, scores, 2).tp == 2.0
    with pytest.raises(ValueError, match="different indexes"):
        at_k(y, scores.iloc[::-1], 2)


@pytest.mark.parametrize(
    ("y", "scores", "k", "error", "message"),
    [
        ([1, 0], [0.5, 0.4], -1, ValueError, "k must be non-negative"),
        ([1, 0], [0.5, 0.4], 1.5, TypeError, "cannot be interpreted as an integer"),
        ([1, 2], [0.5, 0.4], 1, ValueError, "y_true must hold only 0 and 1"),
        ([1, 0], [0.5, np.nan], 1, ValueError, "scores contains NaN"),
        ([1, 0], [0.5], 1, ValueError, r"differ in length \(2 and 1 rows\)"),
        ([[1, 0]], [[0.5, 0.4]], 1, ValueError, "one-dimensional"),
    ],
)
def test_at_k_refuses_bad_input(y, scores, k, error, message):
    with pytest.raises(error, match=message):
        at_k(y, scores, k)


# --- at_k: properties -----------------------------------------------------------------------


@st.composite
def ranked_lists(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Labels, scores (few distinct values, so ties are common), k and a row permutation."""
    n = draw(st.integers(min_value=0, max_value=40))
    score = st.integers(min_value=0, max_value=5).map(float) | st.floats(
        min_value=-1e3, max_value=1e3, allow_nan=False
    )
    y = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    scores = draw(st.lists(score, min_size=n, max_size=n))
    k = draw(st.integers(min_value=0, max_value=n + 3))
    permutation = draw(st.permutations(range(n)))
    return np.array(y), np.array(scores), k, np.array(permutation, dtype=int)


@settings(max_examples=300, deadline=None)
@given(ranked_lists())
def test_at_k_does_not_depend_on_row_order(case):
    y, scores, k, permutation = case
    assert at_k(y[permutation], scores[permutation], k) == at_k(y, scores, k)


@settings(max_examples=300, deadline=None)
@given(ranked_lists())
def test_at_k_matches_explicit_tie_breaking(case):
    y, scores, k, _ = case
    result = at_k(y, scores, k)
    k = min(k, y.size)
    # Worst case: among equal scores, negatives first; best case: positives first.
    worst_order = np.lexsort((y, -scores))
    best_order = np.lexsort((-y, -scores))
    assert result.tp_worst == y[worst_order[:k]].sum()
    assert result.tp_best == y[best_order[:k]].sum()
    # Expected value: each officer tied at the cut-off is listed in the same share of the
    # cyclic rotations of the tie group, so the mean over rotations is the mean over all
    # tie-breaks.
    if k:
        cutoff = np.sort(scores)[::-1][k - 1]
        above = np.flatnonzero(scores > cutoff)
        tied = np.flatnonzero(scores == cutoff)
        places = k - above.size
        rotations = [np.roll(tied, r)[:places] for r in range(tied.size)]
        expected = np.mean([y[above].sum() + y[listed].sum() for listed in rotations])
        assert result.tp == pytest.approx(expected)
    assert result.tp_worst <= result.tp <= result.tp_best
    assert result.tp + result.fp == pytest.approx(result.k)


# --- k_for_fraction and rule_volume ---------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "fraction", "k"),
    [
        (34_000, 0.01, 340),
        (150, 0.01, 2),  # 1.5 rounds up
        (100, 0.07, 7),  # not 8, although 100 * 0.07 == 7.000000000000001 in floating point
        (5, 0.01, 1),  # at least 1
        (40, 1.0, 40),
        (0, 0.05, 0),
    ],
)
def test_k_for_fraction(n: int, fraction: float, k: int):
    assert k_for_fraction(n, fraction) == k


@pytest.mark.parametrize(
    ("n", "fraction", "message"),
    [
        (100, 0.0, r"fraction must be in \(0, 1\]"),
        (100, 1.5, r"fraction must be in \(0, 1\]"),
        (100, math.nan, r"fraction must be in \(0, 1\]"),
        (-1, 0.1, "n must be non-negative"),
    ],
)
def test_k_for_fraction_refuses_bad_input(n: int, fraction: float, message: str):
    with pytest.raises(ValueError, match=message):
        k_for_fraction(n, fraction)


def test_rule_volume_is_the_k_for_an_equal_volume_comparison():
    rule = np.array([True, False, True, True, False])
    assert rule_volume(rule) == 3
    assert rule_volume(pd.Series([0, 1, 0])) == 1
    with pytest.raises(ValueError, match="flags must hold only 0 and 1"):
        rule_volume(np.array([0, 2]))
    # The model's list for the comparison: its top 3.
    y = np.array([1, 0, 1, 1, 0])
    assert at_k(y, np.array([0.9, 0.1, 0.8, 0.7, 0.2]), rule_volume(rule)).precision == 1.0


# --- average_precision and brier ------------------------------------------------------------


def test_average_precision_by_hand():
    # Ranked: pos (precision 1/1), neg, pos (precision 2/3), neg.
    # AP = mean precision at each positive = (1 + 2/3) / 2 = 5/6.
    y = np.array([1, 0, 1, 0])
    assert average_precision(y, np.array([0.9, 0.8, 0.7, 0.6])) == pytest.approx(5 / 6)


def test_average_precision_treats_ties_as_one_threshold():
    # Thresholds: 0.9 -> 1 listed, 0 positives (recall 0); 0.5 -> 3 listed, both positives
    # (precision 2/3, recall 1). AP = (1 - 0) * 2/3 = 2/3, whichever tied row comes first.
    y = np.array([0, 1, 1, 0])
    scores = np.array([0.9, 0.5, 0.5, 0.1])
    assert average_precision(y, scores) == pytest.approx(2 / 3)
    # Thresholds: 0.9 -> precision 1, recall 1/2; 0.5 -> precision 2/3, recall 1.
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    assert average_precision(np.array([1, 0, 1, 0]), scores) == pytest.approx(5 / 6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0])),
        min_size=1,
        max_size=60,
    )
)
def test_average_precision_is_sklearns_to_the_bit(rows):
    # Scores from a handful of values: ties at every threshold, as rules and counts give.
    y = np.array([label for label, _ in rows])
    scores = np.array([score for _, score in rows])
    if not y.any():
        assert math.isnan(average_precision(y, scores))
        return
    expected = float(average_precision_score(y, scores))
    assert average_precision(y, scores) == expected
    assert average_precision(y, scores, ranked=np.sort(scores)) == expected


def test_average_precision_without_positives_is_nan():
    assert math.isnan(average_precision(np.zeros(3), np.array([0.3, 0.2, 0.1])))


@settings(max_examples=100, deadline=None)
@given(ranked_lists())
def test_average_precision_does_not_depend_on_row_order(case):
    y, scores, _, permutation = case
    assert average_precision(y[permutation], scores[permutation]) == pytest.approx(
        average_precision(y, scores), nan_ok=True
    )


def test_brier_by_hand():
    # Squared errors: (0.9-1)^2 = 0.01, (0.2-0)^2 = 0.04, (0.6-1)^2 = 0.16, (0.5-0)^2 = 0.25.
    # Mean: 0.46 / 4 = 0.115.
    assert brier(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.6, 0.5])) == pytest.approx(0.115)
    assert brier(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


@pytest.mark.parametrize(
    ("y", "probs", "message"),
    [
        ([1, 0], [1.2, 0.0], r"probs must lie in \[0, 1\]"),
        ([1, 0], [0.5, -0.1], r"probs must lie in \[0, 1\]"),
        ([], [], "empty"),
    ],
)
def test_brier_refuses_bad_input(y, probs, message: str):
    with pytest.raises(ValueError, match=message):
        brier(y, probs)


# --- reliability_table ----------------------------------------------------------------------


def test_reliability_table_quantile_by_hand():
    # Quantiles of the six probabilities at 0, 1/2, 1: 0.1, (0.3 + 0.7)/2 = 0.5, 0.9.
    #   Bin [0.1, 0.5): 0.1, 0.2, 0.3 with outcomes 0, 0, 1 -> mean 0.2, observed 1/3.
    #   Bin [0.5, 0.9]: 0.7, 0.8, 0.9 with outcomes 1, 0, 1 -> mean 0.8, observed 2/3.
    y = np.array([0, 0, 1, 1, 0, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    table = reliability_table(y, probs, n_bins=2)
    assert list(table.columns) == [
        "bin",
        "lower",
        "upper",
        "n",
        "mean_predicted",
        "observed_rate",
    ]
    assert table["bin"].tolist() == [0, 1]
    assert table["n"].tolist() == [3, 3]
    assert table["lower"].tolist() == pytest.approx([0.1, 0.5])
    assert table["upper"].tolist() == pytest.approx([0.5, 0.9])
    assert table["mean_predicted"].tolist() == pytest.approx([0.2, 0.8])
    assert table["observed_rate"].tolist() == pytest.approx([1 / 3, 2 / 3])


def test_reliability_table_uniform_skips_empty_bins():
    # Edges 0, 0.25, 0.5, 0.75, 1. Bin 0: 0.05, 0.15 (outcomes 0, 1); bins 1 and 2 empty;
    # bin 3: 0.85, 0.95 (outcomes 0, 1).
    y = np.array([0, 1, 0, 1])
    probs = np.array([0.05, 0.15, 0.85, 0.95])
    table = reliability_table(y, probs, n_bins=4, strategy="uniform")
    assert table["bin"].tolist() == [0, 3]
    assert table["lower"].tolist() == [0.0, 0.75]
    assert table["upper"].tolist() == [0.25, 1.0]
    assert table["n"].tolist() == [2, 2]
    assert table["mean_predicted"].tolist() == pytest.approx([0.1, 0.9])
    assert table["observed_rate"].tolist() == [0.5, 0.5]


def test_reliability_table_uniform_bin_edges():
    # Left-closed bins: 0.3 is in [0.3, 0.4), not [0.2, 0.3); 1.0 is in the closed last bin.
    table = reliability_table(
        np.array([0, 1, 1]), np.array([0.0, 0.3, 1.0]), n_bins=10, strategy="uniform"
    )
    assert table["bin"].tolist() == [0, 3, 9]


def test_reliability_table_quantile_ties_merge_bins():
    # Quantiles at 0, 1/4, 1/2, 3/4, 1 of [0.2, 0.2, 0.2, 0.2, 0.6, 0.8]:
    # 0.2, 0.2, 0.2, 0.2 + 0.75 * (0.6 - 0.2) = 0.5, 0.8 -> distinct edges 0.2, 0.5, 0.8.
    y = np.array([0, 0, 1, 0, 1, 1])
    probs = np.array([0.2, 0.2, 0.2, 0.2, 0.6, 0.8])
    table = reliability_table(y, probs, n_bins=4)
    assert table["n"].tolist() == [4, 2]
    assert table["observed_rate"].tolist() == [0.25, 1.0]


def test_reliability_table_single_probability_is_one_bin():
    table = reliability_table(np.array([0, 1]), np.array([0.3, 0.3]), n_bins=4)
    assert table.to_dict("list") == {
        "bin": [0],
        "lower": [0.3],
        "upper": [0.3],
        "n": [2],
        "mean_predicted": [0.3],
        "observed_rate": [0.5],
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 0}, "n_bins must be at least 1"),
        ({"strategy": "kmeans"}, "strategy must be 'uniform' or 'quantile'"),
    ],
)
def test_reliability_table_refuses_bad_parameters(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        reliability_table(np.array([0, 1]), np.array([0.2, 0.8]), **kwargs)


# --- list_overlap ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        # Shared {b}; union {a, b, c, d}.
        (["a", "b"], ["b", "c", "d"], ListOverlap(0.25, 0.5, kept=1, new=2, dropped=1)),
        (["a", "b"], ("b", "a"), ListOverlap(1.0, 1.0, kept=2, new=0, dropped=0)),
        ({"a"}, {"b"}, ListOverlap(0.0, 0.0, kept=0, new=1, dropped=1)),
        (["a", "b"], [], ListOverlap(0.0, 0.0, kept=0, new=0, dropped=2)),
    ],
)
def test_list_overlap(previous, current, expected: ListOverlap):
    assert list_overlap(previous, current) == expected


def test_list_overlap_with_empty_previous_list():
    # Two empty lists are identical (Jaccard 1); with nothing listed before, there is no share
    # to retain (NaN).
    both_empty = list_overlap([], [])
    assert both_empty.jaccard == 1.0
    assert math.isnan(both_empty.retained)
    assert (both_empty.kept, both_empty.new, both_empty.dropped) == (0, 0, 0)
    first_run = list_overlap([], ["a", "b"])
    assert first_run.jaccard == 0.0
    assert math.isnan(first_run.retained)
    assert first_run.new == 2


def test_list_overlap_refuses_duplicates_and_bare_strings():
    with pytest.raises(ValueError, match="previous lists some officer ids more than once"):
        list_overlap(["a", "a"], ["a"])
    with pytest.raises(TypeError, match="current must be a collection of officer ids"):
        list_overlap(["a"], "a")
