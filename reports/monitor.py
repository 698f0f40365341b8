"""The monitoring page: ``monitor.html``, what ``ewp monitor`` writes for the data team.

``render_monitor_report`` is pure: the monitor's ``ewp.models.monitoring.Assessment`` in, one
self-contained HTML document out (inline CSS and SVG charts from ``ewp.reports.charts``, no script,
no external reference), marked OFFICIAL-SENSITIVE in its header and footer. Every piece of
text goes through Jinja's autoescaping. The page holds aggregates only: no officer is named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup

from ewp.models.monitoring import PUBLISHED, Assessment
from ewp.reports import load_template
from ewp.reports.charts import Axis, Series, line_chart
from ewp.reports.evaluation import _count, _number, _provenance, _with_interval
from ewp.reports.weekly import MARKING

TEMPLATE = "monitor.html.j2"
MEASURE_NAMES = {
    "input": "model input (PSI)",
    "score": "score (PSI)",
    "new_units": "officers in units the training window never had (share)",
    "categories": "categories of recent notices (PSI)",
    "notice_rate": "recent notices per officer (change)",
    "cohort": "serving officers (change)",
}


def _percent(value: Any) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value):.1%}"


def _week_ticks(weeks: list[str]) -> list[tuple[float, str]]:
    """At most eight evenly spaced week labels."""
    step = max(1, math.ceil(len(weeks) / 8))
    return [(float(i), weeks[i]) for i in range(0, len(weeks), step)]


def _precision_chart(weeks: pd.DataFrame, *, rule: str) -> Markup | None:
    if weeks.empty:
        return None
    labels = [pd.Timestamp(d).date().isoformat() for d in weeks["as_of"]]
    series = [
        Series(PUBLISHED, list(enumerate(weeks["precision"].astype(float))), emphasis=True),
        Series(rule, list(enumerate(weeks["rule_precision"].astype(float)))),
    ]
    return line_chart(
        chart_id="matured-precision",
        title="Share of flagged officers who escalated, per matured list",
        description=(
            "For each matured weekly list, the share of its flagged officers who went on to "
            f"escalate, beside the share for the rule {rule} at the same list volume."
        ),
        series=series,
        x_axis=Axis("list date", low=-0.5, high=len(labels) - 0.5, ticks=_week_ticks(labels)),
        y_axis=Axis("escalated", low=0.0, percent=True),
    )


def _drift_chart(drift: pd.DataFrame, *, threshold: float) -> Markup | None:
    if drift.empty:
        return None
    weeks = sorted(drift["as_of"].unique())
    labels = [pd.Timestamp(d).date().isoformat() for d in weeks]
    score = drift.loc[drift["measure"] == "score"].set_index("as_of")["value"]
    inputs = drift.loc[drift["measure"] == "input"].groupby("as_of")["value"].max()
    categories = drift.loc[drift["measure"] == "categories"].set_index("as_of")["value"]
    series = [
        Series(
            "score",
            [(i, float(score.get(w, math.nan))) for i, w in enumerate(weeks)],
            emphasis=True,
        ),
        Series("largest input", [(i, float(inputs.get(w, math.nan))) for i, w in enumerate(weeks)]),
        Series(
            "notice categories",
            [(i, float(categories.get(w, math.nan))) for i, w in enumerate(weeks)],
        ),
        Series("threshold", [(0, threshold), (len(weeks) - 1, threshold)]),
    ]
    return line_chart(
        chart_id="drift",
        title="Population stability index against the training window, per week",
        description=(
            "The PSI of the score, of the model input that moved most and of the categories "
            f"of recent notices, each week; at or above {threshold:g} is a warning."
        ),
        series=series,
        x_axis=Axis("list date", low=-0.5, high=len(labels) - 0.5, ticks=_week_ticks(labels)),
        y_axis=Axis("PSI", low=0.0),
    )


def _pooled_rows(pooled: pd.DataFrame, *, rule: str, rule_description: str) -> list[dict[str, str]]:
    rows = []
    for name, label in ((PUBLISHED, "the published lists"), (rule, f"{rule}: {rule_description}")):
        found = pooled.loc[pooled["candidate"] == name] if len(pooled) else pooled
        if found.empty:
            continue
        r = found.iloc[0]
        rows.append(
            {
                "list": label,
                "flagged": _count(r["places"]),
                "escalated": _count(r["tp"]),
                "precision": _with_interval(
                    r["precision"], r["precision_low"], r["precision_high"]
                ),
                "recall": _with_interval(r["recall"], r["recall_low"], r["recall_high"]),
            }
        )
    return rows


def _drift_rows(drift: pd.DataFrame) -> list[dict[str, Any]]:
    """The newest week's measures, breaches first."""
    if drift.empty:
        return []
    latest = drift.loc[drift["as_of"] == drift["as_of"].max()]
    latest = latest.sort_values(["breach", "measure", "name"], ascending=[False, True, True])
    return [
        {
            "measure": MEASURE_NAMES[r["measure"]],
            "name": r["name"],
            "value": _number(r["value"]),
            "threshold": f"{r['threshold']:g}",
            "breach": bool(r["breach"]),
        }
        for r in latest.to_dict("records")
    ]


def _breach_weeks(drift: pd.DataFrame) -> list[dict[str, str]]:
    """Every week with a breach, and what breached."""
    if drift.empty:
        return []
    found = drift.loc[drift["breach"]]
    return [
        {
            "as_of": pd.Timestamp(week).date().isoformat(),
            "what": "; ".join(
                f"{MEASURE_NAMES[m]}: {n} {_number(v)}"
                for m, n, v in zip(rows["measure"], rows["name"], rows["value"], strict=True)
            ),
        }
        for week, rows in found.groupby("as_of", sort=True)
    ]


def render_monitor_report(
    *,
    assessment: Assessment,
    health: str,
    rule: str,
    rule_description: str,
    model_version: str,
    reference_note: str,
    reference_window: tuple[str, str],
    provenance: Mapping[str, str],
    horizon_days: int,
    confidence: float,
    psi_threshold: float,
) -> str:
    """The monitoring page as one HTML document (see the module docstring).

    ``health``: the one-line summary; ``rule`` and ``rule_description``: the headline rule;
    ``model_version``: the champion's; ``reference_note``: where the training window came
    from; ``provenance``: config, data fingerprint, export date.
    """
    matured, reviews = assessment.matured, assessment.reviews
    weeks = matured.weeks
    calibration = assessment.calibration
    difference = matured.difference
    return load_template(TEMPLATE).render(
        marking=MARKING,
        title="Monitoring the champion in service",
        health=health,
        provenance=_provenance(provenance),
        rule=rule,
        rule_description=rule_description,
        model_version=model_version,
        reference_note=reference_note,
        reference_window=reference_window,
        horizon_days=horizon_days,
        confidence=f"{confidence:.0%}",
        matured_count=len(weeks),
        pending=[
            {
                "as_of": pd.Timestamp(r["as_of"]).date().isoformat(),
                "flagged": int(r["flagged"]),
                "matures_on": pd.Timestamp(r["matures_on"]).date().isoformat(),
            }
            for r in assessment.pending.to_dict("records")
        ],
        left_out=assessment.left_out,
        pooled=_pooled_rows(matured.pooled, rule=rule, rule_description=rule_description),
        difference=_with_interval(
            difference.get("difference"),
            difference.get("difference_low"),
            difference.get("difference_high"),
            signed=True,
        )
        if difference
        else None,
        weeks=[
            {
                "as_of": pd.Timestamp(r["as_of"]).date().isoformat(),
                "cohort": _count(r["cohort"]),
                "escalated": _count(r["escalated"]),
                "flagged": _count(r["flagged"]),
                "flagged_escalated": _count(r["flagged_escalated"]),
                "precision": _percent(r["precision"]),
                "rule_places": _count(r["rule_places"]),
                "rule_escalated": _count(r["rule_escalated"]),
                "rule_precision": _percent(r["rule_precision"]),
                "predicted": _percent(r["mean_predicted"]),
            }
            for r in weeks.to_dict("records")
        ],
        precision_chart=_precision_chart(weeks, rule=rule),
        calibration={
            "flags": _count(calibration.get("flags")),
            "predicted": _percent(calibration.get("predicted")),
            "observed": _percent(calibration.get("observed")),
            "breach": bool(calibration.get("breach")),
        },
        deciles=[
            {
                "bin": int(r["bin"]) + 1,
                "n": _count(r["n"]),
                "predicted": _percent(r["mean_predicted"]),
                "observed": _percent(r["observed_rate"]),
            }
            for r in assessment.cohort_calibration.to_dict("records")
        ],
        drift_latest=_drift_rows(assessment.drift),
        breach_weeks=_breach_weeks(assessment.drift),
        drift_chart=_drift_chart(assessment.drift, threshold=psi_threshold),
        **_review_context(reviews),
    )


def _review_context(reviews: Any) -> dict[str, Any]:
    """The template's "what reviewers did" section, from ``Assessment.reviews``."""
    return dict(
        decisions=[
            {
                "decision": str(r["decision"]).replace("_", " "),
                "flags": _count(r["flags"]),
                "share": _percent(r["share"]),
                "median_days": _number(r["median_days"], 0),
                "p90_days": _number(r["p90_days"], 0),
            }
            for r in reviews.decisions.to_dict("records")
        ],
        never_reviewed=_percent(reviews.never_reviewed),
        review_weeks=[
            {
                "as_of": pd.Timestamp(r["as_of"]).date().isoformat(),
                "flagged": _count(r["flagged"]),
                "decided": _count(r["decided"]),
                "not_reviewed": _count(r["not_reviewed"]),
                "suppressed": "not recorded"
                if pd.isna(r["suppressed"])
                else _count(r["suppressed"]),
            }
            for r in reviews.weeks.to_dict("records")
        ],
        outcomes=[
            {
                "decision": str(r["decision"]).replace("_", " "),
                "matured_flags": _count(r["matured_flags"]),
                "escalated": _count(r["escalated"]),
                "rate": _percent(r["escalation_rate"]),
            }
            for r in reviews.outcomes.to_dict("records")
        ],
    )
