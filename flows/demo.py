"""The first end-to-end path: synthetic force -> validated export -> features -> model -> flags.

``demo_flow`` wires pure pieces from ``ewp``, ``features`` and ``models``; it holds no logic of
its own beyond choosing dates. Steps:

1. prepare the export (generate the synthetic force once per parameter set, or use
   ``data.dir``), validate it and write the quarantine report;
2. build feature histories at monthly as-of dates and the escalation label;
3. hold out the last fully observed as-of date: train on dates whose horizon ends by it and
   compare the model with the "3+ notices in 180 days" rule at the rule's flag volume;
4. train the published model on every observed date, log it to MLflow;
5. score the serving cohort at the export date and write the ranked flag list with reasons.

Outputs go to ``<home>/runs/<config name>/<as-of date>/``; the same config and data give
byte-identical files there (the MLflow run ID, which differs per run, is printed, not written).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import yaml
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from ewp.config import Config
from ewp.contract import ForceData
from ewp.flags import build_flag_list, select_flags
from ewp.provenance import fingerprint_json, model_identity
from ewp.settings import default_tracking_uri
from ewp.tracking import Tracker
from features.history import build_features, feature_columns
from features.labels import build_labels
from features.registry import feature_specs
from flows.common import (
    export_date,
    export_fingerprint,
    prepare_export,
    validate,
    write_validation_report,
)
from models.explain import top_reasons
from models.metrics import at_k
from models.scorecard import ScorecardClassifier
from models.timechop import as_of_dates

RULE_NAME = "3+ notices in 180 days"


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What a demo run produced."""

    run_dir: Path
    flags_csv: Path
    model_id: str
    mlflow_run_id: str
    holdout: dict[str, float]


def training_set(
    data: ForceData, dates: list[dt.date], *, config: Config, observed_until: dt.date
) -> tuple[pd.DataFrame, pd.Series]:
    """Feature rows at ``dates`` with their labels, keeping only rows whose label is observed."""
    matrix = build_features(data, dates, config=config.features)
    labels = build_labels(data, matrix, label=config.label, observed_until=observed_until)
    keep = labels.notna().to_numpy()
    return matrix.loc[keep].reset_index(drop=True), labels[keep].reset_index(drop=True)


@task(cache_policy=NO_CACHE)
def holdout_comparison(
    data: ForceData, config: Config, test_date: dt.date, extracted_on: dt.date
) -> dict[str, float]:
    """Train before ``test_date`` (labels and findings known by it), score it, compare with the
    rule at the rule's flag volume. Training ends one label horizon before the test date."""
    last_train = test_date - dt.timedelta(days=config.label.horizon_days)
    dates = as_of_dates(start=config.training.as_of_start, end=last_train, cadence="monthly")
    columns = feature_columns(config.features)
    train_x, train_y = training_set(data, dates, config=config, observed_until=test_date)
    model = ScorecardClassifier(
        regularisation_c=config.training.regularisation_c, random_state=config.seed
    ).fit(train_x[columns], train_y)
    test = build_features(data, [test_date], config=config.features)
    test_y = build_labels(data, test, label=config.label, observed_until=extracted_on).to_numpy()
    rule_flags = (test["notices_180d"] >= 3).to_numpy()
    k = int(rule_flags.sum())
    model_at_k = at_k(test_y, model.decision_function(test[columns]), k)
    rule_at_k = at_k(test_y, rule_flags.astype(float), k)
    return {
        "holdout_k": float(k),
        "holdout_base_rate": float(test_y.mean()),
        "holdout_model_tp": model_at_k.tp,
        "holdout_model_fp": model_at_k.fp,
        "holdout_model_precision": model_at_k.precision,
        "holdout_rule_tp": rule_at_k.tp,
        "holdout_rule_fp": rule_at_k.fp,
        "holdout_rule_precision": rule_at_k.precision,
    }


@task(cache_policy=NO_CACHE)
def train(
    data: ForceData, config: Config, dates: list[dt.date], observed_until: dt.date
) -> tuple[ScorecardClassifier, pd.DataFrame, dict[str, float]]:
    """Fit the published scorecard on every as-of date whose label is observed."""
    columns = feature_columns(config.features)
    train_x, train_y = training_set(data, dates, config=config, observed_until=observed_until)
    model = ScorecardClassifier(
        regularisation_c=config.training.regularisation_c, random_state=config.seed
    ).fit(train_x[columns], train_y)
    stats = {"train_rows": float(len(train_y)), "train_base_rate": float(train_y.mean())}
    return model, train_x[columns].head(5), stats


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def log_to_mlflow(
    *,
    config: Config,
    home: Path,
    model: ScorecardClassifier,
    example: pd.DataFrame,
    model_id: str,
    data_fingerprint: str,
    metrics: dict[str, float],
) -> str:
    """Log the model, its scorecard, feature list and config to MLflow; return the run ID."""
    tracker = Tracker(
        tracking_uri=config.mlflow.tracking_uri or default_tracking_uri(home),
        experiment=config.mlflow.experiment,
        artifact_root=home / "mlartifacts",
    )
    specs = feature_specs(config.features)
    logged = tracker.log_training_run(
        run_name=model_id,
        model=model,
        example_features=example,
        params={**model.get_params(), "features": len(specs), "seed": config.seed},
        metrics=metrics,
        tags={"model_id": model_id, "data_fingerprint": data_fingerprint, "config": config.name},
        texts={"config.yaml": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=True)},
        tables={
            "scorecard.csv": model.points(),
            "features.csv": pd.DataFrame(
                {"feature": [s.name for s in specs], "description": [s.description for s in specs]}
            ),
        },
    )
    return logged.run_id


@task(cache_policy=NO_CACHE)
def score_and_publish(
    *,
    data: ForceData,
    config: Config,
    model: ScorecardClassifier,
    as_of: dt.date,
    model_id: str,
    data_fingerprint: str,
    run_dir: Path,
) -> Path:
    """Score the serving cohort at ``as_of`` and write the top-k flag list and its reasons."""
    columns = feature_columns(config.features)
    matrix = build_features(data, [as_of], config=config.features)
    scored = matrix[["officer_id", "unit", "as_of"]].assign(
        score=model.predict_proba(matrix[columns])[:, 1]
    )
    flagged, _ = select_flags(scored, scoring=config.scoring)
    flagged_features = matrix.set_index("officer_id").loc[flagged["officer_id"], columns]
    reasons = top_reasons(
        model.contributions(flagged_features),
        flagged_features,
        n=config.scoring.reasons_per_flag,
    )
    specs = {s.name: s for s in feature_specs(config.features)}
    flags = build_flag_list(
        flagged=flagged,
        reasons=reasons,
        specs=specs,
        model_version=model_id,
        data_fingerprint=data_fingerprint,
        reasons_per_flag=config.scoring.reasons_per_flag,
    )
    flags_csv = run_dir / "flags.csv"
    flags.to_csv(flags_csv, index=False, float_format="%.6f")
    reasons.rename(columns={"row": "officer_id"}).to_csv(
        run_dir / "reasons.csv", index=False, float_format="%.6f"
    )
    return flags_csv


@flow(name="ewp-demo", log_prints=True)
def demo_flow(config: Config, home: Path) -> DemoResult:
    """Run the whole first path on ``config`` with state under ``home``."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    result = validate(export_dir, config)
    data = result.data
    extracted_on = export_date(data, config.data.extracted_on)
    as_of = config.scoring.as_of or extracted_on
    run_dir = home / "runs" / config.name / as_of.isoformat()
    write_validation_report(result, run_dir)

    last_observed = extracted_on - dt.timedelta(days=config.label.horizon_days)
    end = min(config.training.as_of_end or last_observed, last_observed)
    dates = as_of_dates(start=config.training.as_of_start, end=end, cadence=config.training.cadence)
    holdout = holdout_comparison(data, config, dates[-1], extracted_on)
    model, example, stats = train(data, config, dates, extracted_on)
    columns = feature_columns(config.features)
    model_id = model_identity(
        estimator_class=f"{type(model).__module__}.{type(model).__qualname__}",
        params=model.get_params(),
        features=columns,
        training_window=(dates[0].isoformat(), dates[-1].isoformat()),
        seed=config.seed,
        data_fingerprint=data_fingerprint,
    )
    mlflow_run_id = log_to_mlflow(
        config=config,
        home=home,
        model=model,
        example=example,
        model_id=model_id,
        data_fingerprint=data_fingerprint,
        metrics={**holdout, **stats},
    )
    flags_csv = score_and_publish(
        data=data,
        config=config,
        model=model,
        as_of=as_of,
        model_id=model_id,
        data_fingerprint=data_fingerprint,
        run_dir=run_dir,
    )
    manifest = {
        "config": config.name,
        "config_fingerprint": fingerprint_json(config.model_dump(mode="json")),
        "data_fingerprint": data_fingerprint,
        "model_id": model_id,
        "as_of": as_of.isoformat(),
        "extracted_on": extracted_on.isoformat(),
        "training_as_of": [dates[0].isoformat(), dates[-1].isoformat()],
        "holdout": {k: round(v, 6) for k, v in holdout.items()},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return DemoResult(
        run_dir=run_dir,
        flags_csv=flags_csv,
        model_id=model_id,
        mlflow_run_id=mlflow_run_id,
        holdout=holdout,
    )
