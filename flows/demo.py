"""The first end-to-end path: synthetic force -> validated export -> features -> model -> flags.

``demo_flow`` wires pure pieces from ``ewp``, ``features`` and ``models``; it holds no logic of
its own beyond choosing dates. Steps:

1. prepare the export (generate the synthetic force once per parameter set, or use
   ``data.dir``), validate it and write the quarantine report;
2. build feature histories at monthly as-of dates and the escalation label;
3. hold out the last fully observed year: train one label horizon before it and compare the
   scorecard with "3+ complaints in 180 days" and a count ranker on its 12 monthly as-of dates,
   at the rule's flag volume and at the top 1%;
4. train the published model on every observed date, log it to MLflow;
5. score the serving cohort on the latest Monday and publish the list as the weekly flow does
   (flags with reasons, the HTML report, the review store).

Outputs go to ``<home>/runs/<config name>/<as-of date>/``; the same config and data give
byte-identical files there (the MLflow run ID, which differs per run, is printed, not written).
The folder is built in a staging folder and renamed into place when complete
(``ewp.atomic.staged_dir``), so a run killed part-way leaves no half-written report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import yaml
from prefect.cache_policies import NO_CACHE

from ewp.atomic import staged_dir, write_text
from ewp.config import Config
from ewp.contract import ForceData
from ewp.marking import mark_folder
from ewp.provenance import fingerprint_json, model_identity
from ewp.pseudonym import Pseudonymiser
from ewp.settings import default_tracking_uri
from ewp.tracking import Tracker
from features.history import build_features, feature_columns
from features.registry import feature_specs
from flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_date_manifest,
    export_fingerprint,
    prepare_export,
    protect_identifiers,
    validate,
    write_validation_report,
)
from flows.score import latest_monday, publish_list
from flows.train import labelled_rows
from models.evaluation import evaluate_split, summarise
from models.sampling import negative_subsample
from models.scorecard import ScorecardClassifier
from models.timechop import as_of_dates, make_splits

RULE_NAME = "3+ complaints in 180 days"


@dataclasses.dataclass(frozen=True)
class DemoResult:
    """What a demo run produced."""

    run_dir: Path
    flags_csv: Path
    report: Path
    model_id: str
    mlflow_run_id: str
    holdout: pd.DataFrame


HOLDOUT_CANDIDATES = ("rule_3_in_180d", "count_ranker", "scorecard")


@ewp_task(cache_policy=NO_CACHE)
def holdout_comparison(
    data: ForceData, config: Config, first_test: dt.date, extracted_on: dt.date
) -> pd.DataFrame:
    """The scorecard against "3+ complaints in 180 days" and a count ranker on the last observed
    year: trained once, one label horizon before the year starts, with findings known by then,
    and evaluated on each of its 12 monthly as-of dates. Returns the pooled summary at the
    rule's flag volume and at the top 1%."""
    (split,) = make_splits(
        test_dates=[first_test],
        label_horizon_days=config.label.horizon_days,
        training_history_days=config.evaluation.training_history_days,
        cadence="monthly",
        data_start=config.training.as_of_start,
        test_block_days=365,
    )
    dates = sorted({*split.train_as_of, *split.test_block})
    matrix = build_features(data, dates, config=config.features)
    train, train_y = labelled_rows(
        data, matrix, split.train_as_of, config=config, observed_until=split.findings_known_by
    )
    test, test_y = labelled_rows(
        data, matrix, split.test_block, config=config, observed_until=extracted_on
    )
    kept, weights = negative_subsample(
        train_y,
        rate=config.evaluation.negative_sample_rate,
        positive_rate=config.evaluation.positive_sample_rate,
        seed=config.seed,
    )
    evaluation = evaluate_split(
        train=train.iloc[kept],
        train_labels=train_y[kept],
        train_weights=weights,
        test=test,
        test_labels=test_y,
        features=feature_columns(config.features),
        candidates=[c for c in config.evaluation.candidates if c.name in HOLDOUT_CANDIDATES],
        seed=config.seed,
        sizes=(),
        fractions=(0.01,),
        feature_sets=config.evaluation.feature_sets,
    )
    summary = summarise(evaluation.metrics)
    return summary.loc[
        summary["list"].isin(["volume_rule_3_in_180d", "top_1pct"]),
        ["list", "candidate", "k", "tp", "fp", "precision"],
    ].reset_index(drop=True)


@ewp_task(cache_policy=NO_CACHE)
def train(
    data: ForceData, config: Config, dates: list[dt.date], observed_until: dt.date
) -> tuple[ScorecardClassifier, pd.DataFrame, dict[str, float]]:
    """Fit the published scorecard on every as-of date whose label is observed."""
    columns = feature_columns(config.features)
    matrix = build_features(data, dates, config=config.features)
    train_x, train_y = labelled_rows(
        data, matrix, tuple(dates), config=config, observed_until=observed_until
    )
    model = ScorecardClassifier(
        regularisation_c=config.training.regularisation_c, random_state=config.seed
    ).fit(train_x[columns], train_y.astype("int64"))
    stats = {"train_rows": float(len(train_y)), "train_base_rate": float(train_y.mean())}
    return model, train_x[columns].head(5), stats


@ewp_task(**IO_TASK)
def log_to_mlflow(
    *,
    config: Config,
    home: Path,
    model: ScorecardClassifier,
    example: pd.DataFrame,
    model_id: str,
    data_fingerprint: str,
    metrics: dict[str, float],
    pseudonymiser: Pseudonymiser,
) -> str:
    """Log the model, its scorecard, feature list and config to MLflow; return the run ID."""
    tracker = Tracker(
        tracking_uri=config.mlflow.tracking_uri or default_tracking_uri(home),
        experiment=config.mlflow.experiment,
        artifact_root=home / "mlartifacts",
        pseudonymiser=pseudonymiser,
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


@ewp_flow(name="ewp-demo", log_prints=True)
def demo_flow(config: Config, home: Path) -> DemoResult:
    """Run the whole first path on ``config`` with state under ``home``."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    result = validate(export_dir, config)
    data = result.data
    privacy = protect_identifiers(data, home)
    extracted_on = result.export_date.extracted_on
    as_of = config.scoring.as_of or latest_monday(extracted_on)
    run_dir = home / "runs" / config.name / as_of.isoformat()

    last_observed = extracted_on - dt.timedelta(days=config.label.horizon_days)
    end = min(config.training.as_of_end or last_observed, last_observed)
    dates = as_of_dates(start=config.training.as_of_start, end=end, cadence=config.training.cadence)
    # The held-out year: the last 12 monthly dates whose label horizon is fully observed.
    holdout = holdout_comparison(data, config, dates[-12], extracted_on)
    holdout_metrics = {
        f"holdout.{row.list}.{row.candidate}.{field}": float(getattr(row, field))
        for row in holdout.itertuples(index=False)
        for field in ("tp", "fp", "precision")
    }
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
        metrics={**holdout_metrics, **stats},
        pseudonymiser=privacy,
    )
    manifest = {
        "config": config.name,
        "config_fingerprint": fingerprint_json(config.model_dump(mode="json")),
        "data_fingerprint": data_fingerprint,
        "model_id": model_id,
        "as_of": as_of.isoformat(),
        **export_date_manifest(result.export_date),
        "training_as_of": [dates[0].isoformat(), dates[-1].isoformat()],
        "holdout": {k: round(v, 6) for k, v in holdout_metrics.items()},
    }
    with staged_dir(run_dir) as staging:
        write_validation_report(result, staging)
        published = publish_list(
            data=data,
            config=config,
            home=home,
            model=model,
            model_version=model_id,
            data_fingerprint=data_fingerprint,
            as_of=as_of,
            extracted_on=extracted_on,
            run_dir=staging,
        ).moved_to(run_dir)
        write_text(staging / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        mark_folder(staging)
    return DemoResult(
        run_dir=run_dir,
        flags_csv=published.flags_csv,
        report=published.report,
        model_id=model_id,
        mlflow_run_id=mlflow_run_id,
        holdout=holdout,
    )
