"""How close to the oracle can any model get on the synthetic force? The history ceiling.

The generator writes two risks per officer and month (``ewp.data.synthetic``, "Ground truth"):

* ``escalation_rate``, from the officer's true latent propensity: the **oracle**;
* ``escalation_rate_given_history``, the posterior mean of that rate given the history known
  before the date, computed with knowledge no model has (which notices had merit, the
  generator's own parameters): the **ceiling** of a model that reads the history.

For each seed this generates the configured force (no training, ~6 s a seed) and, on every
monthly as-of date of the config's test blocks, scores both rankings and the headline rule
"3+ notices in 180 days" against the config's escalation label, as ``ewp train`` does:
precision of the top 1% and true / false positives at the rule's own flag volume. It answers
whether a target stated against the oracle is reachable at all, seed by seed::

    python -m ewp.benchmarks.ceiling                # the default seed and seeds 1-14
    python -m ewp.benchmarks.ceiling --seeds 20261123
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ewp.core.config import Config, load_config
from ewp.core.contract import ForceData
from ewp.data.synthetic import generate_configured_force
from ewp.features.history import EventSeries, day_numbers
from ewp.features.labels import build_labels, officer_codes
from ewp.flows.train import evaluation_splits
from ewp.models.metrics import at_k, k_for_fraction

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
RULE_WINDOW_DAYS, RULE_THRESHOLD = 180, 3  # the headline rule, "3+ notices in 180 days"
TOP_FRACTION = 0.01
RANKINGS = ("oracle", "ceiling")


def evaluation_as_of_dates(config: Config) -> list[dt.date]:
    """Every as-of date of the evaluation's test blocks, as ``ewp train`` scores them."""
    return [day for split in evaluation_splits(config) for day in split.test_block]


def evaluate_seed(config: Config, seed: int) -> pd.DataFrame:
    """One row per test date: list sizes, and true positives of each ranking and the rule."""
    force = generate_configured_force(config.synthetic, seed=seed)
    data = ForceData(force.officers, force.notices, force.outcomes)
    dates = evaluation_as_of_dates(config)
    rows = force.ground_truth[force.ground_truth["as_of"].isin(pd.to_datetime(dates))]
    rows = rows.reset_index(drop=True)
    labels = build_labels(data, rows, label=config.label, observed_until=force.extracted_on)
    notices = EventSeries.build(
        officer_codes(data.officers, data.notices["officer_id"]),
        day_numbers(data.notices["received_on"]),
    )
    as_of_day = day_numbers(rows["as_of"])
    recent = notices.count_between(
        officer_codes(data.officers, rows["officer_id"]), as_of_day - RULE_WINDOW_DAYS, as_of_day
    )
    scores = {
        "oracle": rows["escalation_rate"].to_numpy(),
        "ceiling": rows["escalation_rate_given_history"].to_numpy(),
    }
    records = []
    for as_of, index in rows.groupby("as_of").indices.items():
        y = labels.to_numpy()[index]
        flagged = recent[index] >= RULE_THRESHOLD
        volume = int(flagged.sum())
        top = k_for_fraction(len(index), TOP_FRACTION)
        record = {"seed": seed, "as_of": as_of, "top_k": top, "rule_volume": volume}
        record["rule_tp"] = int(y[flagged].sum())
        for name in RANKINGS:
            record[f"{name}_top_tp"] = at_k(y, scores[name][index], top).tp
            record[f"{name}_rule_volume_tp"] = at_k(y, scores[name][index], volume).tp
        records.append(record)
    return pd.DataFrame.from_records(records)


def summarise(per_date: pd.DataFrame) -> pd.DataFrame:
    """Per seed, pooled over its test dates: precision@1% of oracle and ceiling and their
    ratio; true positives of the rule, oracle and ceiling at the rule's volume."""
    totals = per_date.drop(columns="as_of").groupby("seed", sort=False).sum()
    table = pd.DataFrame(index=totals.index)
    for name in RANKINGS:
        table[f"{name}_precision_top_1pct"] = totals[f"{name}_top_tp"] / totals["top_k"]
    table["ceiling_over_oracle"] = (
        table["ceiling_precision_top_1pct"] / table["oracle_precision_top_1pct"]
    )
    table["rule_volume"] = totals["rule_volume"]
    table["rule_tp"] = totals["rule_tp"]
    for name in RANKINGS:
        table[f"{name}_tp_at_rule_volume"] = totals[f"{name}_rule_volume_tp"]
    table["ceiling_tp_over_rule"] = table["ceiling_tp_at_rule_volume"] / table["rule_tp"]
    return table


def main(argv: Sequence[str] | None = None) -> None:
    """Print the per-seed table and the pooled ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--seeds", type=int, nargs="+", default=[20261123, *range(1, 15)])
    args = parser.parse_args(argv)
    config = load_config(args.config)
    per_date = pd.concat([evaluate_seed(config, seed) for seed in args.seeds])
    table = summarise(per_date)
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(table.to_string())
    pooled = per_date.drop(columns=["as_of", "seed"]).sum()
    volume, rule_tp, ceiling_tp = (
        pooled["rule_volume"],
        pooled["rule_tp"],
        pooled["ceiling_rule_volume_tp"],
    )
    print(
        f"\nPooled over {len(args.seeds)} seeds: the ceiling's precision@1% is "
        f"{pooled['ceiling_top_tp'] / pooled['oracle_top_tp']:.2f} of the oracle's "
        f"(per seed {table['ceiling_over_oracle'].min():.2f}–"
        f"{table['ceiling_over_oracle'].max():.2f}). At the rule's volume ({volume:.0f} "
        f"flags) the ceiling finds {ceiling_tp:.0f} escalations, the rule {rule_tp:.0f}: "
        f"{ceiling_tp / rule_tp:.2f}x the true positives, "
        f"{(volume - ceiling_tp) / (volume - rule_tp) - 1:+.0%} false positives."
    )


if __name__ == "__main__":
    main()
