"""Test-wide setup: Prefect and MLflow state in a temporary home, one Prefect test server.

``EWP_HOME`` points at that temporary home too (unless already set), so no test writes a data
home, a quarantine report or a store into the checkout.

The environment is set before anything imports Prefect (it reads settings at import time).
Tests that run flows take the ``prefect_harness`` fixture: one temporary Prefect server for the
whole session (~8 s), with heartbeats off so each flow call costs ~0.2 s instead of ~1.1 s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ewp.core.config import (
    CandidateConfig,
    Config,
    EvaluationConfig,
    SyntheticConfig,
    TrainingConfig,
)
from ewp.core.settings import configure_environment

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="ewp-test-home-"))
configure_environment(_SESSION_HOME)
# A command run without --home or its own EWP_HOME writes here, never into the checkout.
os.environ.setdefault("EWP_HOME", str(_SESSION_HOME))


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server and database for the session."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=90),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


# A small force and grid for the flow tests: 3,000 officers, two yearly test blocks.
SMALL_TRAIN = Config(
    name="small-train",
    synthetic=SyntheticConfig(officers=3000, start_year=2014, end_year=2021),
    training=TrainingConfig(as_of_start=dt.date(2015, 1, 1)),
    evaluation=EvaluationConfig(
        test_dates=(dt.date(2018, 1, 1), dt.date(2019, 1, 1)),
        test_block_days=365,
        training_history_days=730,
        negative_sample_rate=0.5,
        list_sizes=(20,),
        candidates=(
            CandidateConfig(
                name="rule_3_in_180d",
                kind="threshold_rule",
                params={"feature": "notices_180d", "threshold": 3},
            ),
            CandidateConfig(
                name="count_ranker", kind="count_ranker", params={"feature": "notices_365d"}
            ),
            CandidateConfig(name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}),
            # A black-box yardstick is trained, never published unless a config says so.
            CandidateConfig(
                name="hgb_yardstick", kind="hist_gradient_boosting", params={"max_iter": 30}
            ),
        ),
        allow_black_box_champion=False,
    ),
)


@dataclasses.dataclass(frozen=True)
class Trained:
    """A data home where ``ewp train`` ran twice on SMALL_TRAIN (the second run a rerun)."""

    home: Path
    first: Any
    second: Any


@pytest.fixture(scope="session")
def small_trained(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Train (and retrain) on the small force once per session; weekly tests score with it."""
    from ewp.flows.train import run_train

    home = tmp_path_factory.mktemp("trained-home")
    return Trained(
        home=home, first=run_train(SMALL_TRAIN, home), second=run_train(SMALL_TRAIN, home)
    )
