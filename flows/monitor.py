"""The ``monitor`` flow: did the published lists come true, is the champion drifting, and what
did reviewers do with the flags? (``ewp monitor``; ``ewp serve`` runs it monthly.)

Wiring only; the computations are in ``ewp.models.monitoring``, the page in ``ewp.reports.monitor``.

* Every weekly list in the review store is taken as it was published (officers, stored
  scores, model version). A list dated ``t`` has matured when its label horizon has passed in
  the current export; its flags' outcomes are the training label (``ewp.features.labels``): only
  notices received on or after ``t`` count.
* What was known at ``t`` is recomputed from events known before ``t`` only (``known_then``):
  the serving cohort's features, the champion's score, the headline rule's ranking (the rule's
  list is as long as that week's published list) and the notices received in the
  ``monitoring.recent_days`` before ``t``.
* Drift is measured per week against the champion's training window (the ``training_window``
  version tag, else the window a model trained just before the first list would have had),
  frozen the first time the model is monitored (``reference-<model id>.json`` beside the
  review store), so a later export that renames a unit is compared with the units of then.
* Outputs go to ``<home>/runs/<config>/monitor-<export date>/``: ``monitor.html``, CSVs,
  ``health.json`` (the one-line summary the weekly report and ``ewp models`` show); the pooled
  matured metrics of the champion's own lists go onto its registered version in MLflow
  (``monitoring.*`` version tags).

``backfill_flow`` publishes weekly lists at past dates, as ``ewp score --as-of`` would have,
so the monitor can be tried on an export without waiting a year (docs/monitoring.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ewp.core.atomic import staged_dir, write_csv, write_text
from ewp.core.config import Config
from ewp.core.contract import ForceData
from ewp.core.marking import mark_folder
from ewp.core.progress import step
from ewp.core.settings import store_folder
from ewp.core.timechop import as_of_dates
from ewp.features.history import build_features
from ewp.features.labels import build_labels
from ewp.flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_fingerprint,
    final_split,
    prepare_export,
    protect_identifiers,
    review_url,
    run_logger,
    validate,
)
from ewp.flows.score import MANIFEST_JSON, latest_monday, load_champion, publish_week
from ewp.models.candidates import build_candidate
from ewp.models.explain import model_features
from ewp.models.monitoring import (
    Assessment,
    DriftReference,
    MaturedLists,
    breaches,
    cohort_calibration,
    drift_reference,
    drift_rows,
    list_calibration,
    matured_precision,
    review_summary,
)
from ewp.reports.monitor import render_monitor_report
from ewp.stores.health import HEALTH_JSON, MONITOR_PREFIX, Health
from ewp.stores.review import ReviewStore
from ewp.stores.tracking import TRAINING_WINDOW_TAG, tracker_for

MONITOR_HTML = "monitor.html"
MLFLOW_PREFIX = "monitoring."


class NothingToMonitor(ValueError):
    """No published list in the review store."""


def headline_rule(config: Config) -> Any:
    """The config's headline rule, ready to rank officers (a rule's ranking does not depend on
    its fit, which learns only the rates ``predict_proba`` returns)."""
    candidate = next(
        c for c in config.evaluation.candidates if c.name == config.evaluation.headline_rule
    )
    return build_candidate(candidate, seed=config.seed)


def recent_categories(data: ForceData, *, as_of: dt.date, days: int) -> pd.Series:
    """Categories of the notices received in the ``days`` days before ``as_of`` (received in
    ``[as_of - days, as_of)``). Worked example, 91 days, as-of 2024-04-01: notices received
    2024-01-01 to 2024-03-31 count; one received on 2024-04-01 does not."""
    received = data.notices["received_on"]
    start = pd.Timestamp(as_of - dt.timedelta(days=days))
    return data.notices.loc[(received >= start) & (received < pd.Timestamp(as_of)), "category"]


def known_then(cohort: pd.DataFrame, *, model: Any, rule: Any) -> pd.DataFrame:
    """One week's serving ``cohort`` (its feature matrix rows, built from events known before
    the week) with the champion's ``score`` and the headline rule's ranking, ``rule_score``."""
    features = cohort.drop(columns=["officer_id", "unit", "as_of"])
    rule.fit(features, np.zeros(len(cohort), dtype="int64"))
    return cohort[["officer_id", "unit", "as_of"]].assign(
        score=model.predict_proba(cohort[model_features(model)])[:, 1],
        rule_score=rule.decision_function(features),
    )


def reference_window(
    config: Config, tags: Mapping[str, str], *, first_list: dt.date
) -> tuple[tuple[dt.date, ...], str]:
    """The champion's training as-of dates and where they come from (a sentence)."""
    recorded = tags.get(TRAINING_WINDOW_TAG)
    if recorded:
        start, end = (dt.date.fromisoformat(part) for part in recorded.split(" to "))
        dates = as_of_dates(start=start, end=end, cadence=config.training.cadence)
        return tuple(dates), f"the champion's training window ({recorded}), as registered"
    split = final_split(config, first_list)
    return split.train_as_of, (
        "the window a model trained just before the first list would have had "
        f"({split.train_as_of[0]} to {split.train_as_of[-1]}): the champion was registered "
        "without its training window"
    )


def build_reference(
    data: ForceData, *, model: Any, config: Config, dates: tuple[dt.date, ...]
) -> DriftReference:
    """The drift reference of the training window ``dates`` (``ewp.models.monitoring``)."""
    columns = model_features(model)
    matrix = build_features(data, list(dates), config=config.features)
    days = config.monitoring.recent_days
    first, last = min(dates), max(dates)
    received = data.notices["received_on"]
    window = (received >= pd.Timestamp(first - dt.timedelta(days=days))) & (
        received < pd.Timestamp(last)
    )
    return drift_reference(
        inputs=matrix[columns],
        scores=model.predict_proba(matrix[columns])[:, 1],
        units=matrix["unit"].astype(str).unique(),
        categories=data.notices.loc[window, "category"],
        dates=dates,
        days=(last - first).days + days,
        bins=config.monitoring.psi_bins,
    )


def assess(
    data: ForceData,
    *,
    flags: pd.DataFrame,
    model: Any,
    reference: DriftReference,
    config: Config,
    extracted_on: dt.date,
    suppressed: Mapping[dt.date, int | None],
) -> Assessment:
    """Measure every published list in ``flags`` (``ReviewStore.flags_frame``) on ``data``,
    the export taken on ``extracted_on`` (see the module docstring)."""
    columns = model_features(model)
    rule = headline_rule(config)
    flag_dates = pd.to_datetime(flags["as_of"])
    weeks = sorted({d.date() for d in flag_dates})
    matrix = build_features(data, weeks, config=config.features)
    known, drift, pending = [], [], []
    for week in weeks:
        cohort = matrix.loc[matrix["as_of"] == pd.Timestamp(week)].reset_index(drop=True)
        now = known_then(cohort, model=model, rule=rule)
        known.append(now)
        drift.append(
            drift_rows(
                as_of=week,
                reference=reference,
                inputs=cohort[columns],
                scores=now["score"].to_numpy(),
                units=now["unit"].astype(str).tolist(),
                recent_categories=recent_categories(
                    data, as_of=week, days=config.monitoring.recent_days
                ),
                thresholds=config.monitoring,
            )
        )
    scored = pd.concat(known, ignore_index=True) if known else pd.DataFrame()
    published = flags.assign(as_of=flag_dates)[["flag_id", "as_of", "officer_id", "score"]]
    rows = scored.merge(
        published.rename(columns={"score": "stored_score"}), on=["as_of", "officer_id"], how="left"
    )
    rows["flagged"] = rows["flag_id"].notna()
    left_out = len(published) - int(rows["flagged"].sum())
    rows["label"] = (
        build_labels(data, rows, label=config.label, observed_until=extracted_on)
        if len(rows)
        else pd.Series(dtype=float)
    )
    matured_rows = matured_only(rows)
    horizon = dt.timedelta(days=config.label.horizon_days)
    for week in weeks:
        if pd.Timestamp(week) not in set(matured_rows["as_of"]):
            listed = int((flag_dates == pd.Timestamp(week)).sum())
            pending.append({"as_of": week, "flagged": listed, "matures_on": week + horizon})
    matured = measure(matured_rows, config=config)
    cohort_scores = scored.merge(
        matured_rows[["as_of", "officer_id", "label"]], on=["as_of", "officer_id"]
    )
    outcomes = matured_rows.loc[matured_rows["flagged"], ["flag_id", "label"]]
    return Assessment(
        matured=matured,
        drift=pd.concat(drift, ignore_index=True) if drift else pd.DataFrame(),
        calibration=list_calibration(
            matured.weeks, tolerance=config.monitoring.calibration_tolerance
        ),
        cohort_calibration=cohort_calibration(
            cohort_scores["label"].to_numpy(), cohort_scores["score"].to_numpy()
        ),
        reviews=review_summary(flags, suppressed=suppressed, outcomes=outcomes),
        pending=pd.DataFrame(pending, columns=["as_of", "flagged", "matures_on"]),
        rows=rows,
        left_out=left_out,
    )


def matured_only(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of matured lists, typed for ``ewp.models.monitoring.matured_precision`` (``score``
    is the flag's stored score)."""
    return rows.loc[rows["label"].notna()].assign(
        label=lambda r: r["label"].astype("int64"),
        rule_score=lambda r: r["rule_score"].astype(float),
        score=lambda r: r["stored_score"].astype(float),
    )


def measure(matured_rows: pd.DataFrame, *, config: Config) -> MaturedLists:
    """``ewp.models.monitoring.matured_precision`` with the config's rule and bootstrap."""
    return matured_precision(
        matured_rows,
        rule=config.evaluation.headline_rule,
        samples=config.evaluation.bootstrap_samples,
        seed=config.seed,
        confidence=config.evaluation.confidence,
    )


def in_sample_weeks(weeks: pd.DataFrame, *, tags: Mapping[str, str], horizon_days: int) -> int:
    """Matured lists dated before the end of the champion's training labels (its last
    training as-of date plus the horizon): the model learned from their outcomes. Worked
    example: trained to 2020-12-01 with a 365-day horizon, a list of 2021-11-29 is inside,
    one of 2021-12-06 is not. 0 when the training window was not registered."""
    recorded = tags.get(TRAINING_WINDOW_TAG)
    if not recorded or weeks.empty:
        return 0
    end = dt.date.fromisoformat(recorded.split(" to ")[1]) + dt.timedelta(days=horizon_days)
    return int((pd.to_datetime(weeks["as_of"]) < pd.Timestamp(end)).sum())


def suppressed_counts(runs_dir: Path, weeks: list[dt.date]) -> dict[dt.date, int | None]:
    """Officers held back from each week's list, as its run's ``manifest.json`` recorded
    (None: no manifest, e.g. a list published by ``ewp demo``)."""
    counts: dict[dt.date, int | None] = {}
    for week in weeks:
        path = runs_dir / f"weekly-{week.isoformat()}" / MANIFEST_JSON
        counts[week] = (
            int(json.loads(path.read_text(encoding="utf-8"))["suppressed"])
            if path.is_file()
            else None
        )
    return counts


def reference_path(config: Config, home: Path, model_id: str) -> Path:
    """Where a model's frozen drift reference is kept, beside the review store."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model_id)
    return store_folder(home, config.store) / "monitoring" / f"reference-{safe}.json"


@ewp_task(**IO_TASK)
def frozen_reference(
    data: ForceData,
    *,
    config: Config,
    home: Path,
    model: Any,
    model_id: str,
    dates: tuple[dt.date, ...],
) -> DriftReference:
    """The model's drift reference: as first recorded, else built now and recorded."""
    path = reference_path(config, home, model_id)
    if path.is_file():
        return DriftReference.from_json(json.loads(path.read_text(encoding="utf-8")))
    reference = build_reference(data, model=model, config=config, dates=dates)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(reference.to_json(), indent=2, sort_keys=True) + "\n")
    return reference


def champion_metrics(
    assessment: Assessment, matured: MaturedLists, *, rule: str
) -> dict[str, float]:
    """The matured metrics recorded on the champion's registered version."""
    metrics: dict[str, float] = {
        "matured_weeks": float(len(matured.weeks)),
        "drift_breaches": float(len(breaches(assessment.drift, assessment.calibration))),
    }
    pooled = matured.pooled.set_index("candidate") if len(matured.pooled) else None
    for name, prefix in (("published list", "precision"), (rule, "rule_precision")):
        if pooled is None or name not in pooled.index:
            continue
        metrics[prefix] = float(pooled.loc[name, "precision"])
        metrics[f"{prefix}_low"] = float(pooled.loc[name, "precision_low"])
        metrics[f"{prefix}_high"] = float(pooled.loc[name, "precision_high"])
    if pooled is not None and "published list" in pooled.index:
        metrics["flags"] = float(pooled.loc["published list", "places"])
    return metrics | {f"precision_minus_rule{k.removeprefix('difference')}": v
                      for k, v in matured.difference.items()}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Monitored:
    """Where a monitoring run wrote, and its health."""

    run_dir: Path
    report: Path
    health: Health


@ewp_flow(name="ewp-monitor")
def monitor_flow(config: Config, home: Path) -> Monitored:
    """Measure the published lists, drift and reviews; write the page, CSVs and health; record
    the champion's matured metrics in MLflow."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    validated = validate(export_dir, config)
    data = validated.data
    privacy = protect_identifiers(data, home)
    extracted_on = validated.export_date.extracted_on
    store = ReviewStore(review_url(config, home))
    try:
        flags = store.flags_frame()
    finally:
        store.close()
    if flags.empty:
        raise NothingToMonitor(
            "no published list to monitor: publish weekly lists first (ewp score, or "
            "ewp monitor --backfill FROM for past dates)"
        )
    tracker = tracker_for(config, home, privacy)
    with step("Loading the champion from the model registry"):
        model, model_version, tags = load_champion(tracker, config=config)
    weeks = sorted({d.date() for d in pd.to_datetime(flags["as_of"])})
    dates, reference_note = reference_window(config, tags, first_list=weeks[0])
    with step("Recording the training window's distributions"):
        reference = frozen_reference(
            data,
            config=config,
            home=home,
            model=model,
            model_id=tags.get("model_id", model_version),
            dates=dates,
        )
    runs_dir = home / "runs" / config.name
    with step(f"Measuring {len(weeks)} published lists"):
        assessment = assess(
            data,
            flags=flags,
            model=model,
            reference=reference,
            config=config,
            extracted_on=extracted_on,
            suppressed=suppressed_counts(runs_dir, weeks),
        )
    rule = config.evaluation.headline_rule
    own = assessment.matured
    if set(flags["model_version"]) != {model_version}:
        own = champion_lists(assessment, flags, model_version=model_version, config=config)
    pooled = own.pooled.set_index("candidate") if len(own.pooled) else None
    health = Health(
        monitored_on=extracted_on.isoformat(),
        latest_week=weeks[-1].isoformat(),
        matured_weeks=len(own.weeks),
        precision=None if pooled is None else float(pooled.loc["published list", "precision"]),
        rule_precision=None if pooled is None else float(pooled.loc[rule, "precision"]),
        breaches=tuple(breaches(assessment.drift, assessment.calibration)),
        in_sample_weeks=in_sample_weeks(
            own.weeks, tags=tags, horizon_days=config.label.horizon_days
        ),
    )
    run_dir = runs_dir / f"{MONITOR_PREFIX}{extracted_on.isoformat()}"
    html = render_monitor_report(
        assessment=assessment,
        health=health.line(),
        rule=rule,
        rule_description=headline_rule(config).describe(),
        model_version=model_version,
        reference_note=reference_note,
        reference_window=reference.window,
        provenance={
            "config": config.name,
            "data_fingerprint": data_fingerprint,
            "extracted_on": extracted_on.isoformat(),
            "model_version": model_version,
        },
        horizon_days=config.label.horizon_days,
        confidence=config.evaluation.confidence,
        psi_threshold=config.monitoring.psi_threshold,
    )
    with staged_dir(run_dir) as staging:
        write_outputs(staging, assessment=assessment, health=health, html=html)
        mark_folder(staging)
    champion = tracker.champion()
    if champion is not None and len(own.weeks):
        record_on_champion(
            tracker, version=champion.version, metrics=champion_metrics(assessment, own, rule=rule)
        )
    run_logger().info("%s", health.line())
    return Monitored(run_dir=run_dir, report=run_dir / MONITOR_HTML, health=health)


def champion_lists(
    assessment: Assessment, flags: pd.DataFrame, *, model_version: str, config: Config
) -> MaturedLists:
    """The matured lists published by the champion (``model_version``) alone."""
    own = pd.to_datetime(flags.loc[flags["model_version"] == model_version, "as_of"])
    rows = assessment.rows.loc[assessment.rows["as_of"].isin(set(own))]
    return measure(matured_only(rows), config=config)


@ewp_task(**IO_TASK)
def record_on_champion(tracker: Any, *, version: str, metrics: Mapping[str, float]) -> None:
    """The matured metrics on the champion's registered version (``ewp.stores.tracking``)."""
    tracker.record_monitoring(version=version, metrics=dict(metrics), prefix=MLFLOW_PREFIX)


def write_outputs(folder: Path, *, assessment: Assessment, health: Health, html: str) -> None:
    """The page, the CSVs and ``health.json`` into ``folder``."""
    matured = assessment.matured
    tables = {
        "matured_weeks.csv": matured.weeks,
        "matured_pooled.csv": matured.pooled,
        "pending_lists.csv": assessment.pending,
        "drift.csv": assessment.drift,
        "calibration_deciles.csv": assessment.cohort_calibration,
        "review_decisions.csv": assessment.reviews.decisions,
        "review_weeks.csv": assessment.reviews.weeks,
        "review_outcomes.csv": assessment.reviews.outcomes,
    }
    for name, table in tables.items():
        write_csv(table, folder / name, float_format="%.6f", date_format="%Y-%m-%d")
    write_text(
        folder / HEALTH_JSON,
        json.dumps(dataclasses.asdict(health), indent=2, sort_keys=True) + "\n",
    )
    write_text(folder / MONITOR_HTML, html)


@ewp_flow(name="ewp-backfill")
def backfill_flow(
    config: Config, home: Path, start: dt.date, every_weeks: int = 1
) -> list[dt.date]:
    """Publish the weekly lists of every ``every_weeks``-th Monday from ``start`` to the
    export's latest Monday with the registry's champion, as ``ewp score --as-of`` would have
    (the same ``ewp.flows.score.publish_week``; a week already published is rerun, adding
    nothing). Returns the list dates."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    validated = validate(export_dir, config)
    protect_identifiers(validated.data, home)
    extracted_on = validated.export_date.extracted_on
    first = start + dt.timedelta(days=(7 - start.weekday()) % 7)
    last = latest_monday(extracted_on)
    days = [
        first + dt.timedelta(weeks=n) for n in range(0, (last - first).days // 7 + 1, every_weeks)
    ]
    with step("Loading the champion from the model registry"):
        champion = load_champion(tracker_for(config, home), config=config)
    for day in days:
        with step(f"Publishing the list of {day}"):
            publish_week(
                config=config,
                home=home,
                validated=validated,
                data_fingerprint=data_fingerprint,
                champion=champion,
                day=day,
                stale=None,
            )
    return days
