"""The one module that talks to MLflow: runs, logged models and the model registry.

The tracking URI is injected (``Tracker(tracking_uri=...)``) and also used as the registry URI;
tests pass a temporary SQLite store. MLflow logs and loads models through its global tracking
URI, so ``log_training_run`` and ``load_model`` set it; everything else goes through the
tracker's own client.

Registry: every published candidate becomes a version of ``REGISTERED_MODEL``; the version that
serves flags carries the ``CHAMPION_ALIAS`` alias, and each promotion records its reason and who
made it as version tags.

Officer identifiers never reach MLflow (see ``ewp.stores.pseudonym``): params, metrics and tags are
about the model and the data snapshot, artifacts are the model, its feature list, scorecard,
config, model card and aggregate tables. As a boundary guard, every text, param, tag, metric
name and table passing through a ``Tracker`` built with a ``Pseudonymiser`` is scrubbed of the
officer identifiers it knows, and a table with an identifier column (``officer_id``,
``officer_ids``) is logged with pseudonyms in it; without a pseudonymiser such a table is
refused.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from ewp.core.atomic import csv_text
from ewp.core.config import Config
from ewp.core.settings import default_tracking_uri, store_folder
from ewp.stores.pseudonym import IDENTIFIER_COLUMNS, IDENTIFIER_LIST_COLUMNS, Pseudonymiser

# What a logged model needs to load elsewhere; listing it saves MLflow seconds of inference.
MODEL_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "ewp"]

REGISTERED_MODEL = "ewp-escalation"
CHAMPION_ALIAS = "champion"
REGISTERED_MODEL_DESCRIPTION = (
    "Ranks serving officers for a supportive review by the professional standards unit. "
    "A flag is a prompt for human review, never a finding."
)
VERSION_COLUMNS = [
    "version",
    "model_id",
    "candidate",
    "selection_metric",
    "selection_score",
    "is_champion",
    "promotion_reason",
]

# Version tags the weekly report reads back (``ewp.flows.score.score_meaning``), written by the
# train flow (``ewp.flows.train.weekly_list_tags``): the label in words and the back-tested hit
# rate at the list size the scoring config publishes.
LABEL_TAG = "label"
# The name of the config a version was trained under, for the record and for the message when
# another config's label differs (``champion_for_other_label``).
CONFIG_TAG = "config"
# The first and last as-of dates the registered model trained on ("2019-01-01 to 2021-12-01"):
# the window ``ewp monitor`` measures drift against.
TRAINING_WINDOW_TAG = "training_window"
LIST_TAG = "weekly_list"
LIST_TAG_PREFIX = "weekly_list."


# MLflow error codes that mean "try again later": the store was locked, busy or unreachable
# (MLflow reports a SQLAlchemy OperationalError as TEMPORARILY_UNAVAILABLE).
TRANSIENT_ERROR_CODES = frozenset(
    {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
)


def is_transient_mlflow_error(exc: BaseException) -> bool:
    """True for an MLflow error that a retry may cure (see ``TRANSIENT_ERROR_CODES``)."""
    return isinstance(exc, MlflowException) and exc.error_code in TRANSIENT_ERROR_CODES


@dataclass(frozen=True)
class LoggedRun:
    """Where a training run went in MLflow; ``version`` is set when the model was registered."""

    run_id: str
    experiment_id: str
    model_uri: str
    version: str | None = None


@dataclass(frozen=True)
class ChampionInfo:
    """The registry version that carries the champion alias.

    ``model_uri`` is the logged model's URI (``models:/<logged model id>``), loadable with
    ``Tracker.load_model``; ``tags`` are the version's tags (model_id, candidate, promotion
    reason, ...).
    """

    version: str
    run_id: str
    model_uri: str
    tags: dict[str, str]


class NoChampionError(LookupError):
    """The registered model has no champion yet (or does not exist)."""


class OutdatedModelError(NoChampionError):
    """The champion was saved by an ewp whose modules had other names and cannot be loaded:
    before the ``ewp`` namespace layout, a model's classes were pickled as ``models.…``, which
    an installed ewp no longer provides. Retraining (``ewp train``) registers a loadable one."""


class ChampionForOtherLabelError(NoChampionError):
    """The store's champion was trained for another label than this config's: its list would
    answer another question. Each config with its own label needs its own store (``store:``),
    or a version of its own promoted by hand (``ewp models promote``)."""


def champion_for_other_label(tags: Mapping[str, str], *, label: str) -> str:
    """Why a champion's version ``tags`` do not answer the question of a config whose label
    reads ``label`` (``label_in_words``), in words; "" when they do, or when the version was
    registered before its label was recorded.

    Example: a champion trained under "chicago" for "a serious notice", asked for by a config
    whose label is "any complaint", gives "was trained under config 'chicago' for the label
    'a serious notice', not this config's 'any complaint'".
    """
    recorded = tags.get(LABEL_TAG)
    if recorded is None or recorded == label:
        return ""
    trained_under = tags.get(CONFIG_TAG)
    where = f" under config {trained_under!r}" if trained_under else ""
    return f"was trained{where} for the label {recorded!r}, not this config's {label!r}"


# Top-level module names of the layout before the ``ewp`` namespace (docs/upgrading.md).
PRE_NAMESPACE_MODULES = frozenset({"models", "features", "flows", "reports", "web", "benchmarks"})


def finite_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics whose values are finite numbers; NaN and infinities are dropped.

    An undefined metric (precision of an empty list, a ratio to a rule that found nothing) is
    better absent than stored: MLflow's SQL stores keep NaN as 0 with an ``is_nan`` flag, which
    its UI and search have mishandled (mlflow#16555, #25640), and store infinities as the
    largest float.
    """
    return {key: float(value) for key, value in metrics.items() if math.isfinite(value)}


class Tracker:
    """A thin wrapper over one MLflow store: an experiment and one registered model.

    ``registered_model`` is ``REGISTERED_MODEL`` unless a caller (a test, a trial store) needs
    a separate registry entry in the same store. ``pseudonymiser`` guards the boundary (see the
    module docstring); a tracker that only reads (scoring, listing versions) needs none.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment: str,
        artifact_root: Path,
        registered_model: str = REGISTERED_MODEL,
        pseudonymiser: Pseudonymiser | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_root = artifact_root
        self.registered_model = registered_model
        self.pseudonymiser = pseudonymiser
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

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
        register: bool = False,
        version_tags: Mapping[str, str] | None = None,
        version_description: str | None = None,
    ) -> LoggedRun:
        """Log one trained model with its params, metrics, tags and text/table artifacts.

        ``example_features`` (a few rows of model inputs, no identifiers) defines the model's
        signature. ``texts`` maps artifact file names to text (config YAML, model card);
        ``tables`` maps file names to small DataFrames (scorecard, feature list). Metrics that
        are NaN or infinite are not logged (see ``finite_metrics``).

        With ``register=True`` the logged model also becomes a new version of the tracker's
        registered model (created if missing) tagged with ``version_tags`` (model_id,
        candidate, kind, selection metric and score, evaluation fingerprint, candidate spec)
        and described by ``version_description`` (what the MLflow UI shows on the version's
        page), and ``LoggedRun.version`` holds its number. Registering does not promote it.
        """
        if (version_tags or version_description) and not register:
            raise ValueError("version_tags and a description are only recorded when register=True")
        mlflow.set_tracking_uri(self.tracking_uri)
        experiment_id = self.experiment_id()
        run_name = self._scrub(run_name)
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
            mlflow.log_params(self._strings(params))
            mlflow.log_metrics(self._metrics(metrics))
            mlflow.set_tags(self._strings(tags))
            for name, text in texts.items():
                mlflow.log_text(self._scrub(text), self._scrub(name))
            for name, table in tables.items():
                mlflow.log_text(self._table_csv(table, name=name), self._scrub(name))
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
        version = None
        if register:
            self._ensure_registered_model()
            created = self.client.create_model_version(
                self.registered_model,
                source=info.model_uri,
                run_id=run.info.run_id,
                tags=self._strings(version_tags or {}),
                model_id=info.model_id,
                description=None
                if version_description is None
                else self._scrub(version_description),
            )
            version = str(created.version)
        return LoggedRun(
            run_id=run.info.run_id,
            experiment_id=experiment_id,
            model_uri=info.model_uri,
            version=version,
        )

    def log_evaluation_run(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> str:
        """Log a run with params, metrics and tags but no model (one candidate × test block).

        Metrics that are NaN or infinite (e.g. precision of an empty list) are dropped before
        logging, so an undefined metric is absent from the run rather than stored as a number
        (see ``finite_metrics``). Returns the run ID.
        """
        run = self.client.create_run(
            self.experiment_id(), run_name=self._scrub(run_name), tags=self._strings(tags)
        )
        run_id = run.info.run_id
        timestamp = int(time.time() * 1000)
        try:
            self.client.log_batch(
                run_id,
                metrics=[
                    Metric(key, value, timestamp, 0)
                    for key, value in self._metrics(metrics).items()
                ],
                params=[Param(key, value) for key, value in self._strings(params).items()],
            )
        except Exception:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return run_id

    def champion(self) -> ChampionInfo | None:
        """The version carrying the champion alias, or None if there is none yet."""
        version = self._champion_version()
        if version is None:
            return None
        found = self.client.get_model_version(self.registered_model, version)
        return ChampionInfo(
            version=str(found.version),
            run_id=found.run_id,
            model_uri=found.source,
            tags=dict(found.tags),
        )

    def set_champion(self, *, version: str, reason: str, promoted_by: str) -> None:
        """Move the champion alias to ``version``, recording why and by whom as version tags.

        Every promotion needs a non-empty ``reason`` (the selection rule's verdict, or a manual
        override's justification) and ``promoted_by``: ValueError otherwise. The tags are
        written before the alias moves, so a champion never lacks its reason.
        """
        if not reason.strip():
            raise ValueError(f"promoting version {version} needs a non-empty reason")
        if not promoted_by.strip():
            raise ValueError(f"promoting version {version} needs a non-empty promoted_by")
        self.client.set_model_version_tag(
            self.registered_model, version, "promotion_reason", self._scrub(reason)
        )
        self.client.set_model_version_tag(
            self.registered_model, version, "promoted_by", self._scrub(promoted_by)
        )
        self.client.set_registered_model_alias(self.registered_model, CHAMPION_ALIAS, version)

    def record_monitoring(self, *, version: str, metrics: Mapping[str, float], prefix: str) -> None:
        """Record what the monitor observed of ``version``'s published lists (matured
        precision, the rule's, drift breaches) as version tags ``<prefix><metric>``, so a
        retrain's back-tested precision can be set beside the champion's observed one in the
        registry. Values are written to six decimals; undefined ones (NaN) are not written, and
        a tag of an earlier run that is undefined now is removed."""
        for key, value in metrics.items():
            tag = self._scrub(f"{prefix}{key}")
            if math.isfinite(value):
                self.client.set_model_version_tag(
                    self.registered_model, version, tag, f"{value:.6f}"
                )
            elif tag in self.client.get_model_version(self.registered_model, version).tags:
                self.client.delete_model_version_tag(self.registered_model, version, tag)

    def monitoring_tags(self, version: str, *, prefix: str) -> dict[str, str]:
        """The tags ``record_monitoring`` wrote on ``version``, without their prefix."""
        tags = self.client.get_model_version(self.registered_model, version).tags
        return {k.removeprefix(prefix): v for k, v in tags.items() if k.startswith(prefix)}

    def list_versions(self) -> pd.DataFrame:
        """Every registered version with its tags and whether it is the champion.

        Columns: version (str), model_id, candidate, selection_metric, selection_score (float,
        NaN when absent), is_champion, promotion_reason (None when never promoted); sorted by
        version number. An empty frame with those columns when nothing is registered.
        """
        champion = self._champion_version()
        rows = [
            {
                "version": str(found.version),
                "model_id": found.tags.get("model_id"),
                "candidate": found.tags.get("candidate"),
                "selection_metric": found.tags.get("selection_metric"),
                "selection_score": float(found.tags.get("selection_score", "nan")),
                "is_champion": str(found.version) == champion,
                "promotion_reason": found.tags.get("promotion_reason"),
            }
            for found in self._all_versions()
        ]
        frame = pd.DataFrame(rows, columns=VERSION_COLUMNS)
        return frame.sort_values(
            "version", key=lambda v: v.astype(int), ignore_index=True, kind="stable"
        )

    def load_champion(self) -> Any:
        """The champion's scikit-learn model; NoChampionError if no version has the alias."""
        found = self.champion()
        if found is None:
            raise NoChampionError(
                f"no champion yet: no version of the registered model {self.registered_model!r} "
                "has been made champion"
            )
        return self.load_model(found.model_uri)

    def load_model(self, model_uri: str) -> Any:
        """Load a logged scikit-learn model back."""
        mlflow.set_tracking_uri(self.tracking_uri)
        try:
            return mlflow.sklearn.load_model(model_uri)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in PRE_NAMESPACE_MODULES:
                raise
            raise OutdatedModelError(
                f"the model at {model_uri} was saved by an earlier ewp (it refers to the module "
                f"{exc.name!r}, now under ewp.{exc.name}): retrain with `ewp train`, which "
                "registers a model this ewp can load"
            ) from exc

    # -- the boundary: nothing below reaches MLflow unscrubbed ------------------------------

    def _scrub(self, text: str) -> str:
        return text if self.pseudonymiser is None else self.pseudonymiser.scrub(text)

    def _strings(self, values: Mapping[str, Any]) -> dict[str, str]:
        return {self._scrub(str(k)): self._scrub(str(v)) for k, v in values.items()}

    def _metrics(self, metrics: Mapping[str, float]) -> dict[str, float]:
        return {self._scrub(k): v for k, v in finite_metrics(metrics).items()}

    def _table_csv(self, table: pd.DataFrame, *, name: str) -> str:
        """A table as CSV text, identifier columns pseudonymised (refused with no
        pseudonymiser), every cell and header scrubbed."""
        identifiers = [
            c for c in (*IDENTIFIER_COLUMNS, *IDENTIFIER_LIST_COLUMNS) if c in table.columns
        ]
        if identifiers and self.pseudonymiser is None:
            raise ValueError(
                f"{name}: column(s) {', '.join(identifiers)} hold officer identifiers; a Tracker "
                "logs them only with a pseudonymiser (see ewp.stores.pseudonym)"
            )
        if self.pseudonymiser is not None:
            table = self.pseudonymiser.frame(table)
        return self._scrub(csv_text(table))

    def _ensure_registered_model(self) -> None:
        try:
            self.client.create_registered_model(
                self.registered_model, description=REGISTERED_MODEL_DESCRIPTION
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def _champion_version(self) -> str | None:
        # Read the alias off the registered model: asking for a missing alias directly raises
        # a generic INVALID_PARAMETER_VALUE that cannot be told apart from other bad input.
        try:
            registered = self.client.get_registered_model(self.registered_model)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        version = registered.aliases.get(CHAMPION_ALIAS)
        return None if version is None else str(version)

    def _all_versions(self) -> list[ModelVersion]:
        found: list[ModelVersion] = []
        page_token = None
        while True:
            page = self.client.search_model_versions(
                f"name = '{self.registered_model}'", page_token=page_token
            )
            found.extend(page)
            page_token = page.token
            if not page_token:
                return found


def tracker_for(config: Config, home: Path, pseudonymiser: Pseudonymiser | None = None) -> Tracker:
    """The MLflow tracker for a config: its URI, or the SQLite store in the config's store
    folder (``ewp.core.settings.store_folder``); ``pseudonymiser`` guards what it logs (see the
    module docstring)."""
    folder = store_folder(home, config.store)
    folder.mkdir(parents=True, exist_ok=True)
    return Tracker(
        tracking_uri=config.mlflow.tracking_uri or default_tracking_uri(folder),
        experiment=config.mlflow.experiment,
        artifact_root=folder / "mlartifacts",
        pseudonymiser=pseudonymiser,
    )
