"""Negative subsampling with inverse-probability weights, for fitting on large, rare-label sets.

Training sets hold a million or more officer-periods with about 1.2% escalations, and an EBM
takes minutes to fit on them. Nearly all of that time goes on negatives, which carry little
information each. ``negative_subsample`` keeps every positive and each negative independently
with probability ``rate``, and weights each kept negative by ``1 / rate``: the weighted
subsample then estimates any sum over the full data without bias (a kept negative stands for
``1 / rate`` negatives on average), so a model fitted with these weights (every ewp estimator's
``fit`` takes ``sample_weight``) is calibrated to the full data's escalation rate in
expectation. Fitting the same subsample *without* the weights over-states the rate: the
log-odds shift up by about ``log(1 / rate)``.

The decision for each row uses one uniform draw per row (positives included, so the draw for a
row depends only on its position and the seed, not on other rows' labels): a negative is kept
when its draw is below ``rate``. With ``rate == 1`` nothing is drawn and every row is kept with
weight 1. ``positive_rate`` (default 1) subsamples positives the same way, for weekly rows
where one officer's consecutive positives are near-copies.

Worked example: ten officer-periods, two of them escalations, a quarter of negatives kept.

>>> import numpy as np
>>> y = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
>>> rows, weights = negative_subsample(y, rate=0.25, seed=4)
>>> rows.tolist()
[1, 3, 5, 7]
>>> weights.tolist()
[1.0, 4.0, 1.0, 4.0]

Both positives (rows 1 and 5) are kept with weight 1; negatives 3 and 7 were drawn, each
standing for four negatives, so the subsample's weighted escalation rate is
``2 / (2 + 4 + 4) = 0.2``, close to the full set's ``2 / 10``. Fit on ``X.iloc[rows]`` and
``y[rows]`` with ``sample_weight=weights``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd


def negative_subsample(
    y: np.ndarray | pd.Series, *, rate: float, seed: int, positive_rate: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Keep all positives and a ``rate`` share of negatives, with inverse-probability weights.

    Parameters
    ----------
    y:
        0/1 labels (1 = escalation), one dimension.
    rate:
        Probability, in (0, 1], that each negative is kept.
    positive_rate:
        Probability, in (0, 1], that each positive is kept (weight ``1 / positive_rate``);
        default 1, every positive. Below 1 only where positives are near-copies of each other,
        e.g. one officer's consecutive weekly rows.
    seed:
        Seed of ``np.random.default_rng``; the same ``y``, ``rate`` and ``seed`` always give the
        same rows.

    Returns
    -------
    rows, weights:
        Positions (int64, ascending, so in the original order) of the kept rows, and their
        weights (float64): ``1 / positive_rate`` for positives, ``1 / rate`` for negatives.
    """
    return NegativeSubsampler(rate=rate, positive_rate=positive_rate, seed=seed).draw(y)


class NegativeSubsampler:
    """``negative_subsample`` of labels that arrive in blocks (a long training window labelled
    a block of dates at a time): each ``draw`` continues the one stream of uniform draws, so
    the blocks' kept rows are exactly those of ``negative_subsample`` on the blocks joined.

    Worked example: ``draw(y[:4])`` then ``draw(y[4:])`` on the ten labels of the module's
    example (``rate=0.25, seed=4``) keep rows [1, 3] of the first block and [1, 3] of the
    second, i.e. rows 1, 3, 5 and 7 of the whole, with the same weights.
    """

    def __init__(self, *, rate: float, seed: int, positive_rate: float = 1.0) -> None:
        for name, value in (("rate", rate), ("positive_rate", positive_rate)):
            if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
                raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
        self.rate = float(rate)
        self.positive_rate = float(positive_rate)
        # With nothing to subsample nothing is drawn (and no generator made).
        every_row = self.rate == 1 and self.positive_rate == 1
        self._rng = None if every_row else np.random.default_rng(seed)

    def draw(self, y: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """The kept positions within ``y`` (the next block of labels) and their weights."""
        labels = np.asarray(y)
        if labels.ndim != 1:
            raise ValueError(f"expected labels in one dimension, got shape {labels.shape}")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be 0 (no escalation) or 1 (escalation)")
        if self._rng is None:
            return np.arange(len(labels), dtype="int64"), np.ones(len(labels), dtype="float64")
        draws = self._rng.random(len(labels))
        keep = np.where(labels == 1, self.positive_rate, self.rate)
        rows = np.flatnonzero(draws < keep).astype("int64")  # a draw is below 1 always
        return rows, 1.0 / keep[rows]


def sample_summary(y: np.ndarray | pd.Series, *, rate: float) -> str:
    """A training sample's make-up in words, for the run's log: rows, positives, negatives
    and negatives per positive.

    ``y`` holds the kept rows' 0/1 labels; ``rate`` is the negative sample rate they were drawn
    with. Worked example: 300 positives and 600 negatives kept at ``rate=0.1`` give "900
    training rows: 300 positives, 600 negatives (2.0 per positive, kept at a rate of 0.1)".
    """
    labels = np.asarray(y)
    positives = int((labels == 1).sum())
    negatives = len(labels) - positives
    ratio = f"{negatives / positives:.1f} per positive" if positives else "no positives"
    return (
        f"{len(labels):,} training rows: {positives:,} positives, {negatives:,} negatives "
        f"({ratio}, kept at a rate of {rate:g})"
    )
