"""Tests for ewp.models.sampling (negative subsampling) and ewp.models.inputs.validate_weights."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import ewp.models.sampling
from ewp.models.inputs import validate_weights
from ewp.models.sampling import NegativeSubsampler, negative_subsample, sample_summary

TINY = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0])


def _rare_labels(n: int = 20_000, seed: int = 0) -> np.ndarray:
    """About 1.2% positives, as in the real training sets."""
    return (np.random.default_rng(seed).random(n) < 0.012).astype("int64")


# --- negative_subsample -------------------------------------------------------------------


def test_tiny_example_keeps_both_positives_and_the_drawn_negatives():
    rows, weights = negative_subsample(TINY, rate=0.25, seed=4)
    # seed 4 draws (one per row) below 0.25 at rows 3 and 7, both negatives.
    draws = np.random.default_rng(4).random(len(TINY))
    assert np.flatnonzero(draws < 0.25).tolist() == [3, 7]
    assert rows.tolist() == [1, 3, 5, 7]
    assert weights.tolist() == [1.0, 4.0, 1.0, 4.0]
    assert rows.dtype == np.int64 and weights.dtype == np.float64


def test_module_docstring_example_runs():
    result = doctest.testmod(ewp.models.sampling, raise_on_error=False)
    assert result.attempted >= 4 and result.failed == 0


def test_every_positive_is_kept_with_weight_one_and_negatives_weigh_one_over_rate():
    y = _rare_labels()
    rows, weights = negative_subsample(y, rate=0.1, seed=1)
    assert set(np.flatnonzero(y == 1)) <= set(rows.tolist())
    assert np.all(np.diff(rows) > 0)  # original order, no repeats
    np.testing.assert_array_equal(weights, np.where(y[rows] == 1, 1.0, 10.0))
    # The weighted count of negatives estimates the full count (sd ~ sqrt(0.9 * 10 * n_neg)).
    n_neg = int((y == 0).sum())
    weighted_neg = weights[y[rows] == 0].sum()
    assert abs(weighted_neg - n_neg) < 5 * np.sqrt(9 * n_neg)


def test_positive_rate_keeps_positives_whose_draw_is_below_it_and_weighs_them_up():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    draws = np.random.default_rng(5).random(len(y))
    rows, weights = negative_subsample(y, rate=0.3, positive_rate=0.6, seed=5)
    expected = np.flatnonzero(np.where(y == 1, draws < 0.6, draws < 0.3))
    assert rows.tolist() == expected.tolist()
    np.testing.assert_allclose(weights, np.where(y[rows] == 1, 1 / 0.6, 1 / 0.3))
    # positive_rate 1 is the plain negative subsample, row for row and weight for weight.
    plain, plain_weights = negative_subsample(y, rate=0.3, seed=5)
    both = negative_subsample(y, rate=0.3, positive_rate=1.0, seed=5)
    assert both[0].tolist() == plain.tolist() and both[1].tolist() == plain_weights.tolist()
    with pytest.raises(ValueError, match="positive_rate"):
        negative_subsample(y, rate=0.3, positive_rate=0, seed=5)


def test_subsample_is_deterministic_for_a_seed():
    y = _rare_labels()
    first = negative_subsample(y, rate=0.2, seed=7)
    again = negative_subsample(pd.Series(y), rate=0.2, seed=7)
    other = negative_subsample(y, rate=0.2, seed=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_rate_one_keeps_every_row_with_weight_one_without_drawing(monkeypatch):
    def no_draws(*args, **kwargs):
        raise AssertionError("rate == 1 must not draw random numbers")

    monkeypatch.setattr(np.random, "default_rng", no_draws)
    rows, weights = negative_subsample(TINY, rate=1, seed=0)
    assert rows.tolist() == list(range(len(TINY)))
    assert weights.tolist() == [1.0] * len(TINY)


def test_blocks_drawn_one_after_another_keep_the_rows_of_the_whole():
    # The module's example in two blocks: rows 1 and 3 of the first four, then rows 1 and 3 of
    # the last six (rows 5 and 7 of the whole), with the same weights as one draw.
    sampler = NegativeSubsampler(rate=0.25, seed=4)
    first_rows, first_weights = sampler.draw(TINY[:4])
    second_rows, second_weights = sampler.draw(TINY[4:])
    assert first_rows.tolist() == [1, 3] and second_rows.tolist() == [1, 3]
    assert first_weights.tolist() == [1.0, 4.0] and second_weights.tolist() == [1.0, 4.0]
    # On a larger set, in uneven blocks (an empty one included), with positives subsampled.
    y = np.random.default_rng(0).binomial(1, 0.1, size=5_000)
    whole_rows, whole_weights = negative_subsample(y, rate=0.3, positive_rate=0.6, seed=9)
    sampler = NegativeSubsampler(rate=0.3, positive_rate=0.6, seed=9)
    rows, weights, start = [], [], 0
    for end in (1_234, 1_234, 4_000, 5_000):
        kept, kept_weights = sampler.draw(y[start:end])
        rows.append(start + kept)
        weights.append(kept_weights)
        start = end
    np.testing.assert_array_equal(np.concatenate(rows), whole_rows)
    np.testing.assert_array_equal(np.concatenate(weights), whole_weights)


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, float("nan"), True, "0.5", None])
def test_rate_outside_0_1_is_refused(rate):
    with pytest.raises(ValueError, match=r"rate must be a number in \(0, 1\]"):
        negative_subsample(TINY, rate=rate, seed=0)


def test_labels_must_be_binary_and_one_dimensional():
    with pytest.raises(ValueError, match="0 \\(no escalation\\) or 1"):
        negative_subsample(np.array([0, 2, 1]), rate=0.5, seed=0)
    with pytest.raises(ValueError, match="one dimension"):
        negative_subsample(np.zeros((2, 2)), rate=0.5, seed=0)


# --- validate_weights ---------------------------------------------------------------------


def test_validate_weights_passes_none_and_returns_float64():
    assert validate_weights(None, 3) is None
    weights = validate_weights([1, 0, 2], 3)
    assert weights.dtype == np.float64 and weights.tolist() == [1.0, 0.0, 2.0]
    assert validate_weights(np.array([]), 0).shape == (0,)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones((3, 1)), "expected 3 sample weights in one dimension"),
        (np.ones(2), "expected 3 sample weights"),
        ([1.0, np.nan, 1.0], "finite"),
        ([1.0, np.inf, 1.0], "finite"),
        ([1.0, -0.5, 1.0], "non-negative"),
        ([0.0, 0.0, 0.0], "not all be zero"),
        (["a", "b", "c"], "must be numbers"),
    ],
)
def test_validate_weights_refuses_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        validate_weights(weights, 3)


# --- sample_summary -----------------------------------------------------------------------


def test_sample_summary_counts_the_kept_rows_and_negatives_per_positive():
    kept = np.array([1] * 300 + [0] * 600)
    assert sample_summary(kept, rate=0.1) == (
        "900 training rows: 300 positives, 600 negatives (2.0 per positive, kept at a rate of 0.1)"
    )
    # The subsample of the tiny example: positives 1 and 5, negatives 3 and 7.
    rows, _ = negative_subsample(TINY, rate=0.25, seed=4)
    assert sample_summary(pd.Series(TINY[rows]), rate=0.25) == (
        "4 training rows: 2 positives, 2 negatives (1.0 per positive, kept at a rate of 0.25)"
    )


def test_sample_summary_without_positives_says_so():
    assert sample_summary(np.zeros(5, dtype="int64"), rate=1.0) == (
        "5 training rows: 0 positives, 5 negatives (no positives, kept at a rate of 1)"
    )
