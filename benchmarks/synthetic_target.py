"""The synthetic target: does the champion reach 0.85 of the history ceiling's precision?

The history ceiling (``ewp.benchmarks.ceiling``, ``ewp.data.synthetic`` "Ground truth") ranks
officers by the best estimate of their latent risk that the observable history allows, computed with
knowledge no model has. The target (issue 16, item 5): on the default force, the champion that ``ewp
train`` selects reaches at least 0.85 of the ceiling's precision at the published list
(``scoring.top_k``, 50 a month) and at the top 1%, pooled over seeds, with the fairness gate in
force.

One pipeline: for each seed this runs the train flow itself (``ewp.flows.train.run_train`` with
``publish=False``, exactly ``ewp evaluate``: the same evaluation, fairness gate and selection
as ``ewp train``, nothing registered) on the config with only its ``seed`` changed, in a fresh
data home, so the force is generated from that seed too. The ceiling is scored by the same
evaluation, on the same officers and dates, as a reference beside the candidates. From each
run it keeps every candidate's pooled true positives and places at the two lists, which
candidate won and which were eligible; then it pools over seeds:

* ``precision`` of the champion (each seed's own) and of the ceiling = summed TP / summed
  places over seeds and test dates, and ``ratio`` = champion precision / ceiling precision;
* its interval from a bootstrap over seeds (each seed is an independent force: resampling
  them carries the noise of the force, of the 50-officer lists and of the selection alike);
* the same ratio for every candidate as if it were always chosen, and for the best eligible
  candidate in hindsight, to tell what the model can do from what selection costs.

A seed takes about as long as ``ewp evaluate`` (about 3 CPU-minutes on the default config), so
the default is 3 seeds; ``--seeds`` takes any list (the 15 of ``make ceiling``:
``--seeds 20261123 1 2 ... 14``). Per-seed tables are written under ``--out`` as they finish,
and ``--resume`` reuses those already there (same config assumed: delete the folder after a
code or config change)::

    python -m ewp.benchmarks.synthetic_target                   # seeds 20261123, 1, 2
    python -m ewp.benchmarks.synthetic_target --seeds 20261123 $(seq 1 14) --resume
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ewp.core.atomic import read_csv, write_csv
from ewp.core.config import Config, fraction_list_name, load_config
from ewp.core.settings import configure_environment
from ewp.models.selection import HISTORY_CEILING, ORACLE

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
DEFAULT_OUT = Path(".ewp") / "bench" / "synthetic-target"
DEFAULT_SEEDS = (20261123, 1, 2)
CEILING_SEEDS = (20261123, *range(1, 15))  # the seeds of make ceiling
TARGET = 0.85
TOP_FRACTION = 0.01
CHAMPION = "champion"
BEST_IN_HINDSIGHT = "best eligible in hindsight"
SEED_COLUMNS = ["seed", "candidate", "list", "k", "tp", "precision_low", "precision_high"]
SEED_COLUMNS += ["gate_passed", "eligible", "champion"]


def target_lists(config: Config) -> list[str]:
    """The lists the target is measured at: the selection list (the published one by
    default, ``top_50``) and the top 1% (``top_1pct``)."""
    return list(dict.fromkeys([config.selection_list(), fraction_list_name(TOP_FRACTION)]))


def seed_table(
    *,
    summary: pd.DataFrame,
    selection: pd.DataFrame,
    champion: str | None,
    seed: int,
    list_name: str,
) -> pd.DataFrame:
    """One training run's candidates as the target reads them: seed, candidate, list, k
    (places, summed over test dates), tp, precision_low and precision_high (the run's bootstrap
    interval over officers, at the selection list only: NaN at others), gate_passed (the
    fairness gate), eligible (as selection decided: gate and interpretability) and champion.
    ``summary`` and ``selection`` are the run's ``summary.csv`` and ``selection.csv``
    (``TrainResult.summary`` / ``.selection``), ``list_name`` the list it selected at."""
    chosen = selection.set_index("candidate")
    at_selection = summary["list"] == list_name
    table = summary[["candidate", "list", "k", "tp"]].assign(seed=seed)
    for bound in ("precision_low", "precision_high"):
        interval = chosen[bound] if bound in chosen else pd.Series(dtype=float)
        table[bound] = table["candidate"].map(interval).where(at_selection)
    for decided in ("gate_passed", "eligible"):
        table[decided] = table["candidate"].map(chosen[decided]).fillna(False).astype(bool)
    table["champion"] = table["candidate"] == champion
    return table[SEED_COLUMNS].reset_index(drop=True)


def _pooled_ratio(champion_tp, champion_k, ceiling_tp, ceiling_k) -> float:
    """Champion precision over ceiling precision, each summed TP / summed places."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((champion_tp / champion_k) / (ceiling_tp / ceiling_k))


def ratio_table(
    seeds: pd.DataFrame,
    *,
    lists: Sequence[str],
    reference: str,
    who: str = CHAMPION,
    samples: int = 2000,
    confidence: float = 0.95,
    random_seed: int = 0,
) -> pd.DataFrame:
    """``who``'s precision as a share of ``reference``'s, per seed and pooled, at each list.

    ``who`` is ``CHAMPION`` (each seed's own champion), ``BEST_IN_HINDSIGHT`` (the eligible
    candidate with the most TP at that list in that seed) or a candidate's name. Returns one row
    per seed and list, then one per list with seed "pooled": seed, list, candidate (who it was,
    or "(varies)" pooled), k, tp, precision, precision_low, precision_high, reference_k,
    reference_tp, reference_precision, reference_low, reference_high (per seed, at the
    selection list: each precision's interval from the run's bootstrap over officers), ratio,
    ratio_low, ratio_high (pooled rows only: percentile interval of a bootstrap over seeds,
    ``samples`` draws; NaN with one seed), target (``TARGET``) and met (ratio >= target).

    Worked example: seeds A and B, champion TP 3 and 5 of 50 places each, ceiling TP 4 and 6:
    per seed 0.06/0.08 = 0.75 and 0.10/0.12 = 0.833; pooled 8/100 over 10/100 = 0.80.
    """
    rows = []
    rng = np.random.default_rng(random_seed)
    for list_name in lists:
        at = seeds.loc[seeds["list"] == list_name]
        ref = at.loc[at["candidate"] == reference].set_index("seed")
        chosen = _chosen(at, who=who).set_index("seed").reindex(ref.index)
        per_seed = pd.DataFrame(
            {
                "seed": ref.index,
                "list": list_name,
                "candidate": chosen["candidate"].to_numpy(),
                "k": chosen["k"].to_numpy(dtype=float),
                "tp": chosen["tp"].to_numpy(dtype=float),
                "precision_low": chosen["precision_low"].to_numpy(dtype=float),
                "precision_high": chosen["precision_high"].to_numpy(dtype=float),
                "reference_k": ref["k"].to_numpy(dtype=float),
                "reference_tp": ref["tp"].to_numpy(dtype=float),
                "reference_low": ref["precision_low"].to_numpy(dtype=float),
                "reference_high": ref["precision_high"].to_numpy(dtype=float),
            }
        )
        rows.append(per_seed)
        pooled = {
            "seed": "pooled",
            "list": list_name,
            "candidate": per_seed["candidate"].iloc[0]
            if per_seed["candidate"].nunique() == 1
            else "(varies)",
            **per_seed[["k", "tp", "reference_k", "reference_tp"]].sum().to_dict(),
        }
        low = high = np.nan
        if len(per_seed) > 1:
            draws = rng.integers(0, len(per_seed), size=(samples, len(per_seed)))
            sums = {
                column: per_seed[column].to_numpy()[draws].sum(axis=1)
                for column in ("k", "tp", "reference_k", "reference_tp")
            }
            replicates = (sums["tp"] / sums["k"]) / (sums["reference_tp"] / sums["reference_k"])
            tail = (1 - confidence) / 2
            low, high = np.nanquantile(replicates, [tail, 1 - tail])
        rows.append(pd.DataFrame([pooled | {"ratio_low": low, "ratio_high": high}]))
    table = pd.concat(rows, ignore_index=True)
    table["precision"] = table["tp"] / table["k"]
    table["reference_precision"] = table["reference_tp"] / table["reference_k"]
    table["ratio"] = [
        _pooled_ratio(*values)
        for values in table[["tp", "k", "reference_tp", "reference_k"]].to_numpy(dtype=float)
    ]
    table["target"] = TARGET
    table["met"] = table["ratio"] >= TARGET
    columns = ["seed", "list", "candidate", "k", "tp", "precision", "precision_low"]
    columns += ["precision_high", "reference_k", "reference_tp", "reference_precision"]
    columns += ["reference_low", "reference_high", "ratio"]
    return table[[*columns, "ratio_low", "ratio_high", "target", "met"]]


def _chosen(at_list: pd.DataFrame, *, who: str) -> pd.DataFrame:
    """Per seed, the row of the candidate ``who`` names at one list."""
    if who == CHAMPION:
        return at_list.loc[at_list["champion"]]
    if who == BEST_IN_HINDSIGHT:
        eligible = at_list.loc[at_list["eligible"]].sort_values(["tp", "candidate"])
        return eligible.groupby("seed").tail(1)
    return at_list.loc[at_list["candidate"] == who]


@dataclass(frozen=True)
class SeedRun:
    """Where one seed's run keeps its data home and its table."""

    home: Path
    table: Path


def seed_run(out: Path, seed: int) -> SeedRun:
    """The data home and the per-seed table of ``seed`` under ``out``."""
    return SeedRun(home=out / f"seed-{seed}", table=out / f"seed-{seed}.csv")


def run_seed(config: Config, *, seed: int, out: Path, keep_runs: bool) -> pd.DataFrame:
    """Run the train flow (evaluation, gate, selection; nothing registered) on ``config``
    with ``seed`` in a fresh data home; the seed's table (``seed_table``), also written
    under ``out``. The data home is removed afterwards unless ``keep_runs``."""
    from ewp.flows.train import run_train

    where = seed_run(out, seed)
    shutil.rmtree(where.home, ignore_errors=True)
    result = run_train(config.model_copy(update={"seed": seed}), where.home, publish=False)
    table = seed_table(
        summary=result.summary,
        selection=result.selection,
        champion=result.champion,
        seed=seed,
        list_name=config.selection_list(),
    )
    write_csv(table, where.table, float_format="%.6f")
    if not keep_runs:
        shutil.rmtree(where.home, ignore_errors=True)
    return table


def references_gated(at_selection: pd.DataFrame, *, references: Sequence[str]) -> list[str]:
    """What the fairness gate would have done to each reference ranker (the history ceiling,
    the oracle) had it been a candidate, as lines of text: "ceiling_from_history: the gate
    would have blocked it on 2 of 15 seeds (4, 6)". The gate is computed for them as for
    every candidate; a reference it blocks shows that the gate binds even the best ranking
    the history allows."""
    n = at_selection["seed"].nunique()
    lines = []
    for name in references:
        rows = at_selection.loc[at_selection["candidate"] == name]
        if rows.empty:
            continue
        failed = [str(seed) for seed in rows.loc[~rows["gate_passed"], "seed"]]
        where = f" ({', '.join(failed)})" if failed else ""
        lines.append(
            f"{name}: the gate would have blocked it on {len(failed)} of {n} "
            f"seed{'s' if n > 1 else ''}{where}"
        )
    return lines


def report(
    seeds: pd.DataFrame, *, lists: Sequence[str], reference: str, not_candidates: Sequence[str]
) -> str:
    """The per-seed and pooled ratios of the champion against ``reference``, what the fairness
    gate blocked, then the pooled ratio of every other way of choosing (each candidate always,
    the best eligible in hindsight), as text. ``not_candidates``: the references (never
    selectable, so never reported as blocked)."""
    champion = ratio_table(seeds, lists=lists, reference=reference)
    n = seeds["seed"].nunique()
    lines = [f"The champion's precision as a share of {reference}'s (target {TARGET}):"]
    with pd.option_context("display.width", 200, "display.precision", 3):
        lines += [champion.drop(columns=["target"]).to_string(index=False), ""]
    for row in champion.loc[champion["seed"] == "pooled"].itertuples(index=False):
        lines.append(
            f"{row.list}: pooled over {n} seed{'s' if n > 1 else ''} the champion reaches "
            f"{row.ratio:.2f} [{row.ratio_low:.2f}, {row.ratio_high:.2f}] of the ceiling "
            f"({row.precision:.3f} against {row.reference_precision:.3f}): target {TARGET} "
            f"{'met' if row.met else 'NOT met'}"
        )
    at_selection = seeds.loc[seeds["list"] == lists[0]]
    blocked = at_selection.loc[
        ~at_selection["gate_passed"] & ~at_selection["candidate"].isin(not_candidates)
    ]
    for seed, names in blocked.groupby("seed", sort=False)["candidate"]:
        lines.append(f"Seed {seed}: the fairness gate blocked {', '.join(sorted(names))}")
    lines += references_gated(at_selection, references=not_candidates)
    lines += ["", "Pooled ratio if the choice were fixed (diagnostic, not a selection rule):"]
    won = at_selection.loc[at_selection["champion"], "candidate"].value_counts()
    for who in [BEST_IN_HINDSIGHT, *sorted(set(seeds["candidate"]) - {reference})]:
        pooled = ratio_table(seeds, lists=lists, reference=reference, who=who)
        pooled = pooled.loc[pooled["seed"] == "pooled"].set_index("list")
        cells = ", ".join(
            f"{name} {pooled.loc[name, 'ratio']:.2f} [{pooled.loc[name, 'ratio_low']:.2f}, "
            f"{pooled.loc[name, 'ratio_high']:.2f}]"
            for name in lists
        )
        chosen = f" (champion on {won[who]} of {n})" if who in won else ""
        lines.append(f"  {who}: {cells}{chosen}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the train flow on each seed and print the ratios against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--resume", action="store_true", help="reuse per-seed tables in --out")
    parser.add_argument("--keep-runs", action="store_true", help="keep each seed's data home")
    args = parser.parse_args(argv)
    configure_environment(args.out)  # Prefect and MLflow state under --out, before importing
    config = load_config(args.config)
    tables = []
    for seed in args.seeds:
        where = seed_run(args.out, seed)
        if args.resume and where.table.is_file():
            tables.append(read_csv(where.table))
            continue
        print(f"Seed {seed}: running the train flow (evaluation, gate, selection)", flush=True)
        tables.append(run_seed(config, seed=seed, out=args.out, keep_runs=args.keep_runs))
    seeds = pd.concat(tables, ignore_index=True)
    for decided in ("gate_passed", "eligible", "champion"):  # read back from CSV as text
        seeds[decided] = seeds[decided].astype(str) == "True"
    print(
        report(
            seeds,
            lists=target_lists(config),
            reference=HISTORY_CEILING,
            not_candidates=(HISTORY_CEILING, ORACLE),
        )
    )


if __name__ == "__main__":
    main()
