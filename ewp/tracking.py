"""The one module that talks to MLflow.

The tracking URI is injected (``Tracker(tracking_uri=...)``); tests pass a temporary SQLite
store. Nothing here logs officer identifiers: params and metrics are about the model and the
data snapshot, artifacts are the model, its feature list, scorecard and config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

# What a logged model needs to load elsewhere; listing it saves MLflow seconds of inference.
MODEL_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "ewp"]


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run went in MLflow."""

    run_id: str
    experiment_id: str
    model_uri: str


class Tracker:
    """A thin wrapper over one MLflow store and experiment."""

    def __init__(self, *, tracking_uri: str, experiment: str, artifact_root: Path) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.client = MlflowClient(tracking_uri=tracking_uri)

    def experiment_id(self) -> str:
        """The experiment's ID, created (with an explicit artifact location) if missing."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        location = (self.artifact_root / self.experiment).resolve().as_uri()
        return self.client.create_experiment(self.experiment, artifact_location=location)

    def log_training_run(
        self,
        *,
        run_name: str,
        model: Any,
        example_features: pd.DataFrame,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        texts: Mapping[str, str],
        tables: Mapping[str, pd.DataFrame],
    ) -> LoggedRun:
        """Log one trained model with its params, metrics, tags and text/table artifacts.

        ``example_features`` (a few rows of model inputs, no identifiers) defines the model's
        signature. ``texts`` maps artifact file names to text (config YAML, model card);
        ``tables`` maps file names to small DataFrames (scorecard, feature list).
        """
        mlflow.set_tracking_uri(self.tracking_uri)
        experiment_id = self.experiment_id()
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.log_params({k: str(v) for k, v in params.items()})
            mlflow.log_metrics(dict(metrics))
            mlflow.set_tags(dict(tags))
            for name, text in texts.items():
                mlflow.log_text(text, name)
            for name, table in tables.items():
                mlflow.log_text(table.to_csv(index=False), name)
            signature = infer_signature(
                example_features, model.predict_proba(example_features)[:, 1]
            )
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                pip_requirements=MODEL_REQUIREMENTS,
                serialization_format="cloudpickle",
            )
        return LoggedRun(
            run_id=run.info.run_id, experiment_id=experiment_id, model_uri=info.model_uri
        )

    def load_model(self, model_uri: str) -> Any:
        """Load a logged scikit-learn model back."""
        mlflow.set_tracking_uri(self.tracking_uri)
        return mlflow.sklearn.load_model(model_uri)
