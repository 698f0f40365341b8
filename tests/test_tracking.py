"""The MLflow module against a temporary SQLite store: log and load, register, promote, list.

Creating a store and ``log_model`` are the slow parts, so the module shares one store: the
``registry`` fixture registers two versions of ``REGISTERED_MODEL`` in it, tests that need "no
champion yet" take ``no_champion`` (which removes the alias), and a test that needs an empty
registry uses a registered model of its own name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from ewp.models.scorecard import ScorecardClassifier
from ewp.stores.tracking import (
    CHAMPION_ALIAS,
    REGISTERED_MODEL,
    VERSION_COLUMNS,
    LoggedRun,
    NoChampionError,
    Tracker,
)


def _features(seed: int, rows: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "notices_365d": rng.poisson(1, rows).astype(float),
            "open_cases": rng.poisson(0.5, rows).astype(float),
        }
    )
    y = (X["notices_365d"] + X["open_cases"] + rng.normal(0, 1, rows) > 2).astype(int)
    return X, y


def _tracker(root: Path, *, registered_model: str = REGISTERED_MODEL) -> Tracker:
    return Tracker(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        experiment="ewp-test",
        artifact_root=root / "artifacts",
        registered_model=registered_model,
    )


@dataclass(frozen=True)
class Registry:
    """A store with two registered versions (scorecards with different regularisation)."""

    tracker: Tracker
    X: pd.DataFrame
    models: tuple[ScorecardClassifier, ScorecardClassifier]
    logged: tuple[LoggedRun, LoggedRun]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the module's SQLite store and artifacts."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="module")
def registry(store: Path) -> Registry:
    tracker = _tracker(store)
    X, y = _features(2)
    models = (
        ScorecardClassifier(regularisation_c=1.0).fit(X, y),
        ScorecardClassifier(regularisation_c=0.001).fit(X, y),
    )
    logged = tuple(
        tracker.log_training_run(
            run_name=f"scorecard-{i}",
            model=model,
            example_features=X.head(3),
            params=model.get_params(),
            metrics={"holdout_model_tp": float(i)},
            tags={"model_id": f"scorecard-{i}"},
            texts={"model_card.md": f"# Model card: scorecard-{i}\n"},
            tables={},
            register=True,
            version_tags={
                "model_id": f"scorecard-{i}",
                "candidate": "scorecard",
                "selection_metric": "top_50.precision",
                "selection_score": f"0.{i + 2}",
            },
            version_description=f"scorecard {i}: a prompt for a human review, never a finding",
        )
        for i, model in enumerate(models, start=1)
    )
    return Registry(tracker=tracker, X=X, models=models, logged=logged)


@pytest.fixture
def no_champion(registry: Registry) -> Registry:
    """The shared store with the champion alias removed."""
    client = registry.tracker.client
    if CHAMPION_ALIAS in client.get_registered_model(REGISTERED_MODEL).aliases:
        client.delete_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS)
    return registry


def test_log_and_load_round_trip(store: Path) -> None:
    X, y = _features(1)
    model = ScorecardClassifier(regularisation_c=1.0).fit(X, y)
    tracker = _tracker(store)
    logged = tracker.log_training_run(
        run_name="scorecard-test",
        model=model,
        example_features=X.head(3),
        params={"regularisation_c": 1.0},
        metrics={"holdout_model_tp": 3.0},
        tags={"model_id": "scorecard-test"},
        texts={"config.yaml": "name: test\n"},
        tables={"scorecard.csv": model.points()},
    )
    assert logged.version is None
    run = tracker.client.get_run(logged.run_id)
    assert run.data.params["regularisation_c"] == "1.0"
    assert run.data.metrics["holdout_model_tp"] == 3.0
    assert run.data.tags["model_id"] == "scorecard-test"
    artifacts = {a.path for a in tracker.client.list_artifacts(logged.run_id)}
    assert {"config.yaml", "scorecard.csv"} <= artifacts
    loaded = tracker.load_model(logged.model_uri)
    np.testing.assert_allclose(loaded.decision_function(X), model.decision_function(X))
    # The experiment's artifacts live under the injected root, not in the working directory.
    assert (store / "artifacts" / "ewp-test").is_dir()


def test_version_tags_need_register(registry: Registry) -> None:
    with pytest.raises(ValueError, match="register=True"):
        registry.tracker.log_training_run(
            run_name="unused",
            model=registry.models[0],
            example_features=registry.X.head(3),
            params={},
            metrics={},
            tags={},
            texts={},
            tables={},
            version_tags={"model_id": "x"},
        )


def test_register_creates_tagged_versions(registry: Registry) -> None:
    client = registry.tracker.client
    assert [run.version for run in registry.logged] == ["1", "2"]
    version = client.get_model_version(REGISTERED_MODEL, "2")
    assert version.run_id == registry.logged[1].run_id
    assert version.source == registry.logged[1].model_uri
    assert version.tags["model_id"] == "scorecard-2"
    assert version.tags["selection_score"] == "0.4"
    assert client.get_registered_model(REGISTERED_MODEL).description
    # Each version says what it is, on its own page in the MLflow UI.
    assert version.description == "scorecard 2: a prompt for a human review, never a finding"
    # The model card travels with the run as a text artifact.
    card = client.download_artifacts(registry.logged[1].run_id, "model_card.md")
    assert Path(card).read_text(encoding="utf-8") == "# Model card: scorecard-2\n"


def test_no_champion_until_promoted(no_champion: Registry) -> None:
    tracker = no_champion.tracker
    assert tracker.champion() is None
    assert not tracker.list_versions()["is_champion"].any()
    with pytest.raises(NoChampionError, match=REGISTERED_MODEL):
        tracker.load_champion()


def test_set_champion_moves_alias_and_records_reason(no_champion: Registry) -> None:
    tracker = no_champion.tracker
    tracker.set_champion(version="1", reason="selection rule: best mean precision", promoted_by="a")
    first = tracker.champion()
    assert first is not None
    assert (first.version, first.run_id) == ("1", no_champion.logged[0].run_id)
    assert first.model_uri == no_champion.logged[0].model_uri
    assert first.tags["promotion_reason"] == "selection rule: best mean precision"

    tracker.set_champion(version="2", reason="manual: v1 failed review", promoted_by="psu-lead")
    second = tracker.champion()
    assert second is not None
    assert second.version == "2"
    assert second.tags["promotion_reason"] == "manual: v1 failed review"
    assert second.tags["promoted_by"] == "psu-lead"
    assert second.tags["model_id"] == "scorecard-2"


@pytest.mark.parametrize(("reason", "promoted_by"), [("", "psu-lead"), ("  ", "x"), ("ok", "")])
def test_promotion_needs_reason_and_promoter(
    no_champion: Registry, reason: str, promoted_by: str
) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        no_champion.tracker.set_champion(version="1", reason=reason, promoted_by=promoted_by)
    assert no_champion.tracker.champion() is None


def test_promoting_an_unknown_version_fails(no_champion: Registry) -> None:
    with pytest.raises(MlflowException, match="not found"):
        no_champion.tracker.set_champion(version="99", reason="manual: typo", promoted_by="x")
    assert no_champion.tracker.champion() is None


def test_list_versions_content(no_champion: Registry) -> None:
    tracker = no_champion.tracker
    tracker.set_champion(version="2", reason="manual: reviewed", promoted_by="psu-lead")
    frame = tracker.list_versions()
    assert list(frame.columns) == VERSION_COLUMNS
    assert frame["version"].tolist() == ["1", "2"]
    assert frame["model_id"].tolist() == ["scorecard-1", "scorecard-2"]
    assert frame["candidate"].tolist() == ["scorecard", "scorecard"]
    assert frame["selection_metric"].tolist() == ["top_50.precision"] * 2
    assert frame["selection_score"].tolist() == [0.3, 0.4]
    assert frame["is_champion"].tolist() == [False, True]
    assert frame.loc[1, "promotion_reason"] == "manual: reviewed"


def test_list_versions_orders_by_number_and_handles_a_missing_model(store: Path) -> None:
    tracker = _tracker(store, registered_model="ewp-ordering-test")
    empty = tracker.list_versions()
    assert empty.empty
    assert list(empty.columns) == VERSION_COLUMNS
    assert tracker.champion() is None  # no registered model at all
    # Versions made directly (no model behind them): only the listing is under test.
    tracker.client.create_registered_model(tracker.registered_model)
    for number in range(1, 12):
        tracker.client.create_model_version(
            tracker.registered_model,
            source=(store / "none").as_uri(),
            tags={"model_id": f"m{number}"},
        )
    frame = tracker.list_versions()
    assert frame["version"].tolist() == [str(n) for n in range(1, 12)]  # 10 after 9, not 1
    assert frame["model_id"].tolist() == [f"m{n}" for n in range(1, 12)]
    assert frame["selection_score"].isna().all()
    assert frame["promotion_reason"].isna().all()
    assert tracker.champion() is None  # registered model, but no alias


def test_load_champion_scores_like_the_logged_model(no_champion: Registry) -> None:
    tracker, X = no_champion.tracker, no_champion.X
    tracker.set_champion(version="2", reason="manual: reviewed", promoted_by="psu-lead")
    loaded = tracker.load_champion()
    expected = no_champion.models[1].predict_proba(X)
    np.testing.assert_allclose(loaded.predict_proba(X), expected)
    assert not np.allclose(no_champion.models[0].predict_proba(X), expected)


def test_evaluation_run_drops_non_finite_metrics(registry: Registry) -> None:
    tracker = registry.tracker
    run_id = tracker.log_evaluation_run(
        run_name="scorecard@2022-01-01",
        params={"candidate": "scorecard", "test_as_of": "2022-01-01"},
        metrics={"top_50.precision": 0.25, "top_50.recall": math.nan, "fp_change": math.inf},
        tags={"kind": "evaluation"},
    )
    run = tracker.client.get_run(run_id)
    assert run.data.metrics == {"top_50.precision": 0.25}
    assert run.data.params == {"candidate": "scorecard", "test_as_of": "2022-01-01"}
    assert run.data.tags["kind"] == "evaluation"
    assert run.info.run_name == "scorecard@2022-01-01"
    assert run.info.status == "FINISHED"
    assert run.info.experiment_id == registry.logged[0].experiment_id
    assert tracker.client.list_artifacts(run_id) == []


def test_a_model_saved_under_the_old_module_names_asks_for_a_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model pickled before the ``ewp`` namespace layout refers to ``models.…``: loading it
    says to retrain, naming the module; any other missing module is not mistaken for it."""
    import mlflow.sklearn

    from ewp.stores.tracking import OutdatedModelError

    def missing(name: str):
        def load(_uri: str) -> None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        return load

    tracker = _tracker(tmp_path)
    monkeypatch.setattr(mlflow.sklearn, "load_model", missing("models.scorecard"))
    with pytest.raises(OutdatedModelError, match=r"'models.scorecard'.*ewp train") as caught:
        tracker.load_model("models:/x/1")
    assert isinstance(caught.value, NoChampionError)  # the CLI's "run ewp train" path
    monkeypatch.setattr(mlflow.sklearn, "load_model", missing("interpret"))
    with pytest.raises(ModuleNotFoundError) as other:
        tracker.load_model("models:/x/1")
    assert not isinstance(other.value, OutdatedModelError)


def test_champion_for_other_label_names_the_config_and_both_labels() -> None:
    from ewp.stores.tracking import champion_for_other_label

    tags = {"config": "chicago", "label": "a serious notice"}
    assert champion_for_other_label(tags, label="a serious notice") == ""
    assert champion_for_other_label(tags, label="any complaint") == (
        "was trained under config 'chicago' for the label 'a serious notice', not this "
        "config's 'any complaint'"
    )
    assert champion_for_other_label({"label": "a serious notice"}, label="any complaint") == (
        "was trained for the label 'a serious notice', not this config's 'any complaint'"
    )
    # A version registered before its label was recorded is not refused for lacking it.
    assert champion_for_other_label({}, label="any complaint") == ""


def test_score_refuses_a_champion_trained_for_another_label(no_champion: Registry) -> None:
    """Two configs with different labels sharing one store: the champion trained for one is
    never scored as the other's list (it would answer another question); another config
    name with the same label is served (a renamed config keeps its champion)."""
    from ewp.core.config import Config, LabelConfig
    from ewp.features.explanations import label_in_words
    from ewp.flows.score import load_champion
    from ewp.stores.tracking import ChampionForOtherLabelError

    tracker = no_champion.tracker
    serious = Config(name="force")
    any_complaint = Config(name="force-any", label=LabelConfig(horizon_days=180))
    assert label_in_words(serious.label) != label_in_words(any_complaint.label)
    for tag, value in (("config", "force"), ("label", label_in_words(serious.label))):
        tracker.client.set_model_version_tag(REGISTERED_MODEL, "2", tag, value)
    tracker.set_champion(version="2", reason="manual: reviewed", promoted_by="psu-lead")
    with pytest.raises(ChampionForOtherLabelError, match=r"under config 'force' for the label"):
        load_champion.fn(tracker, config=any_complaint)
    renamed = serious.model_copy(update={"name": "force-2027"})
    _, version, tags = load_champion.fn(tracker, config=renamed)
    assert version == "scorecard-2 (v2)" and tags["config"] == "force"
