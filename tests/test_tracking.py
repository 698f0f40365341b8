"""The MLflow module against a temporary SQLite store: log, then load the same model back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ewp.tracking import Tracker
from models.scorecard import ScorecardClassifier


def test_log_and_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"notices_365d": rng.poisson(1, 300).astype(float)})
    y = (X["notices_365d"] + rng.normal(0, 1, 300) > 2).astype(int)
    model = ScorecardClassifier(regularisation_c=1.0).fit(X, y)
    tracker = Tracker(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="ewp-test",
        artifact_root=tmp_path / "artifacts",
    )
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
    run = tracker.client.get_run(logged.run_id)
    assert run.data.params["regularisation_c"] == "1.0"
    assert run.data.metrics["holdout_model_tp"] == 3.0
    assert run.data.tags["model_id"] == "scorecard-test"
    artifacts = {a.path for a in tracker.client.list_artifacts(logged.run_id)}
    assert {"config.yaml", "scorecard.csv"} <= artifacts
    loaded = tracker.load_model(logged.model_uri)
    np.testing.assert_allclose(loaded.decision_function(X), model.decision_function(X))
    # The experiment's artifacts live under the injected root, not in the working directory.
    assert (tmp_path / "artifacts" / "ewp-test").is_dir()
