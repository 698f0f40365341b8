"""Every interval contains its point estimate on each shipped config's evaluation.

Issue 15 item 8 / issue 21 item 2: on a real export ``ewp evaluate`` printed a point estimate
outside its own 95% interval. The full runs take minutes each (docs/chicago.md), so this runs each
config's own candidate grid, list sizes, scoring list and bootstrap through the same pure
evaluation code as ``ewp train`` (``evaluate_split`` and ``pool_evaluations``) on reduced data:
a feature matrix of 600 officers on one training and two test dates, with counts drawn so that
the rules fire often and scores tie heavily (a synthetic force at Met rates barely fires the
rules, which would leave the ratios undefined and unchecked). It checks every interval the run
reports: the equal-volume ratios against every rule, and the precision and recall of every list,
the precision-at-k curve and the published list included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ewp.core.config import FeatureConfig, load_config
from ewp.features.history import feature_columns
from ewp.models.evaluation import curve_sizes, evaluate_split, pool_evaluations

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OFFICERS = 600
SHARES = ("unit_share_below_365d",)


def matrix(
    days: list[str], *, seed: int, features: FeatureConfig | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature rows of the same officers on ``days``: small whole-number counts (ties
    everywhere), shares in [0, 1], units; labels more likely with more recent notices."""
    rng = np.random.default_rng(seed)
    frames, labels = [], []
    for day in days:
        frame = pd.DataFrame(
            {
                name: rng.random(OFFICERS).round(1)
                if name.endswith(SHARES)
                else rng.poisson(1.2, OFFICERS).astype(float)
                for name in feature_columns(features or FeatureConfig())
            }
        )
        frame.insert(0, "as_of", pd.Timestamp(day))
        frame.insert(0, "unit", [f"U{i % 12}" for i in range(OFFICERS)])
        frame.insert(0, "officer_id", [f"OFF{i:04d}" for i in range(OFFICERS)])
        frames.append(frame)
        risk = 1 / (1 + np.exp(3.0 - 0.6 * frame["notices_365d"].to_numpy()))
        labels.append((rng.random(OFFICERS) < risk).astype(int))
    return pd.concat(frames, ignore_index=True), np.concatenate(labels)


def contains(low: float, point: float, high: float) -> bool:
    slack = 1e-9 * max(1.0, abs(point))
    return bool(low - slack <= point <= high + slack)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_interval_contains_its_point_estimate(path: Path) -> None:
    config = load_config(path)
    ev = config.evaluation
    train, train_y = matrix(["2018-01-01"], seed=1, features=config.features)
    test, test_y = matrix(["2019-01-01", "2019-02-01"], seed=2, features=config.features)
    sizes = curve_sizes(cohort=OFFICERS, anchors=[*ev.list_sizes, config.scoring.top_k])
    evaluation = evaluate_split(
        train=train,
        train_labels=train_y,
        train_weights=np.ones(len(train)),
        test=test,
        test_labels=test_y,
        features=feature_columns(config.features),
        candidates=ev.candidates,
        seed=config.seed,
        sizes=ev.list_sizes,
        fractions=ev.list_fractions,
        feature_sets=ev.feature_sets,
        curve_sizes=sizes,
        published=config.scoring,
    )
    rules = [c.name for c in ev.candidates if c.kind == "threshold_rule"]
    pooled = pool_evaluations(
        [evaluation], rules=rules, samples=300, confidence=ev.confidence, seed=config.seed
    )
    for row in pooled.headline_by_rule.itertuples(index=False):
        assert row.k > 0  # the rules fire here, so every ratio is defined and checked
        for ratio in ("tp_ratio", "fp_change"):
            point, low, high = (getattr(row, ratio + end) for end in ("", "_low", "_high"))
            assert contains(low, point, high), (path.stem, row.rule, row.candidate, ratio)
    for row in pooled.intervals.itertuples(index=False):
        assert row.places > 0
        for metric in ("precision", "recall"):
            point, low, high = (getattr(row, metric + end) for end in ("", "_low", "_high"))
            assert contains(low, point, high), (path.stem, row.candidate, row.list, metric)
    # The published list and the whole curve were among them.
    assert config.selection_list() in set(pooled.intervals["list"])
    assert {f"top_{k}" for k in sizes} <= set(pooled.intervals["list"])
