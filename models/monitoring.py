"""Monitoring the champion in service: matured lists, drift, calibration, what reviewers did.

Pure computations over frames the monitor flow (``ewp.flows.monitor``) assembles; no I/O.

Matured lists
    A weekly list dated ``t`` has *matured* once its label horizon ``[t, t + h)`` has passed in
    the current export. Its officers' labels (``ewp.features.labels.build_labels``, the training
    label) count only notices received on or after ``t``. ``matured_precision`` compares the
    published list with the officers the headline rule would have flagged that week, at the
    same list volume, each officer tied at the rule's cut-off holding a share of a place
    (``ewp.models.credit``), pooled over weeks with a bootstrap over officers (paired: both lists
    are measured on the same replicate).

Drift
    ``population_stability`` is the population stability index (PSI) of a value's
    distribution in a week against the training window's:
    ``PSI = sum over bins of (c - r) * ln(c / r)``, ``r`` and ``c`` the reference's and the
    week's shares of each bin (floored at ``PSI_FLOOR`` so an empty bin is defined). Bins are
    cut at the reference's interior quantiles and at its maximum, each bin closed on the right
    (``x <= edge``), with one more bin for values above anything the reference held. Worked
    example, 2 bins: reference [0, 0, 1, 1] has interior quantile 0.5 and maximum 1, edges
    [0.5, 1]: bins ``x <= 0.5``, ``0.5 < x <= 1``, ``x > 1``; shares r = (0.5, 0.5, 0) and for
    the week [1, 1, 1, 3] c = (0, 0.75, 0.25): PSI = (0.0001 - 0.5) ln(0.0001 / 0.5)
    + (0.75 - 0.5) ln(0.75 / 0.5) + (0.25 - 0.0001) ln(0.25 / 0.0001) = 6.31.
    ``category_stability`` is the same index over categories. ``drift_rows`` gives one week's
    measures against a ``DriftReference`` (the training window, frozen when a model is first
    monitored), each with its threshold and whether it breaches.

Reviews
    ``review_summary`` describes the decisions on published flags: by type, days from list to
    decision, the share never reviewed, suppressions, and the escalation rate of matured flags
    by decision. It is descriptive: officers were not assigned to decisions at random, and an
    intervention that works prevents escalations, which lowers the measured precision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import MonitoringConfig
from ewp.models.credit import (
    CreditBuilder,
    ListCredit,
    bootstrap_lists,
    defined_quantiles,
    list_intervals,
    pool_credit,
    ratio,
    weighted_totals,
)
from ewp.models.metrics import reliability_table

PSI_FLOOR = 1e-4
PUBLISHED = "published list"
MATURED = "matured"
NOT_REVIEWED = "not reviewed"
DRIFT_COLUMNS = ["as_of", "measure", "name", "value", "threshold", "breach"]


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(float)
    return counts / max(counts.sum(), 1.0)


def _index(reference: np.ndarray, current: np.ndarray) -> float:
    reference, current = np.maximum(reference, PSI_FLOOR), np.maximum(current, PSI_FLOOR)
    return float(np.sum((current - reference) * np.log(current / reference)))


def _defined(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[~np.isnan(array)]


@dataclass(frozen=True)
class Distribution:
    """A reference distribution for the PSI: the bins' right ``edges`` (module docstring; one
    more bin lies above the last) and the reference's ``shares`` of each bin."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, *, bins: int) -> Distribution:
        """The distribution of ``values`` (NaN left out) over ``bins`` quantile bins."""
        defined = _defined(values)
        if defined.size == 0:
            return cls((), ())
        interior = np.quantile(defined, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(np.append(interior, defined.max()))
        shares = _shares(np.searchsorted(edges, defined, side="left"), edges.size + 1)
        return cls(tuple(float(e) for e in edges), tuple(float(s) for s in shares))

    def stability(self, current: Sequence[float] | np.ndarray) -> float:
        """The PSI of ``current`` (NaN left out) against this distribution; NaN if either
        is empty."""
        defined = _defined(current)
        if not self.shares or defined.size == 0:
            return float("nan")
        edges = np.asarray(self.edges)
        codes = np.searchsorted(edges, defined, side="left")
        return _index(np.asarray(self.shares), _shares(codes, edges.size + 1))


def population_stability(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    bins: int,
) -> float:
    """The PSI of ``current`` against ``reference`` over ``bins`` quantile bins (module
    docstring); NaN values are left out, NaN when either side has none."""
    return Distribution.of(reference, bins=bins).stability(current)


def category_shares(categories: pd.Series) -> dict[str, float]:
    """Each category's share of ``categories`` (sorted by name)."""
    counts = categories.astype(str).value_counts()
    total = max(int(counts.sum()), 1)
    return {str(c): float(counts[c]) / total for c in sorted(counts.index)}


def category_stability(reference: Mapping[str, float], current: pd.Series) -> float:
    """The PSI of the categories in ``current`` against the ``reference`` shares (one bin per
    category seen in either); NaN when either is empty."""
    if not reference or current.empty:
        return float("nan")
    now = category_shares(current)
    categories = sorted(set(reference) | set(now))
    return _index(
        np.array([reference.get(c, 0.0) for c in categories]),
        np.array([now.get(c, 0.0) for c in categories]),
    )


@dataclass(frozen=True)
class DriftReference:
    """The training window, as the monitor compares each week with it; frozen the first time
    a model is monitored (``to_json``), so a later export that renames a unit or remaps a
    category is compared with the window as it was recorded then.

    ``distributions``: each model input's and the score's (``"score"``) distribution over
    every as-of date of the window (one row per serving officer and date); ``units``: every
    unit an officer served in then; ``categories``: the categories' shares among the notices
    received in the window (from ``recent_days`` before its first date to its last);
    ``notice_rate``: those notices per serving officer per day; ``cohort``: the mean number
    of serving officers per as-of date; ``window``: its first and last as-of dates.
    """

    distributions: dict[str, Distribution]
    units: frozenset[str]
    categories: dict[str, float]
    notice_rate: float
    cohort: float
    window: tuple[str, str]

    def to_json(self) -> dict[str, object]:
        """As JSON-ready data (``from_json`` reads it back)."""
        return {
            "distributions": {
                name: {"edges": list(d.edges), "shares": list(d.shares)}
                for name, d in self.distributions.items()
            },
            "units": sorted(self.units),
            "categories": self.categories,
            "notice_rate": self.notice_rate,
            "cohort": self.cohort,
            "window": list(self.window),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> DriftReference:
        """The reference ``to_json`` wrote."""
        distributions = data["distributions"]
        assert isinstance(distributions, dict)
        return cls(
            distributions={
                str(name): Distribution(tuple(d["edges"]), tuple(d["shares"]))
                for name, d in distributions.items()
            },
            units=frozenset(str(u) for u in data["units"]),  # type: ignore[union-attr]
            categories={str(k): float(v) for k, v in data["categories"].items()},  # type: ignore[union-attr]
            notice_rate=float(data["notice_rate"]),  # type: ignore[arg-type]
            cohort=float(data["cohort"]),  # type: ignore[arg-type]
            window=tuple(data["window"]),  # type: ignore[arg-type]
        )


def drift_reference(
    *,
    inputs: pd.DataFrame,
    scores: np.ndarray,
    units: Collection[str],
    categories: pd.Series,
    dates: Sequence[dt.date],
    days: int,
    bins: int,
) -> DriftReference:
    """The reference of a training window: ``inputs`` (the model's inputs on each of its
    as-of ``dates``, one row per serving officer and date), the champion's ``scores`` on the
    same rows, their ``units``, and the ``categories`` of the notices received over ``days``
    days (the window's span plus the recent days before its first date)."""
    distributions = {name: Distribution.of(inputs[name], bins=bins) for name in inputs.columns}
    distributions["score"] = Distribution.of(scores, bins=bins)
    cohort = len(inputs) / max(len(dates), 1)
    return DriftReference(
        distributions=distributions,
        units=frozenset(str(u) for u in units),
        categories=category_shares(categories),
        notice_rate=len(categories) / max(cohort, 1.0) / max(days, 1),
        cohort=cohort,
        window=(min(dates).isoformat(), max(dates).isoformat()),
    )


def drift_rows(
    *,
    as_of: dt.date,
    reference: DriftReference,
    inputs: pd.DataFrame,
    scores: np.ndarray,
    units: Collection[str],
    recent_categories: pd.Series,
    thresholds: MonitoringConfig,
) -> pd.DataFrame:
    """One week's drift measures against ``reference`` (``DRIFT_COLUMNS``).

    ``inputs`` and ``scores``: the week's serving cohort, features and champion scores;
    ``units``: each serving officer's unit; ``recent_categories``: the categories of the
    notices received in the ``recent_days`` before ``as_of`` (none on or after it). Measures:
    ``input`` (PSI of each model input the reference has), ``score`` (PSI of the score),
    ``new_units`` (share of the cohort in a unit the window never had), ``categories`` (PSI of
    the recent notices' categories), ``notice_rate`` (relative change of recent notices per
    officer per day) and ``cohort`` (relative change of the cohort size). A change is a
    breach either way.
    """
    rows: list[tuple[str, str, float, float, bool]] = []
    psi_at = thresholds.psi_threshold
    for name, distribution in reference.distributions.items():
        if name == "score":
            continue
        value = distribution.stability(inputs[name].to_numpy(dtype=float))
        rows.append(("input", name, value, psi_at, bool(value >= psi_at)))
    value = reference.distributions["score"].stability(scores)
    rows.append(("score", "score", value, psi_at, bool(value >= psi_at)))
    unit_list = [str(u) for u in units]
    cohort = max(len(unit_list), 1)
    new = sum(u not in reference.units for u in unit_list) / cohort
    limit = thresholds.new_unit_share
    rows.append(("new_units", "unit", new, limit, bool(new >= limit)))
    value = category_stability(reference.categories, recent_categories)
    limit = thresholds.category_psi_threshold
    rows.append(("categories", "category", value, limit, bool(value >= limit)))
    rate = len(recent_categories) / cohort / thresholds.recent_days
    change = rate / reference.notice_rate - 1 if reference.notice_rate > 0 else float("nan")
    limit = thresholds.notice_rate_change
    rows.append(("notice_rate", "notices per officer", change, limit, bool(abs(change) >= limit)))
    change = len(unit_list) / reference.cohort - 1 if reference.cohort > 0 else float("nan")
    limit = thresholds.cohort_change
    rows.append(("cohort", "serving officers", change, limit, bool(abs(change) >= limit)))
    frame = pd.DataFrame(rows, columns=DRIFT_COLUMNS[1:])
    frame.insert(0, "as_of", as_of)
    return frame


# -- matured lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MaturedLists:
    """What became of the matured lists.

    ``weeks``: per list date, ``flagged`` (published flags measured), ``flagged_escalated``,
    ``rule_places`` and ``rule_escalated`` (the headline rule at the same volume; a tie at its
    cut-off gives fractions), ``precision``, ``rule_precision``, ``cohort``, ``escalated``
    (escalations in the cohort), ``mean_predicted`` (mean stored score of the flags).
    ``pooled``: ``ewp.models.credit.list_intervals`` of both lists pooled over weeks, ``candidate``
    being ``PUBLISHED`` or the rule's name. ``difference``: published minus rule precision,
    with its paired interval (``difference``, ``difference_low``, ``difference_high``).
    """

    weeks: pd.DataFrame
    pooled: pd.DataFrame
    difference: dict[str, float]


MATURED_ROW_COLUMNS = ("as_of", "officer_id", "label", "flagged", "rule_score", "score")


def _week_credit(week: pd.DataFrame, *, rule: str) -> ListCredit:
    builder = CreditBuilder(week["officer_id"].to_numpy())
    positions = np.arange(len(week))
    labels = week["label"].to_numpy(dtype=np.int8)
    flagged = week["flagged"].to_numpy(dtype=bool)
    builder.add_positives(positions, labels)
    builder.add_listed(
        candidate=PUBLISHED, list_name=MATURED, rows=positions[flagged], labels=labels[flagged]
    )
    builder.add_ranking(
        candidate=rule,
        rows=positions,
        labels=labels,
        scores=week["rule_score"].to_numpy(dtype=float),
        sizes={MATURED: int(flagged.sum())},
    )
    return builder.build()


def matured_precision(
    rows: pd.DataFrame, *, rule: str, samples: int, seed: int, confidence: float
) -> MaturedLists:
    """The published lists against the ``rule`` at their volume, per week and pooled.

    ``rows``: one row per serving officer and matured list date (``MATURED_ROW_COLUMNS``):
    ``label`` (0/1, the escalation label), ``flagged`` (on that week's published list),
    ``rule_score`` (the rule's ranking, ``decision_function``) and ``score`` (the stored score
    of a flag; NaN for others). Each week the rule lists as many officers as were flagged.

    Worked example: one week, cohort A+ B- C+ D- (+ = escalated), published {A, B}, the rule
    flags C and D and ranks A above B: published precision 1/2, the rule's 1/2. Another week,
    published {A}, the rule ties A and C at its cut-off for one place: 1 and (1 + 1)/2 / 1 = 1.
    """
    missing = [c for c in MATURED_ROW_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"matured rows lack columns {missing}")
    credits, weeks = [], []
    for as_of, week in rows.groupby("as_of", sort=True):
        week = week.reset_index(drop=True)
        credit = _week_credit(week, rule=rule)
        credits.append(credit)
        places, tp, _ = weighted_totals(credit, np.ones((1, credit.officers.size)))
        column = {(c, n): i for i, (c, n) in enumerate(credit.columns.itertuples(index=False))}
        published, ruled = column[(PUBLISHED, MATURED)], column[(rule, MATURED)]
        flagged = week["flagged"].to_numpy(dtype=bool)
        weeks.append(
            {
                "as_of": as_of,
                "cohort": len(week),
                "escalated": int(week["label"].sum()),
                "flagged": int(flagged.sum()),
                "flagged_escalated": float(tp[0, published]),
                "rule_places": float(places[0, ruled]),
                "rule_escalated": float(tp[0, ruled]),
                "mean_predicted": float(week.loc[flagged, "score"].mean())
                if flagged.any()
                else float("nan"),
            }
        )
    table = pd.DataFrame(weeks)
    if table.empty:
        empty = pd.DataFrame(columns=["candidate", "list", "places", "tp", "precision"])
        return MaturedLists(table, empty, {})
    table["precision"] = ratio(table["flagged_escalated"], table["flagged"])
    table["rule_precision"] = ratio(table["rule_escalated"], table["rule_places"])
    replicates = bootstrap_lists(pool_credit(credits), samples=samples, seed=seed)
    pooled = list_intervals(replicates, confidence=confidence)
    published = replicates.column(PUBLISHED, MATURED)
    ruled = replicates.column(rule, MATURED)
    gap = ratio(replicates.tp[:, published], replicates.places[:, published]) - ratio(
        replicates.tp[:, ruled], replicates.places[:, ruled]
    )
    low, high = defined_quantiles(gap[1:, None], (1 - confidence) / 2)
    difference = {
        "difference": float(gap[0]),
        "difference_low": float(low[0]),
        "difference_high": float(high[0]),
    }
    return MaturedLists(table, pooled, difference)


def list_calibration(weeks: pd.DataFrame, *, tolerance: float) -> dict[str, float | bool]:
    """Predicted against observed escalation rate of the matured lists' flags, pooled over
    weeks (``matured_precision``'s ``weeks``): ``predicted`` (mean stored score),
    ``observed`` (share escalated), ``flags``, and ``breach`` when they differ by at least
    ``tolerance`` of the predicted rate."""
    flags = float(weeks["flagged"].sum()) if len(weeks) else 0.0
    if flags == 0:
        return {"flags": 0.0, "predicted": float("nan"), "observed": float("nan"), "breach": False}
    predicted = float((weeks["mean_predicted"] * weeks["flagged"]).sum() / flags)
    observed = float(weeks["flagged_escalated"].sum() / flags)
    breach = predicted > 0 and abs(observed - predicted) >= tolerance * predicted
    return {"flags": flags, "predicted": predicted, "observed": observed, "breach": bool(breach)}


def cohort_calibration(labels: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """The champion's scores on the matured weeks' whole cohorts against what happened, by
    decile of score (``ewp.models.metrics.reliability_table``); empty with no rows."""
    if len(labels) == 0:
        return pd.DataFrame(
            columns=["bin", "lower", "upper", "n", "mean_predicted", "observed_rate"]
        )
    return reliability_table(labels, scores, n_bins=10, strategy="quantile")


# -- reviews ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewSummary:
    """What reviewers did with the published flags (descriptive only, see the module
    docstring): ``decisions`` (decision, flags, share, median_days, p90_days: days from list
    to decision), ``weeks`` (as_of, flagged, decided, not_reviewed, suppressed),
    ``outcomes`` (decision, matured_flags, escalated, escalation_rate), ``never_reviewed``
    (share of all flags without a decision)."""

    decisions: pd.DataFrame
    weeks: pd.DataFrame
    outcomes: pd.DataFrame
    never_reviewed: float


def review_summary(
    flags: pd.DataFrame,
    *,
    suppressed: Mapping[dt.date, int | None],
    outcomes: pd.DataFrame,
) -> ReviewSummary:
    """Describe the decisions on ``flags`` (``ewp.stores.review.ReviewStore.flags_frame``).

    ``suppressed``: officers held back from each week's list (None: not recorded);
    ``outcomes``: the matured flags, ``flag_id`` and ``label``. Days to decision are
    ``decided_on - as_of``.
    """
    decision = flags["decision"].fillna(NOT_REVIEWED).astype(str)
    days = (pd.to_datetime(flags["decided_on"]) - pd.to_datetime(flags["as_of"])).dt.days
    by = pd.DataFrame({"decision": decision, "days": days})
    grouped = by.groupby("decision", sort=True)["days"]
    decisions = pd.DataFrame(
        {
            "flags": grouped.size(),
            "median_days": grouped.median(),
            "p90_days": grouped.quantile(0.9),
        }
    ).reset_index()
    decisions["share"] = decisions["flags"] / max(len(flags), 1)
    decisions = decisions[["decision", "flags", "share", "median_days", "p90_days"]]
    weekly = (
        pd.DataFrame({"as_of": flags["as_of"], "decided": decision != NOT_REVIEWED})
        .groupby("as_of", sort=True)["decided"]
        .agg(flagged="size", decided="sum")
        .reset_index()
    )
    weekly["not_reviewed"] = weekly["flagged"] - weekly["decided"]
    weekly["suppressed"] = pd.array(
        [suppressed.get(pd.Timestamp(d).date()) for d in weekly["as_of"]], dtype="Int64"
    )
    matured = pd.DataFrame({"flag_id": flags["flag_id"], "decision": decision}).merge(
        outcomes[["flag_id", "label"]], on="flag_id", how="inner"
    )
    outcome = (
        matured.groupby("decision", sort=True)["label"]
        .agg(matured_flags="size", escalated="sum")
        .reset_index()
    )
    outcome["escalation_rate"] = ratio(outcome["escalated"], outcome["matured_flags"])
    never = float((decision == NOT_REVIEWED).mean()) if len(flags) else float("nan")
    return ReviewSummary(decisions, weekly, outcome, never)


# -- all of it ----


@dataclass(frozen=True)
class Assessment:
    """What the monitor found (``ewp.flows.monitor.assess``).

    ``rows``: one per serving officer and list date: what was known then (as_of, officer_id,
    unit, ``score`` by the champion, ``rule_score``), the flag (``flag_id``, ``stored_score``,
    ``flagged``) and the ``label`` (NaN until the list matures); ``pending``: lists not
    matured yet (as_of, flagged, matures_on); ``left_out``: flags whose officer is not in
    their week's serving cohort in the current export (not measured).
    """

    matured: MaturedLists
    drift: pd.DataFrame
    calibration: dict[str, float | bool]
    cohort_calibration: pd.DataFrame
    reviews: ReviewSummary
    pending: pd.DataFrame
    rows: pd.DataFrame
    left_out: int


# -- health ----------------------------------------------------------------------------------


def breaches(drift: pd.DataFrame, calibration: Mapping[str, float | bool]) -> list[str]:
    """The breaches of the newest monitored week and of the matured lists' calibration, one
    plain sentence each (empty: healthy)."""
    found: list[str] = []
    if not drift.empty:
        latest = drift.loc[drift["as_of"] == drift["as_of"].max()]
        for row in latest.loc[latest["breach"]].itertuples(index=False):
            found.append(_breach_sentence(row.measure, row.name, float(row.value)))
    if calibration.get("breach"):
        found.append(
            f"matured lists: {calibration['observed']:.1%} of flags escalated against "
            f"{calibration['predicted']:.1%} predicted"
        )
    return found


def _breach_sentence(measure: str, name: str, value: float) -> str:
    if measure == "input":
        return f"model input {name} has shifted (PSI {value:.2f})"
    if measure == "score":
        return f"the score distribution has shifted (PSI {value:.2f})"
    if measure == "new_units":
        return f"{value:.1%} of serving officers are in units the training window never had"
    if measure == "categories":
        return f"the mix of notice categories has shifted (PSI {value:.2f})"
    if measure == "notice_rate":
        return f"notices per officer changed by {value:+.0%} against the training window"
    return f"the serving cohort changed by {value:+.0%} against the training window"
