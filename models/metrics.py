"""Metrics on the list a professional standards unit receives.

A model and a threshold rule are compared at equal flag volume, as in DSSG's triage: the rule
flags some number of officers (``rule_volume``), and the model's list is its top ``k`` by score
for that same ``k`` (``at_k``). Ranking, calibration and list-churn metrics complete the picture.

Inputs are one-dimensional numpy arrays or pandas Series (lists work too): ``y_true`` holds 0/1
labels, ``scores`` any finite numbers (higher = more risk), ``probs`` probabilities in [0, 1].
Rows are matched by position; two Series with different indexes are refused rather than
silently misaligned. NaN or infinite values are refused. Every function is pure and
deterministic: none depends on row order.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd

Vector = np.ndarray | pd.Series | list[float]


@dataclass(frozen=True)
class AtK:
    """Quality of the top-``k`` list, with the spread that ties at the cut-off allow.

    ``k`` is the list length actually used (clamped to the number of officers). ``tp``, ``fp``
    and ``precision`` are expected values under random tie-breaking, so they can be fractional;
    ``tp_worst``/``tp_best`` (and their precisions) put tied positives last/first.
    ``n_tied_at_cutoff`` is the number of officers sharing the k-th score when that group
    straddles the cut-off (some listed, some not), and 0 when the cut is clean, in which case
    worst, expected and best coincide.
    """

    k: int
    tp: float
    fp: float
    precision: float
    recall: float
    tp_worst: int
    tp_best: int
    precision_worst: float
    precision_best: float
    n_tied_at_cutoff: int


@dataclass(frozen=True)
class ListOverlap:
    """How a flag list changed from one run to the next.

    ``jaccard`` is shared / union (1.0 when both lists are empty: they are identical);
    ``retained`` is the share of the previous list still listed (NaN when the previous list is
    empty: there is nothing to retain). ``kept``, ``new`` and ``dropped`` count officers in
    both lists, only in the current one, and only in the previous one.
    """

    jaccard: float
    retained: float
    kept: int
    new: int
    dropped: int


@dataclass(frozen=True)
class Cut:
    """Where a top-``k`` list cuts a ranking of ``n`` officers.

    The ``n_above`` officers scoring above the k-th score are listed; the ``n_tied`` officers
    sharing it hold the remaining ``places`` (``k - n_above``, from 1 to ``n_tied``), each with
    a ``share`` of ``places / n_tied`` of a place: the chance of being listed if the tie were
    broken at random. ``k = 0`` gives an empty cut (all zeros, share 0).

    Worked example: scores (0.9, 0.7, 0.7, 0.7, 0.1) and k = 2 give n_above 1, n_tied 3,
    places 1: each officer scoring 0.7 holds a third of a place.
    """

    k: int
    n_above: int
    n_tied: int
    places: int

    @property
    def share(self) -> float:
        """Each tied officer's share of a place (1.0 when the whole tie is listed)."""
        return self.places / self.n_tied if self.n_tied else 0.0

    @property
    def depth(self) -> int:
        """Officers at or above the k-th score: the listed ones and the rest of their tie."""
        return self.n_above + self.n_tied


def cut_at_k(ranked: np.ndarray, k: int) -> Cut:
    """The cut of the top-``k`` list, from ``ranked`` (the scores sorted ascending).

    ``k`` is clamped to the number of officers; it must be non-negative.
    """
    k = operator.index(k)
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    n = ranked.size
    k = min(k, n)
    if k == 0:
        return Cut(k=0, n_above=0, n_tied=0, places=0)
    cutoff = ranked[n - k]
    first_tied = int(np.searchsorted(ranked, cutoff, side="left"))
    after_tied = int(np.searchsorted(ranked, cutoff, side="right"))
    n_above = n - after_tied
    return Cut(k=k, n_above=n_above, n_tied=after_tied - first_tied, places=k - n_above)


def at_k(y_true: Vector, scores: Vector, k: int, *, ranked: np.ndarray | None = None) -> AtK:
    """Precision and recall of the list made of the ``k`` highest-scoring officers.

    Officers tied with the k-th score straddle the cut-off; rather than let row order decide
    who is listed, ``tp`` is the hypergeometric mean over random tie-breaking (positives above
    the tie, plus the tie's free places times its share of positives), bracketed by
    ``tp_worst`` and ``tp_best``. ``k`` larger than the number of officers is clamped to it.
    ``k = 0`` (an empty list) gives all zeros, with precision defined as 0. Recall is ``tp``
    over all positives, 0 when there are none. ``ranked`` is ``np.sort(scores)`` if the caller
    has it (several list sizes on one ranking sort once).
    """
    y, s = _labels_and_values(y_true, scores, values_name="scores")
    k = operator.index(k)
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    k = min(k, y.size)
    if k == 0:
        return AtK(0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, 0.0, 0)

    # The k-th highest score. A sort, not np.partition: rules and counts give scores with
    # huge ties, on which partition is ~30x slower than sorting.
    cutoff = (np.sort(s) if ranked is None else ranked)[y.size - k]
    above = s > cutoff
    tied = s == cutoff
    positives_above = int(y[above].sum())
    n_tied = int(tied.sum())
    positives_tied = int(y[tied].sum())
    places = k - int(above.sum())  # listed officers drawn from the tie, 1..n_tied

    tp = positives_above + places * positives_tied / n_tied
    tp_worst = positives_above + max(0, places - (n_tied - positives_tied))
    tp_best = positives_above + min(places, positives_tied)
    n_positive = int(y.sum())
    return AtK(
        k=k,
        tp=tp,
        fp=k - tp,
        precision=tp / k,
        recall=tp / n_positive if n_positive else 0.0,
        tp_worst=tp_worst,
        tp_best=tp_best,
        precision_worst=tp_worst / k,
        precision_best=tp_best / k,
        n_tied_at_cutoff=n_tied if places < n_tied else 0,
    )


def k_for_fraction(n: int, fraction: float) -> int:
    """The list length for flagging ``fraction`` of ``n`` officers: ``ceil(n * fraction)``.

    ``fraction`` must be in (0, 1]; it is read as written in decimal, so ``0.07`` of 100 is 7
    (binary floating point would make it 7.000000000000001 and round up to 8). The result is at
    least 1 whenever ``n >= 1``, and 0 when ``n == 0``.
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return math.ceil(n * Fraction(str(fraction)))


def average_precision(y_true: Vector, scores: Vector, *, ranked: np.ndarray | None = None) -> float:
    """Average precision of the ranking by ``scores`` (area under the precision-recall steps).

    The same number as ``sklearn.metrics.average_precision_score``, to the bit (a test
    compares them): tied scores are one threshold, so the result does not depend on row order.
    Computed here from counts per distinct score so that one sort of a ranking serves every
    metric of it: ``ranked`` is ``np.sort(scores)`` if the caller has it. Returns NaN when
    there are no positives (average precision is undefined then).

    Worked example: scores (0.9, 0.5, 0.5, 0.1), labels (1, 0, 1, 0). Thresholds from the top:
    0.9 lists 1 officer, 1 positive (precision 1, recall 1/2); 0.5 lists 3, 2 positives
    (precision 2/3, recall 1). AP = 1/2 x 1 + 1/2 x 2/3 = 5/6.
    """
    y, s = _labels_and_values(y_true, scores, values_name="scores")
    if not y.any():
        return math.nan
    ranked = np.sort(s) if ranked is None else np.asarray(ranked, dtype="float64")
    # The distinct scores, ascending, and the officers and positives at each; then counted
    # from the highest score down (positives are few: each is placed by a binary search).
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    levels = ranked[starts]
    at_level = np.diff(np.r_[starts, s.size])
    positives_at = np.bincount(np.searchsorted(levels, s[y == 1]), minlength=levels.size)
    listed = np.cumsum(at_level[::-1]).astype("float64")
    tps = np.cumsum(positives_at[::-1]).astype("float64")
    # As sklearn's precision_recall_curve: fps, precision and recall at each threshold,
    # reversed, closed by the point (recall 0, precision 1), then the step integral.
    fps = listed - tps
    precision = np.r_[(tps / (tps + fps))[::-1], 1.0]
    recall = np.r_[(tps / tps[-1])[::-1], 0.0]
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def brier(y_true: Vector, probs: Vector) -> float:
    """Brier score: the mean squared difference between ``probs`` and the 0/1 outcome.

    Lower is better; 0 is perfect. Raises ``ValueError`` on empty input.
    """
    y, p = _labels_and_probs(y_true, probs)
    return float(np.mean((p - y) ** 2))


def reliability_table(
    y_true: Vector,
    probs: Vector,
    *,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "quantile",
) -> pd.DataFrame:
    """Predicted against observed rates, by bin of predicted probability.

    ``uniform`` cuts [0, 1] into ``n_bins`` equal-width bins; ``quantile`` cuts at the
    quantiles of ``probs``, so bins hold similar numbers of officers (tied probabilities can
    merge bins, giving fewer). Bins are closed on the left and open on the right, except the
    last, which is closed. Only non-empty bins are returned, one row each, with columns
    ``bin`` (0-based position among all bins, empty ones included), ``lower`` and ``upper``
    (bin edges), ``n``, ``mean_predicted`` and ``observed_rate``. Raises ``ValueError`` on
    empty input.
    """
    y, p = _labels_and_probs(y_true, probs)
    n_bins = operator.index(n_bins)
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if strategy == "uniform":
        edges = np.arange(n_bins + 1) / n_bins
    elif strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
        if edges.size == 1:  # every probability is the same: one bin holding them all
            edges = np.repeat(edges, 2)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")

    n_cut = edges.size - 1
    bins = np.searchsorted(edges[1:-1], p, side="right")
    counts = np.bincount(bins, minlength=n_cut)
    predicted = np.bincount(bins, weights=p, minlength=n_cut)
    observed = np.bincount(bins, weights=y, minlength=n_cut)
    filled = counts > 0
    return pd.DataFrame(
        {
            "bin": np.flatnonzero(filled),
            "lower": edges[:-1][filled],
            "upper": edges[1:][filled],
            "n": counts[filled],
            "mean_predicted": predicted[filled] / counts[filled],
            "observed_rate": observed[filled] / counts[filled],
        }
    )


def list_overlap(previous: Collection[str], current: Collection[str]) -> ListOverlap:
    """Compare two flag lists of officer ids (order ignored; duplicates refused)."""
    before = _id_set("previous", previous)
    after = _id_set("current", current)
    kept = len(before & after)
    union = len(before | after)
    return ListOverlap(
        jaccard=kept / union if union else 1.0,
        retained=kept / len(before) if before else math.nan,
        kept=kept,
        new=len(after - before),
        dropped=len(before - after),
    )


def rule_volume(flags: Vector) -> int:
    """Number of officers a 0/1 threshold rule flags: the ``k`` for an equal-volume comparison."""
    return int(_binary("flags", flags).sum())


def _values(name: str, values: Vector) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _binary(name: str, values: Vector) -> np.ndarray:
    array = _values(name, values)
    if not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return array.astype(np.int64)


def _labels_and_values(
    y_true: Vector, values: Vector, *, values_name: str
) -> tuple[np.ndarray, np.ndarray]:
    if (
        isinstance(y_true, pd.Series)
        and isinstance(values, pd.Series)
        and not y_true.index.equals(values.index)
    ):
        raise ValueError(
            f"y_true and {values_name} are Series with different indexes; rows are matched "
            "by position, so align them first"
        )
    y = _binary("y_true", y_true)
    v = _values(values_name, values)
    if y.shape != v.shape:
        raise ValueError(f"y_true and {values_name} differ in length ({y.size} and {v.size} rows)")
    return y, v


def _labels_and_probs(y_true: Vector, probs: Vector) -> tuple[np.ndarray, np.ndarray]:
    y, p = _labels_and_values(y_true, probs, values_name="probs")
    if y.size == 0:
        raise ValueError("y_true and probs are empty")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("probs must lie in [0, 1]")
    return y, p


def _id_set(name: str, ids: Collection[str]) -> set[str]:
    if isinstance(ids, str):
        raise TypeError(f"{name} must be a collection of officer ids, not a single string")
    unique = set(ids)
    if len(unique) != len(ids):
        raise ValueError(f"{name} lists some officer ids more than once")
    return unique
