"""Temporal evaluation of the candidate grid, on the lists a standards unit would receive.

For each test date every candidate is fitted on its split's training rows and ranks the serving
cohort at the test date. Metrics are taken at *list sizes*: fixed sizes (top 50), fractions
(top 1%), the list the weekly run publishes (drawn as ``scoring`` draws it, ``draw_list``) and,
for the headline comparison, the flag volume of each threshold rule on that date
("volume_rule_3_in_180d" = as many officers as "3+ notices in 180 days" flags). A model earns
its place by beating the rule at the rule's own volume. Officers tied at a list's cut-off share
its places, in the metrics and in the bootstrap alike (``ewp.models.credit``); a rule's list past
its own flags goes on by the rule's own feature, never with arbitrary officers
(``ewp.models.rules``).

Selection rule (docs/model-development.md and the model card): among eligible candidates, the
champion has the highest mean precision at the selection list (by default the published list,
``Config.selection_list``) across test dates; ties are broken by the smaller worst-case regret
(the largest gap, on any test date, to the best candidate on that date), then by name.
Eligible = interpretable (unless the config allows a black box) and passed by the gate, a hook
the fairness audit fills.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ewp.core.config import (
    CandidateConfig,
    ScoringConfig,
    fraction_list_name,
    size_list_name,
    volume_list_name,
)
from ewp.models.candidates import build_candidate, scores_and_probabilities
from ewp.models.credit import (
    CreditBuilder,
    ListCredit,
    ListReplicates,
    bootstrap_lists,
    defined_quantiles,
    list_intervals,
    pool_credit,
    ratio,
)
from ewp.models.metrics import at_k, average_precision, brier, k_for_fraction, list_overlap

LIST_COLUMNS = ["candidate", "test_as_of", "list", "officer_ids", "labels", "rule_flags"]
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
    out = [ListSize(size_list_name(k), min(k, n_rows)) for k in dict.fromkeys(sizes)]
    out += [
        ListSize(fraction_list_name(fraction), k_for_fraction(n_rows, fraction))
        for fraction in fractions
    ]
    out += [ListSize(volume_list_name(rule), volume) for rule, volume in rule_volumes.items()]
    return out


def list_metrics(
    *,
    y_true: np.ndarray,
    scores: np.ndarray,
    probabilities: np.ndarray,
    sizes: Sequence[ListSize],
    ranked: np.ndarray | None = None,
    drawn: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """One row per list size: k, TP/FP (expected under random tie-breaking), precision,
    recall, worst and best case over ties; plus the ranking-wide average precision and Brier.
    ``drawn`` adds lists drawn otherwise (name -> listed positions, e.g. capped per unit),
    whose worst, expected and best case coincide. ``ranked``: ``np.sort(scores)``, if the
    caller has it (one sort for every metric of the ranking)."""
    ranked = np.sort(scores) if ranked is None else ranked
    rows = []
    ap = average_precision(y_true, scores, ranked=ranked) if y_true.any() else float("nan")
    score_brier = brier(y_true, probabilities)
    for size in sizes:
        result = at_k(y_true, scores, size.k, ranked=ranked)
        row = {"list": size.name, "k": size.k}
        row.update({field: float(getattr(result, field)) for field in AT_K_FIELDS})
        row["precision_worst"] = float(result.precision_worst)
        row["precision_best"] = float(result.precision_best)
        rows.append(row)
    positives = int(np.sum(y_true))
    for name, listed in (drawn or {}).items():
        k, tp = len(listed), float(np.sum(y_true[listed]))
        precision = tp / k if k else 0.0
        rows.append(
            {
                "list": name,
                "k": k,
                **dict.fromkeys(("tp", "tp_worst", "tp_best"), tp),
                "fp": k - tp,
                "precision": precision,
                "recall": tp / positives if positives else 0.0,
                "n_tied_at_cutoff": 0.0,
                "precision_worst": precision,
                "precision_best": precision,
            }
        )
    frame = pd.DataFrame(rows)
    frame["average_precision"] = ap
    frame["brier"] = score_brier
    return frame


def draw_list(
    *,
    scoring: ScoringConfig,
    scores: np.ndarray,
    probabilities: np.ndarray,
    tie_keys: np.ndarray,
    units: np.ndarray | None,
) -> np.ndarray:
    """Positions of the list ``scoring`` draws, as ``ewp.models.flags.select_flags`` draws the
    published one: officers in order of score (ties by ``tie_keys``), at most
    ``max_per_unit`` per unit, then the first ``top_k`` or every officer whose escalation
    probability is at least ``threshold``. ``units`` is needed only with a cap."""
    order = np.lexsort((tie_keys, -scores))
    if scoring.max_per_unit is not None:
        if units is None:
            raise ValueError("a list capped per unit needs each officer's unit")
        in_unit = pd.Series(np.asarray(units)[order]).groupby(np.asarray(units)[order])
        order = order[in_unit.cumcount().to_numpy() < scoring.max_per_unit]
    if scoring.selection == "threshold":
        return order[probabilities[order] >= scoring.threshold]
    return order[: scoring.top_k]


# Score distributions: escalation probability in bins, 4 a decade from 1 in 10,000 to 1.
SCORE_BIN_EDGES = np.concatenate([[0.0], np.logspace(-4, 0, 17)])
CALIBRATION_BINS = 10


def _calibration_counts(
    scores: np.ndarray,
    probabilities: np.ndarray,
    labels: np.ndarray,
    *,
    ranked: np.ndarray | None = None,
) -> np.ndarray:
    """Per decile of score (rows 0..9): officers, sum of probabilities, sum of labels.
    ``ranked``: ``np.sort(scores)`` if the caller has it."""
    scores = np.asarray(scores)
    n = len(scores)
    ranked = np.sort(scores) if ranked is None else ranked
    # Runs of equal scores in rank order: positions start..end-1 hold ranks start+1..end.
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]) if n else np.zeros(0, int)
    ends = np.r_[starts[1:], n]
    average_rank = (starts + ends + 1) / 2
    in_run = np.minimum(
        (CALIBRATION_BINS * (average_rank - 0.5) / max(n, 1)).astype(int), CALIBRATION_BINS - 1
    )
    # Deciles rise with the score: each row's is that of the last decile starting at or below
    # its score (at most ten thresholds to search, not every distinct score).
    first = np.flatnonzero(np.r_[True, in_run[1:] != in_run[:-1]]) if n else np.zeros(0, int)
    threshold = ranked[starts[first]]
    decile = in_run[first][np.searchsorted(threshold, scores, side="right") - 1]
    return np.column_stack(
        [
            np.bincount(decile, minlength=CALIBRATION_BINS),
            np.bincount(decile, weights=np.asarray(probabilities), minlength=CALIBRATION_BINS),
            np.bincount(decile, weights=np.asarray(labels), minlength=CALIBRATION_BINS),
        ]
    )


def calibration_sums(
    scores: np.ndarray, probabilities: np.ndarray, labels: np.ndarray
) -> pd.DataFrame:
    """Officers by decile of score on one date (1 = lowest, 10 = highest; tied scores share a
    decile, by their average rank), with n and the sums of probabilities and labels: pooled
    over dates and divided by n, predicted against observed. Example: scores (1, 2, 2, 3)
    have average ranks (1, 2.5, 2.5, 4), so deciles 2, 6, 6 and 9
    (``1 + floor(10 * (rank - 0.5) / 4)``)."""
    counts = _calibration_counts(scores, probabilities, labels)
    return pd.DataFrame(
        {
            "decile": np.arange(1, CALIBRATION_BINS + 1),
            "n": counts[:, 0].astype(np.int64),
            "predicted": counts[:, 1],
            "observed": counts[:, 2],
        }
    )


def _histogram_counts(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per bin of ``SCORE_BIN_EDGES``: negatives and positives (bins x 2)."""
    bins = np.clip(
        np.searchsorted(SCORE_BIN_EDGES, probabilities, side="right") - 1,
        0,
        SCORE_BIN_EDGES.size - 2,
    )
    n_bins = SCORE_BIN_EDGES.size - 1
    positive = np.asarray(labels) == 1
    return np.column_stack(
        [
            np.bincount(bins[~positive], minlength=n_bins),
            np.bincount(bins[positive], minlength=n_bins),
        ]
    )


def score_histogram(probabilities: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Officers by bin of escalation probability (``SCORE_BIN_EDGES``; a bin holds its lower
    edge, the last also 1), as negatives and positives: bin, lower, upper, negatives,
    positives."""
    return _histogram_frame({"": _histogram_counts(probabilities, labels)}).drop(
        columns="candidate"
    )


def _histogram_frame(counts: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Candidates' histogram counts as score_histogram's rows, with a candidate column."""
    n_bins = SCORE_BIN_EDGES.size - 1
    return pd.DataFrame(
        {
            "candidate": np.repeat(list(counts), n_bins),
            "bin": np.tile(np.arange(n_bins), len(counts)),
            "lower": np.tile(SCORE_BIN_EDGES[:-1], len(counts)),
            "upper": np.tile(SCORE_BIN_EDGES[1:], len(counts)),
            "negatives": np.concatenate([c[:, 0] for c in counts.values()]).astype(np.int64),
            "positives": np.concatenate([c[:, 1] for c in counts.values()]).astype(np.int64),
        }
    )


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

    ``replicates`` (``ewp.models.credit.bootstrap_lists``) holds every candidate's list at
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
    of a place per officer (``ewp.models.credit``), for bootstrap intervals that match ``metrics``.
    ``lists``: candidate, test_as_of, list, officer_ids, labels, rule_flags: each candidate's
    list at every list size as officer IDs in list order (ties at the cut-off broken by a
    seeded random key, ``tie_break_keys``), the listed officers' labels, and for a flag rule
    how many of them it flags itself (``officer_ids[:rule_flags]``; the rest continue by the
    rule's own feature, ``ewp.models.rules``; <NA> for a model), for stability and the fairness
    audit. ``metrics`` has the same ``rule_flags`` (NaN for a model).
    ``calibration``: candidate, decile, n, predicted, observed (``calibration_sums`` summed
    over the block's dates). ``distribution``: candidate and ``score_histogram``'s columns,
    summed over the dates.
    """

    metrics: pd.DataFrame
    lists: pd.DataFrame
    credit: ListCredit
    calibration: pd.DataFrame
    distribution: pd.DataFrame


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


@dataclass(frozen=True)
class FittedCandidate:
    """A fitted candidate and the feature columns it reads."""

    model: Any
    columns: list[str]


def fit_candidates(
    *,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    train_weights: np.ndarray,
    features: Sequence[str],
    candidates: Sequence[CandidateConfig],
    seed: int,
    feature_sets: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, FittedCandidate]:
    """Each candidate fitted on a split's training rows (``evaluate_split``), by name."""
    train_y = np.asarray(train_labels).astype("int64")
    fitted = {}
    for candidate in candidates:
        columns = candidate_features(candidate, features=features, feature_sets=feature_sets)
        model = build_candidate(candidate, seed=seed)
        fitted[candidate.name] = FittedCandidate(
            model.fit(train[columns], train_y, sample_weight=train_weights), columns
        )
    return fitted


def evaluate_split(
    *,
    train: pd.DataFrame,
    train_labels: np.ndarray,
    train_weights: np.ndarray,
    features: Sequence[str],
    candidates: Sequence[CandidateConfig],
    seed: int,
    test: pd.DataFrame,
    test_labels: np.ndarray,
    sizes: Sequence[int],
    fractions: Sequence[float],
    feature_sets: Mapping[str, Sequence[str]] | None = None,
    reference: Mapping[str, np.ndarray] | None = None,
    curve_sizes: Sequence[int] = (),
    published: ScoringConfig | None = None,
    kept_lists: Collection[str] | None = None,
    test_rows: Callable[[np.ndarray], pd.DataFrame] | None = None,
) -> SplitEvaluation:
    """Fit each candidate on the split's training rows and evaluate it on each test date.

    ``train``/``test`` are feature-matrix rows (``officer_id``, ``as_of`` and ``features``;
    ``unit`` too if ``published`` caps flags per unit); the test rows may span several as-of
    dates (a test block). The training rows are usually a negative subsample
    (``ewp.models.sampling.negative_subsample``, the same rows for every candidate) and
    ``train_weights`` its inverse-probability weights. A candidate whose ``feature_set`` is
    not "all" sees only that subset of ``feature_sets``. Every threshold or peer rule also
    defines a list size: its own flag volume on each date. ``reference`` adds fixed scores
    aligned with ``test`` (e.g. the synthetic force's ground-truth oracle) as extra rows, not
    candidates. ``published``: the scoring config, whose list (``published.list_name``) is
    evaluated too, drawn as ``draw_list`` draws it. ``curve_sizes``: further list sizes
    (``top_<k>``) kept in ``credit`` only, for a precision-at-k curve. ``kept_lists``: the
    list names whose officers ``lists`` keeps (None: every list). The flows keep only the
    selection list, the one stability and the fairness audit read: at national scale every
    candidate's list at a peer rule's volume (5% of the force) on every weekly date would
    otherwise hold tens of millions of officer IDs. ``test_rows``: the feature rows of one
    test date, given its positions in ``test`` (default ``test.iloc``); with it ``test`` need
    hold only identifiers (``ewp.features.labelled.LabelledDates``), so a block's features are
    built and held one date at a time.
    """
    fitted = fit_candidates(
        train=train,
        train_labels=train_labels,
        train_weights=train_weights,
        features=features,
        candidates=candidates,
        seed=seed,
        feature_sets=feature_sets,
    )
    return evaluate_fitted(
        fitted,
        test=test,
        test_labels=test_labels,
        seed=seed,
        sizes=sizes,
        fractions=fractions,
        reference=reference,
        curve_sizes=curve_sizes,
        published=published,
        kept_lists=kept_lists,
        test_rows=test_rows,
    )


def evaluate_fitted(
    fitted: Mapping[str, FittedCandidate],
    *,
    test: pd.DataFrame,
    test_labels: np.ndarray,
    seed: int,
    sizes: Sequence[int],
    fractions: Sequence[float],
    reference: Mapping[str, np.ndarray] | None = None,
    curve_sizes: Sequence[int] = (),
    published: ScoringConfig | None = None,
    kept_lists: Collection[str] | None = None,
    test_rows: Callable[[np.ndarray], pd.DataFrame] | None = None,
) -> SplitEvaluation:
    """Evaluate ``fitted`` candidates on each date of ``test`` (``evaluate_split``, whose
    arguments these are). The dates of a test block may be evaluated in parts, and the parts
    pooled (``pool_evaluations``) as the whole block would be."""
    if published is not None and published.is_plain_top_k:
        sizes, published = [*sizes, published.top_k], None

    # Scored one test date at a time: a national test block is millions of rows, a date is
    # one cohort, and every candidate scores each row on its own.
    day = _DayResults(CreditBuilder(test["officer_id"]), kept_lists=kept_lists)
    as_of = pd.to_datetime(test["as_of"]).to_numpy()
    for date in np.unique(as_of):
        on_day = np.flatnonzero(as_of == date)
        rows = test.iloc[on_day] if test_rows is None else test_rows(on_day)
        scores: dict[str, np.ndarray] = {}
        probabilities: dict[str, np.ndarray] = {}
        flagged: dict[str, np.ndarray] = {}
        for name, candidate in fitted.items():
            x = rows[candidate.columns]
            scores[name], probabilities[name] = scores_and_probabilities(candidate.model, x)
            if hasattr(candidate.model, "flags"):
                flagged[name] = candidate.model.flags(x)
        for name, values in (reference or {}).items():
            scores[name] = values[on_day]
            probabilities[name] = np.clip(values[on_day], 0, 1)
        officer_ids = rows["officer_id"].to_numpy()
        day.start(
            date=pd.Timestamp(date),
            rows=on_day,
            labels=test_labels[on_day],
            officer_ids=officer_ids,
            tie_keys=tie_break_keys(officer_ids, seed=seed, as_of=date),
            sizes=list_sizes(
                n_rows=len(on_day),
                sizes=sizes,
                fractions=fractions,
                rule_volumes={name: int(flags.sum()) for name, flags in flagged.items()},
            ),
            curve_sizes=curve_sizes,
        )
        for name in scores:
            drawn = {}
            if published is not None:
                drawn[published.list_name] = draw_list(
                    scoring=published,
                    scores=scores[name],
                    probabilities=probabilities[name],
                    tie_keys=day.tie_keys,
                    units=rows["unit"].to_numpy() if "unit" in rows else None,
                )
            day.add(
                name,
                scores=scores[name],
                probabilities=probabilities[name],
                flagged=flagged.get(name),
                drawn=drawn,
            )
    return day.result()


class _DayResults:
    """Collects ``evaluate_split``'s results, one test date and candidate at a time."""

    def __init__(self, credit: CreditBuilder, *, kept_lists: Collection[str] | None) -> None:
        self.credit = credit
        self.kept_lists = kept_lists
        self.frames: list[pd.DataFrame] = []
        self.lists: list[dict[str, object]] = []
        # Per candidate, summed over dates: calibration and histogram counts.
        self.calibration: dict[str, np.ndarray] = {}
        self.distribution: dict[str, np.ndarray] = {}

    def start(
        self,
        *,
        date: pd.Timestamp,
        rows: np.ndarray,
        labels: np.ndarray,
        officer_ids: np.ndarray,
        tie_keys: np.ndarray,
        sizes: list[ListSize],
        curve_sizes: Sequence[int],
    ) -> None:
        """A new test date: its rows (positions in the test block), labels and list sizes."""
        self.date, self.rows, self.labels = date, rows, labels
        self.officer_ids, self.tie_keys, self.sizes = officer_ids, tie_keys, sizes
        self.credited = {size_list_name(k): min(k, len(rows)) for k in curve_sizes}
        self.credited.update({size.name: size.k for size in sizes})
        self.credit.add_positives(rows, labels)

    def add(
        self,
        name: str,
        *,
        scores: np.ndarray,
        probabilities: np.ndarray,
        flagged: np.ndarray | None,
        drawn: Mapping[str, np.ndarray],
    ) -> None:
        """One candidate's ranking on the current date: its lists, metrics and calibration."""
        ranked = np.sort(scores)  # once for every list size and metric
        frame = list_metrics(
            y_true=self.labels,
            scores=scores,
            probabilities=probabilities,
            sizes=self.sizes,
            ranked=ranked,
            drawn=drawn,
        )
        # A list's officers are drawn where they are kept, or to count a rule's own flags on
        # it (the rest continue by the rule's own feature, see ewp.models.rules); a model's
        # whole list is its own ranking, so its rule_flags are NaN.
        listed = {
            size.name: top_order(
                self.officer_ids, scores, size.k, ranked=ranked, tie_keys=self.tie_keys
            )
            for size in self.sizes
            if flagged is not None or self._kept(size.name)
        }
        listed.update(drawn)
        rule_flags = {
            list_name: None if flagged is None else int(flagged[top].sum())
            for list_name, top in listed.items()
        }
        self.frames.append(
            frame.assign(
                candidate=name,
                test_as_of=self.date,
                rule_flags=frame["list"].map(rule_flags).astype("float64"),
            )
        )
        self.credit.add_ranking(
            candidate=name,
            rows=self.rows,
            labels=self.labels,
            scores=scores,
            sizes=self.credited,
            ranked=ranked,
        )
        for list_name, top in drawn.items():
            self.credit.add_listed(
                candidate=name, list_name=list_name, rows=self.rows[top], labels=self.labels[top]
            )
        self.lists += [
            {
                "candidate": name,
                "test_as_of": self.date,
                "list": list_name,
                "officer_ids": [str(i) for i in self.officer_ids[top]],
                "labels": [int(v) for v in self.labels[top]],
                "rule_flags": rule_flags[list_name],
            }
            for list_name, top in listed.items()
            if self._kept(list_name)
        ]
        calibration = _calibration_counts(scores, probabilities, self.labels, ranked=ranked)
        histogram = _histogram_counts(probabilities, self.labels)
        self.calibration[name] = self.calibration.get(name, 0) + calibration
        self.distribution[name] = self.distribution.get(name, 0) + histogram

    def _kept(self, list_name: str) -> bool:
        return self.kept_lists is None or list_name in self.kept_lists

    def result(self) -> SplitEvaluation:
        """Everything collected, with calibration and distributions summed over dates."""
        metrics = pd.concat(self.frames, ignore_index=True)
        leading = ["test_as_of", "candidate", "list"]
        metrics = metrics[leading + [c for c in metrics.columns if c not in leading]]
        lists = pd.DataFrame(self.lists, columns=LIST_COLUMNS)
        lists["rule_flags"] = lists["rule_flags"].astype("Int64")
        return SplitEvaluation(
            metrics=metrics,
            lists=lists,
            credit=self.credit.build(),
            calibration=pd.DataFrame(
                {
                    "candidate": np.repeat(list(self.calibration), CALIBRATION_BINS),
                    "decile": np.tile(np.arange(1, CALIBRATION_BINS + 1), len(self.calibration)),
                    **dict(
                        zip(
                            ("n", "predicted", "observed"),
                            np.vstack(list(self.calibration.values())).T,
                            strict=True,
                        )
                    ),
                }
            ),
            distribution=_histogram_frame(self.distribution),
        )


def _summed(frames: Sequence[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """Frames stacked and summed by ``keys`` (candidates in first-seen order)."""
    stacked = pd.concat(frames, ignore_index=True)
    return stacked.groupby(keys, sort=False, as_index=False).sum()


@dataclass(frozen=True)
class PooledEvaluation:
    """Every split's evaluation pooled over test dates, with bootstrap intervals.

    ``metrics`` and ``lists``: every split's, concatenated. ``summary``: ``summarise``.
    ``headline_by_rule``: ``headline`` at each rule's volume with its intervals, and a ``rule``
    column. ``intervals``: ``ewp.models.credit.list_intervals`` of every list (precision and recall
    pooled over test dates, with intervals), the extra curve sizes included. ``calibration``:
    candidate, decile, n, mean_predicted, observed_rate. ``distribution``: candidate, bin,
    lower, upper, negatives, positives (officer-dates by bin of escalation probability).
    """

    metrics: pd.DataFrame
    lists: pd.DataFrame
    summary: pd.DataFrame
    headline_by_rule: pd.DataFrame
    intervals: pd.DataFrame
    calibration: pd.DataFrame
    distribution: pd.DataFrame

    def curve(self, sizes: Sequence[int]) -> pd.DataFrame:
        """The precision-at-k curve: ``intervals`` at the top-k lists of ``sizes``, with k:
        candidate, k, places, tp, fp, precision, precision_low, precision_high, recall,
        recall_low, recall_high (pooled over test dates)."""
        names = {size_list_name(k): k for k in sizes}
        at = self.intervals.loc[self.intervals["list"].isin(list(names))]
        curve = at.assign(k=at["list"].map(names)).drop(columns="list")
        leading = ["candidate", "k"]
        curve = curve[leading + [c for c in curve.columns if c not in leading]]
        return curve.sort_values(leading, kind="stable").reset_index(drop=True)

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

    Officers are resampled once for every table (``ewp.models.credit.bootstrap_lists``), so each
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
    calibration = _summed([e.calibration for e in evaluations], ["candidate", "decile"])
    calibration = calibration.loc[calibration["n"] > 0]
    return PooledEvaluation(
        metrics=metrics,
        lists=pd.concat([e.lists for e in evaluations], ignore_index=True),
        summary=summarise(metrics),
        headline_by_rule=pd.concat(by_rule, ignore_index=True) if by_rule else pd.DataFrame(),
        intervals=list_intervals(replicates, confidence=confidence),
        calibration=pd.DataFrame(
            {
                "candidate": calibration["candidate"],
                "decile": calibration["decile"],
                "n": calibration["n"],
                "mean_predicted": calibration["predicted"] / calibration["n"],
                "observed_rate": calibration["observed"] / calibration["n"],
            }
        ).reset_index(drop=True),
        distribution=_summed(
            [e.distribution for e in evaluations], ["candidate", "bin", "lower", "upper"]
        ),
    )


def curve_sizes(*, cohort: int, anchors: Sequence[int]) -> list[int]:
    """List sizes for a precision-at-k curve on a cohort of ``cohort`` officers: 10, 20, 30,
    50, 70, 100, 200, ... up to the first at least twice the largest of ``anchors`` (the list
    sizes evaluated, e.g. the published 50 and the top 1%), and the anchors themselves; none
    above the cohort. Example: cohort 34,000, anchors (50, 340): 10 ... 700 and 340."""
    top = 2 * max([10, *anchors])
    series, magnitude = [], 10
    while not series or series[-1] < top:
        series += [step * magnitude // 10 for step in (10, 20, 30, 50, 70)]
        magnitude *= 10
    series = [k for k in series if k <= next(k for k in series if k >= top)]
    return sorted(k for k in {*series, *anchors} if 0 < k <= cohort)


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
    intervals: pd.DataFrame | None = None,
) -> Selection:
    """Apply the selection rule of the module docstring at list size ``list_name``.

    ``intervals`` (``PooledEvaluation.intervals``) adds each candidate's precision at the list
    pooled over test dates with its bootstrap interval: pooled_precision, precision_low,
    precision_high (the mean of the dates' precisions, which selects, weighs each date alike).
    """
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
    if intervals is not None:
        at_list = intervals.loc[
            intervals["list"] == list_name,
            ["candidate", "precision", "precision_low", "precision_high"],
        ]
        table = table.merge(
            at_list.rename(columns={"precision": "pooled_precision"}), on="candidate", how="left"
        )
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
