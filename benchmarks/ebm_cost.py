"""What one split's EBM fit costs at benchmark scale, per setting, beside the boosting yardstick.

The figures behind docs/performance.md, "The EBM's cost against what it buys": the training
rows of one split of ``ewp bench``'s force (``training_sample``, as ``ewp train`` draws them
for that split), fitted once per EBM setting in this process, one after another; CPU seconds
and boosting rounds per bag for each. It generates the force the first time, as ``ewp
bench`` does (under ``<data home>/bench``), then reuses it. Quality is not measured here: the
synthetic target (``ewp.benchmarks.synthetic_target --config``) and ``ewp evaluate`` rank
the settings as extra candidates::

    python -m ewp.benchmarks.ebm_cost                          # Met monthly, latest split
    python -m ewp.benchmarks.ebm_cost --scale national --cadence weekly
"""

from __future__ import annotations

import argparse
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ewp.benchmarks.steps import load_force
from ewp.benchmarks.suite import SCALES, prepare_force, training_config
from ewp.core.config import Config
from ewp.features.history import feature_columns
from ewp.features.matrix import FeatureMatrix
from ewp.flows.train import evaluation_splits, training_sample
from ewp.models.candidates import EBMScorer, HistGBYardstick

# The default configs' EBM first, then the cheaper settings compared with it.
EBM_SETTINGS: tuple[dict[str, Any], ...] = (
    {"outer_bags": 2, "learning_rate": 0.015},
    {"outer_bags": 1, "learning_rate": 0.015},
    {"outer_bags": 2, "learning_rate": 0.04},
    {"outer_bags": 1, "learning_rate": 0.04},
)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    """Fit each EBM setting and the yardstick on one split's training rows; print their cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".ewp"))
    parser.add_argument("--scale", choices=sorted(SCALES), default="met")
    parser.add_argument("--cadence", choices=("monthly", "weekly"), default="monthly")
    parser.add_argument("--split", type=int, default=-1, help="index of the split (-1: latest)")
    args = parser.parse_args(argv)
    seed = Config().seed
    folder = prepare_force(SCALES[args.scale], home=args.home / "bench", seed=seed, log=print)
    config = training_config(SCALES[args.scale], args.cadence, folder / "export")
    data = load_force(folder / "typed")
    matrix = FeatureMatrix.index(data, config=config.features)
    split = evaluation_splits(config)[args.split]
    rows, labels, weights = training_sample(
        data, matrix, split.train_as_of, config=config, observed_until=split.findings_known_by
    )
    features = rows[feature_columns(config.features)]
    print(f"Split {split.test_as_of}: {len(features):,} training rows x {features.shape[1]}")
    models = [
        (f"EBM {setting}", EBMScorer(interactions=0, random_state=config.seed, **setting))
        for setting in EBM_SETTINGS
    ]
    models.append(("boosting yardstick", HistGBYardstick(random_state=config.seed)))
    for name, model in models:
        before = cpu_seconds()
        model.fit(features, labels, sample_weight=weights)
        inner = model.model_
        rounds = getattr(inner, "best_iteration_", getattr(inner, "n_iter_", None))
        per_bag = np.asarray(rounds).ravel().tolist()
        print(f"  {name}: {cpu_seconds() - before:.1f} CPU s, rounds per bag {per_bag}")


if __name__ == "__main__":
    main()
