"""Temporal evaluation of the candidate grid, on the lists a standards unit would receive.

For each test date every candidate is fitted on its split's training rows and ranks the serving
cohort at the test date. Metrics are taken at *list sizes*: fixed sizes (top 50), fractions
(top 1%) and, for the headline comparison, the flag volume of each threshold rule on that date
("volume_rule_3_in_180d" = as many officers as "3+ notices in 180 days" flags). A model earns
its place by beating the rule at the rule's own volume.

Selection rule (documented in the README and model card): among eligible candidates, the
champion has the highest mean precision at the selection list size across test dates; ties are
broken by the smaller worst-case regret (the largest gap, on any test date, to the best
candidate on that date), then by name. Eligible = interpretable (unless the config allows a
black box) and passed by the gate, a hook the fairness audit fills.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.config import CandidateConfig
from models.candidates import build_candidate, scores_and_probabilities
from models.credit import (
    CreditBuilder,
    ListCredit,
    ListReplicates,
    bootstrap_lists,
    defined_quantiles,
    list_intervals,
    pool_credit,
    ratio,
)
from models.metrics import at_k, average_precision, brier, k_for_fraction, list_overlap

AT_K_FIELDS = ("tp", "fp", "precision", "recall", "tp_worst", "tp_best", "n_tied_at_cutoff")


@dataclass(frozen=True)
class ListSize:
    """A named list size, e.g. ``top_50`` (k = 50) or ``volume_rule_3_in_180d``."""

    name: str
    k: int


def list_sizes(
    *,
    n_rows: int,
    sizes: Sequence[int],
    fractions: Sequence[float],
    rule_volumes: Mapping[str, int],
) -> list[ListSize]:
    """The list sizes to evaluate at one test date with ``n_rows`` serving officers."""
    out = [ListSize(f"top_{k}", min(k, n_rows)) for k in sizes]
    out += [
        ListSize(f"top_{fraction * 100:g}pct", k_for_fraction(n_rows, fraction))
        for fraction in fractions
    ]
    out += [ListSize(f"volume_{rule}", volume) for rule, volume in rule_volumes.items()]
    return out


def list_metrics(
    *,
    y_true: np.ndarray,
    scores: np.ndarray,
    probabilities: np.ndarray,
    sizes: Sequence[ListSize],
    ranked: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per list size: k, TP/FP (expected under random tie-breaking), precision,
    recall, worst and best case over ties; plus the ranking-wide average precision and Brier.
    ``ranked``: ``np.sort(scores)``, if the caller has it."""
    ranked = np.sort(scores) if ranked is None else ranked
    rows = []
    ap = average_precision(y_true, scores) if y_true.any() else float("nan")
    score_brier = brier(y_true, probabilities)
    for size in sizes:
        result = at_k(y_true, scores, size.k, ranked=ranked)
        row = {"list": size.name, "k": size.k}
        row.update({field: float(getattr(result, field)) for field in AT_K_FIELDS})
        row["precision_worst"] = float(result.precision_worst)
        row["precision_best"] = float(result.precision_best)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["average_precision"] = ap
    frame["brier"] = score_brier
    return frame


def tie_break_keys(officer_ids: np.ndarray, *, seed: int, as_of: object) -> np.ndarray:
    """A seeded random key per officer for one date, to break ties at a cut-off neutrally.

    Keys are a keyed hash of the officer ID (the key made from ``seed`` and ``as_of``), so they
    do not depend on row order or on how IDs were assigned (a real export numbers officers in
    file order), and a tie is broken afresh on each date.
    """
    key = hashlib.sha256(f"{seed}|{pd.Timestamp(as_of).date()}".encode()).hexdigest()[:16]
    ids = np.asarray(officer_ids).astype(str).astype(object)
    return pd.util.hash_array(ids, hash_key=key, categorize=False)


def top_order(
    officer_ids: np.ndarray,
    scores: np.ndarray,
    k: int,
    *,
    ranked: np.ndarray | None = None,
    tie_keys: np.ndarray | None = None,
) -> np.ndarray:
    """Positions of the k highest-scoring officers, ties broken by ``tie_keys`` (e.g.
    ``tie_break_keys``), else by officer ID (as the published weekly list does).

    Only the officers scoring at least the k-th highest score are sorted: the same list as
    sorting everyone, without sorting a force's IDs for a list of 50. ``ranked``:
    ``np.sort(scores)``, if the caller has it.
    """
    positions = np.arange(len(scores))
    if 0 < k < len(scores) and not np.isnan(scores).any():
        kth = (np.sort(scores) if ranked is None else ranked)[len(scores) - k]
        positions = np.flatnonzero(scores >= kth)
    keys = [officer_ids[positions]]
    if tie_keys is not None:
        keys.append(tie_keys[positions])
    order = np.lexsort((*keys, -scores[positions]))
    return positions[order[:k]]


def stability(lists: pd.DataFrame) -> pd.DataFrame:
    """Overlap of each candidate's list with its list on the previous test date.

    ``lists`` has columns candidate, test_as_of, officer_ids (list of IDs) for one list size.
    Returns candidate, test_as_of, jaccard, retained (share of the previous list still on it).
    """
    rows = []
    for candidate, group in lists.sort_values("test_as_of").groupby("candidate", sort=True):
        previous = None
        for row in group.itertuples(index=False):
            if previous is not None:
                overlap = list_overlap(previous, row.officer_ids)
                rows.append(
                    {
                        "candidate": candidate,
                        "test_as_of": row.test_as_of,
                        "jaccard": overlap.jaccard,
                        "retained": overlap.retained,
                    }
                )
            previous = row.officer_ids
    return pd.DataFrame(rows, columns=["candidate", "test_as_of", "jaccard", "retained"])


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each candidate at each list size over all test dates: TP and FP summed, precision and
    recall pooled (sum TP / sum k), ranking metrics averaged, and the number of test dates."""
    grouped = metrics.groupby(["candidate", "list"], sort=True)
    summed = grouped[["k", "tp", "fp", "tp_worst", "tp_best"]].sum()
    summed["precision"] = summed["tp"] / summed["k"].where(summed["k"] > 0)
    summed["precision_worst"] = summed["tp_worst"] / summed["k"].where(summed["k"] > 0)
    summed["precision_best"] = summed["tp_best"] / summed["k"].where(summed["k"] > 0)
    summed["mean_recall"] = grouped["recall"].mean()
    summed["average_precision"] = grouped["average_precision"].mean()
    summed["brier"] = grouped["brier"].mean()
    summed["test_dates"] = grouped.size()
    if "rule_flags" in metrics:
        summed["rule_flags"] = grouped["rule_flags"].sum(min_count=1)
    return summed.reset_index()


def rule_fills(candidates: Sequence[CandidateConfig], *, seed: int) -> dict[str, str]:
    """Each flag rule's ``describe_fill()`` (how its list goes on past its flags), by name."""
    built = {c.name: build_candidate(c, seed=seed) for c in candidates}
    return {name: model.describe_fill() for name, model in built.items() if hasattr(model, "flags")}


def short_rule_lists(metrics: pd.DataFrame, *, fills: Mapping[str, str]) -> pd.DataFrame:
    """Where a rule flags fewer officers than a list holds, and how its list goes on.

    ``metrics`` has ``rule_flags`` (see ``SplitEvaluation``); ``fills`` maps each rule to its
    ``describe_fill()``. One row per rule and list on which the rule fell short on some date:
    rule, list, test_dates, short_dates (dates with fewer flags than places), places and
    rule_flags (pooled over dates), filled_by (words).
    """
    rules = metrics.loc[metrics["rule_flags"].notna() & (metrics["k"] > 0)]
    rules = rules.assign(short=rules["rule_flags"] < rules["k"])
    grouped = rules.groupby(["candidate", "list"], sort=True)
    table = pd.DataFrame(
        {
            "test_dates": grouped.size(),
            "short_dates": grouped["short"].sum(),
            "places": grouped["k"].sum(),
            "rule_flags": grouped["rule_flags"].sum(),
        }
    ).reset_index()
    table = table.loc[table["short_dates"] > 0].rename(columns={"candidate": "rule"})
    return table.assign(filled_by=table["rule"].map(fills)).reset_index(drop=True)


def by_split(metrics: pd.DataFrame, *, list_name: str) -> pd.DataFrame:
    """Candidates x test blocks at one list size, plus "all" blocks pooled: candidate, split,
    k, tp, fp, precision (sum TP / sum k). Long format; the CLI lays it out."""
    at_size = metrics.loc[metrics["list"] == list_name]
    per_split = at_size.groupby(["candidate", "split"], sort=True)[["k", "tp", "fp"]].sum()
    overall = at_size.groupby("candidate", sort=True)[["k", "tp", "fp"]].sum()
    overall = overall.assign(split="all").set_index("split", append=True)
    both = pd.concat([per_split, overall]).reset_index()
    both["precision"] = both["tp"] / both["k"].where(both["k"] > 0)
    return both


def headline(metrics: pd.DataFrame, *, rule: str) -> pd.DataFrame:
    """Every candidate at the rule's flag volume, pooled over test dates, against the rule.

    Columns: candidate, tp, fp, precision, tp_ratio (candidate TP / rule TP), fp_change
    (relative change in FP vs the rule; -0.3 = 30% fewer false positives).
    """
    at_volume = metrics.loc[metrics["list"] == f"volume_{rule}"]
    pooled = at_volume.groupby("candidate", sort=True)[["k", "tp", "fp"]].sum()
    pooled["precision"] = np.where(pooled["k"] > 0, pooled["tp"] / pooled["k"].clip(lower=1), 0)
    rule_tp, rule_fp = pooled.loc[rule, "tp"], pooled.loc[rule, "fp"]
    pooled["tp_ratio"] = pooled["tp"] / rule_tp if rule_tp else np.nan
    pooled["fp_change"] = pooled["fp"] / rule_fp - 1 if rule_fp else np.nan
    return pooled.reset_index()


def headline_intervals(replicates: ListReplicates, *, rule: str, confidence: float) -> pd.DataFrame:
    """Bootstrap intervals for ``headline``'s tp_ratio and fp_change, paired over officers.

    ``replicates`` (``models.credit.bootstrap_lists``) holds every candidate's list at
    ``volume_<rule>`` pooled over test dates, officers tied at a cut-off holding a share of a
    place, exactly as in the point estimate. Every candidate is measured on the same replicate,
    so the ratio's interval reflects the paired comparison.

    Worked example: the rule flags {A+, B-}, the model {A+, C+} (+ = label 1). A replicate
    drawing A twice, B once and C zero times has rule TP 2, model TP 2: ratio 1.0. The point
    estimate (all drawn once) is 2 / 1 = 2.0.

    Returns candidate, tp_ratio_low, tp_ratio_high, fp_change_low, fp_change_high: NaN where
    the rule has no true (or false) positive in any replicate, e.g. a rule that flags nobody.
    """
    names, places, tp = replicates.at_list(f"volume_{rule}")
    fp = places - tp
    rule_at = names.index(rule)
    tail = (1 - confidence) / 2
    # A replicate in which the rule has no TP (or no FP) leaves that ratio undefined: it is
    # left out of that ratio's quantiles (only possible with a handful of flagged officers).
    tp_ratio = ratio(tp, tp[:, [rule_at]] * np.ones((1, len(names))))
    fp_change = ratio(fp, fp[:, [rule_at]] * np.ones((1, len(names)))) - 1
    tp_low, tp_high = defined_quantiles(tp_ratio[1:], tail)
    fp_low, fp_high = defined_quantiles(fp_change[1:], tail)
    return pd.DataFrame(
        {
            "candidate": names,
            "tp_ratio_low": tp_low,
            "tp_ratio_high": tp_high,
            "fp_change_low": fp_low,
            "fp_change_high": fp_high,
        }
    )


@dataclass(frozen=True)
class SplitEvaluation:
    """Metrics of every candidate on every as-of date of one split's test block.

    ``metrics``: test_as_of, candidate, list, k, tp, fp, precision, ... (see ``list_metrics``;
    officers tied at a cut-off hold a share of a place). ``credit``: the same lists as shares
    of a place per officer (``models.credit``), for bootstrap intervals that match ``metrics``.
    ``lists``: candidate, test_as_of, list, officer_ids, labels, rule_flags: each candidate's
    list at every list size as officer IDs in list order (ties at the cut-off broken by a
    seeded random key, ``tie_break_keys``), the listed officers' labels, and for a flag rule
    how many of them it flags itself (``officer_ids[:rule_flags]``; the rest continue by the
    rule's own feature, ``models.rules``; <NA> for a model), for stability and the fairness
    audit. ``metrics`` has the same ``rule_flags`` (NaN for a model).
    """

    metrics: pd.DataFrame
    lists: pd.DataFrame
    credit: ListCredit


def candidate_features(
    candidate: CandidateConfig,
    *,
    features: Sequence[str],
    feature_sets: Mapping[str, Sequence[str]] | None,
) -> list[str]:
    """The feature columns a candidate may use: all, or its named subset (checked)."""
    if candidate.feature_set == "all":
        return list(features)
    subset = list((feature_sets or {}).get(candidate.feature_set, ()))
    missing = sorted(set(subset) - set(features)) if subset else [candidate.feature_set]
    if missing:
        raise ValueError(
            f"candidate {candidate.name!r}: feature_set {candidate.feature_set!r} names "
            f"features the matrix lacks: {missing}"
        )
    return subset


def evaluate_split(
    *,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    train_weights: np.ndarray,
    test: pd.DataFrame,
    test_labels: np.ndarray,
    features: Sequence[str],
    candidates: Sequence[CandidateConfig],
    seed: int,
    sizes: Sequence[int],
    fractions: Sequence[float],
    feature_sets: Mapping[str, Sequence[str]] | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    curve_sizes: Sequence[int] = (),
) -> SplitEvaluation:
    """Fit each candidate on the split's training rows and evaluate it on each test date.

    ``train``/``test`` are feature-matrix rows (``officer_id``, ``as_of`` and ``features``);
    the test rows may span several as-of dates (a test block). The training rows are usually a
    negative subsample (``models.sampling.negative_subsample``, the same rows for every
    candidate) and ``train_weights`` its inverse-probability weights. A candidate whose
    ``feature_set`` is not "all" sees only that subset of ``feature_sets``. Every threshold or
    peer rule also defines a list size: its own flag volume on each date. ``reference`` adds
    fixed scores aligned with ``test`` (e.g. the synthetic force's ground-truth oracle) as extra
    rows, not candidates. ``curve_sizes``: further list sizes (``top_<k>``) kept in ``credit``
    only, for a precision-at-k curve.
    """
    train_y = np.asarray(train_labels).astype("int64")
    models = {}
    for candidate in candidates:
        columns = candidate_features(candidate, features=features, feature_sets=feature_sets)
        model = build_candidate(candidate, seed=seed)
        models[candidate.name] = (
            model.fit(train[columns], train_y, sample_weight=train_weights),
            columns,
        )

    # Scored one test date at a time: a national test block is millions of rows, a date is
    # one cohort, and every candidate scores each row on its own.
    frames, lists = [], []
    as_of = pd.to_datetime(test["as_of"]).to_numpy()
    credit = CreditBuilder(test["officer_id"].to_numpy())
    for day in np.unique(as_of):
        on_day = np.flatnonzero(as_of == day)
        rows = test.iloc[on_day]
        scores: dict[str, np.ndarray] = {}
        probabilities: dict[str, np.ndarray] = {}
        volumes: dict[str, int] = {}
        for name, (model, columns) in models.items():
            scores[name], probabilities[name] = scores_and_probabilities(model, rows[columns])
            if hasattr(model, "flags"):
                volumes[name] = int(model.flags(rows[columns]).sum())
        for name, values in (reference or {}).items():
            scores[name] = values[on_day]
            probabilities[name] = np.clip(values[on_day], 0, 1)
        day_sizes = list_sizes(
            n_rows=len(on_day), sizes=sizes, fractions=fractions, rule_volumes=volumes
        )
        officer_ids = rows["officer_id"].to_numpy()
        tie_keys = tie_break_keys(officer_ids, seed=seed, as_of=day)
        day_labels = test_labels[on_day]
        credit.add_positives(on_day, day_labels)
        credited = {f"top_{k}": min(k, len(on_day)) for k in curve_sizes}
        credited.update({size.name: size.k for size in day_sizes})
        for name in scores:
            ranked = np.sort(scores[name])  # once for every list size
            frame = list_metrics(
                y_true=day_labels,
                scores=scores[name],
                probabilities=probabilities[name],
                sizes=day_sizes,
                ranked=ranked,
            )
            # A rule's own flags on each list (the rest continue by its own feature, see
            # models.rules); NaN for a model, whose whole list is its own ranking.
            rule_flags = np.minimum(frame["k"], volumes[name]) if name in volumes else np.nan
            frames.append(
                frame.assign(candidate=name, test_as_of=pd.Timestamp(day), rule_flags=rule_flags)
            )
            credit.add_ranking(
                candidate=name,
                rows=on_day,
                labels=day_labels,
                scores=scores[name],
                sizes=credited,
                ranked=ranked,
            )
            for size in day_sizes:
                top = top_order(officer_ids, scores[name], size.k, ranked=ranked, tie_keys=tie_keys)
                lists.append(
                    {
                        "candidate": name,
                        "test_as_of": pd.Timestamp(day),
                        "list": size.name,
                        "officer_ids": [str(i) for i in officer_ids[top]],
                        "labels": [int(v) for v in day_labels[top]],
                        "rule_flags": min(size.k, volumes[name]) if name in volumes else None,
                    }
                )
    metrics = pd.concat(frames, ignore_index=True)
    leading = ["test_as_of", "candidate", "list"]
    metrics = metrics[leading + [c for c in metrics.columns if c not in leading]]
    lists_frame = pd.DataFrame(lists)
    lists_frame["rule_flags"] = lists_frame["rule_flags"].astype("Int64")
    return SplitEvaluation(metrics=metrics, lists=lists_frame, credit=credit.build())


@dataclass(frozen=True)
class PooledEvaluation:
    """Every split's evaluation pooled over test dates, with bootstrap intervals.

    ``metrics`` and ``lists``: every split's, concatenated. ``summary``: ``summarise``.
    ``headline_by_rule``: ``headline`` at each rule's volume with its intervals, and a ``rule``
    column. ``intervals``: ``models.credit.list_intervals`` of every list (precision and recall
    pooled over test dates, with intervals), the extra curve sizes included.
    """

    metrics: pd.DataFrame
    lists: pd.DataFrame
    summary: pd.DataFrame
    headline_by_rule: pd.DataFrame
    intervals: pd.DataFrame

    def headline(self, rule: str) -> pd.DataFrame:
        """The equal-volume table of one rule (without the ``rule`` column)."""
        at_rule = self.headline_by_rule.loc[self.headline_by_rule["rule"] == rule]
        return at_rule.drop(columns="rule").reset_index(drop=True)


def pool_evaluations(
    evaluations: Sequence[SplitEvaluation],
    *,
    rules: Sequence[str],
    samples: int,
    confidence: float,
    seed: int,
) -> PooledEvaluation:
    """Pool the splits and compare every candidate with each of ``rules`` at its volume.

    Officers are resampled once for every table (``models.credit.bootstrap_lists``), so each
    interval comes from the same lists as its point estimate and intervals of different tables
    are paired.
    """
    metrics = pd.concat([e.metrics for e in evaluations], ignore_index=True)
    replicates = bootstrap_lists(
        pool_credit(e.credit for e in evaluations), samples=samples, seed=seed
    )
    by_rule = [
        headline(metrics, rule=rule)
        .merge(headline_intervals(replicates, rule=rule, confidence=confidence), on="candidate")
        .assign(rule=rule)
        for rule in rules
    ]
    return PooledEvaluation(
        metrics=metrics,
        lists=pd.concat([e.lists for e in evaluations], ignore_index=True),
        summary=summarise(metrics),
        headline_by_rule=pd.concat(by_rule, ignore_index=True) if by_rule else pd.DataFrame(),
        intervals=list_intervals(replicates, confidence=confidence),
    )


@dataclass(frozen=True)
class GateDecision:
    """What the gate (e.g. the fairness audit) says about a candidate."""

    passed: bool
    reason: str = ""


Gate = Callable[[str], GateDecision]


def allow_all(candidate: str) -> GateDecision:
    """The default gate: no objection. The fairness audit replaces it."""
    return GateDecision(passed=True)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a newly selected model replaces the registry's champion, and why."""

    promote: bool
    reason: str


def promotion_decision(
    *, metric: str, candidate_score: float, champion_score: float | None, same_model: bool
) -> PromotionDecision:
    """The champion changes only to a different model that scores strictly better on the
    selection metric, both measured in the same evaluation."""
    if same_model:
        return PromotionDecision(False, "the selected model is already the champion")
    if champion_score is None or np.isnan(champion_score):
        return PromotionDecision(True, "there is no champion yet")
    if candidate_score > champion_score:
        return PromotionDecision(
            True, f"beats the champion on {metric}: {candidate_score:.4f} > {champion_score:.4f}"
        )
    return PromotionDecision(
        False,
        f"does not beat the champion on {metric}: {candidate_score:.4f} <= {champion_score:.4f}",
    )


@dataclass(frozen=True)
class Selection:
    """The selection table (every candidate, its score, regret and eligibility) and winner."""

    table: pd.DataFrame
    champion: str | None
    metric: str


def select_champion(
    metrics: pd.DataFrame,
    *,
    list_name: str,
    eligible: Mapping[str, bool],
    gate: Gate = allow_all,
) -> Selection:
    """Apply the selection rule of the module docstring at list size ``list_name``."""
    at_size = metrics.loc[metrics["list"] == list_name]
    wide = at_size.pivot(index="test_as_of", columns="candidate", values="precision")
    regret = wide.max(axis=1).to_numpy()[:, None] - wide.to_numpy()
    table = pd.DataFrame(
        {
            "candidate": wide.columns,
            "mean_precision": wide.mean(axis=0).to_numpy(),
            "worst_regret": regret.max(axis=0),
        }
    )
    decisions = {name: gate(name) for name in table["candidate"]}
    table["interpretable_or_allowed"] = table["candidate"].map(lambda c: eligible.get(c, False))
    table["gate_passed"] = table["candidate"].map(lambda c: decisions[c].passed)
    table["gate_reason"] = table["candidate"].map(lambda c: decisions[c].reason)
    table["eligible"] = table["interpretable_or_allowed"] & table["gate_passed"]
    table = table.sort_values(
        ["eligible", "mean_precision", "worst_regret", "candidate"],
        ascending=[False, False, True, True],
        kind="stable",
    ).reset_index(drop=True)
    champion = table.loc[0, "candidate"] if bool(table.loc[0, "eligible"]) else None
    return Selection(table=table, champion=champion, metric=f"{list_name}.precision")


def share_of_references(
    selection: pd.DataFrame, *, champion: str, references: Sequence[str]
) -> pd.DataFrame:
    """The champion's mean precision as a share of each reference's present in ``selection``.

    On the synthetic force the references are the oracle (the true latent risk) and the
    ceiling (its best estimate from the history): "0.69 of the ceiling" says how much of what
    the history can tell the champion uses; "0.49 of the oracle", how much of the truth that
    is. Returns ``reference``, ``reference_precision``, ``champion_precision`` and ``share``,
    one row per reference found, in the order given (none for a real force).
    """
    precision = selection.set_index("candidate")["mean_precision"]
    present = [name for name in references if name in precision.index]
    reference_precision = precision.reindex(present).to_numpy()
    champion_precision = float(precision[champion])
    with np.errstate(divide="ignore", invalid="ignore"):
        share = champion_precision / reference_precision
    return pd.DataFrame(
        {
            "reference": present,
            "reference_precision": reference_precision,
            "champion_precision": champion_precision,
            "share": share,
        }
    )
