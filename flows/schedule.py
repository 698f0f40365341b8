"""Scheduled deployments: weekly scoring on Monday 06:00 (Europe/London), monthly retraining,
the monthly oversight report and monthly monitoring of the champion in service.

``ewp serve`` registers these with a Prefect server and runs them (``prefect.serve``). The
served flows take a config *path* (deployment parameters must be JSON), load it and call the
``score`` and ``train`` flows as subflows, so each run shows in the Prefect UI with its steps.

Each run's outcome is recorded under the data home (``ewp.stores.run_status``): a failed run shows
on the review workspace's list page, where the unit sees it, until the next run of the job succeeds.
(A config that cannot be loaded has no data home to record in; Prefect's UI and the ``ewp serve``
terminal show that failure.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from ewp.core.config import Config, load_config
from ewp.core.settings import data_home
from ewp.flows.common import ewp_flow
from ewp.flows.monitor import Monitored, monitor_flow
from ewp.flows.oversight import OversightRun, oversight_flow
from ewp.flows.score import Published, score_flow
from ewp.flows.train import TrainResult, run_train
from ewp.stores.run_status import record_outcome

T = TypeVar("T")
TIMEZONE = "Europe/London"
WEEKLY_CRON = "0 6 * * 1"  # Mondays 06:00
MONTHLY_CRON = "0 5 1 * *"  # the 1st of each month, 05:00
OVERSIGHT_CRON = "0 7 1 * *"  # the 1st of each month, 07:00 (after retraining)
MONITOR_CRON = "0 5 2 * *"  # the 2nd of each month, 05:00 (after the retraining)


WEEKLY_JOB = "weekly scoring"
MONTHLY_JOB = "monthly retraining"
OVERSIGHT_JOB = "monthly oversight report"
MONITOR_JOB = "monthly monitoring"


def _recorded(config: Config, job: str, run: Callable[[Path], T]) -> T:
    """Run ``run(home)``, recording its outcome for the workspace; a failure is re-raised."""
    home = data_home(config.home)
    runs_dir = home / "runs" / config.name
    try:
        result = run(home)
    except Exception as error:
        record_outcome(runs_dir, job=job, at=dt.datetime.now(dt.UTC), error=error)
        raise
    record_outcome(runs_dir, job=job, at=dt.datetime.now(dt.UTC))
    return result


@ewp_flow(name="ewp-weekly")
def weekly(config_path: str | None = None, as_of: dt.date | None = None) -> Published:
    """Score and publish this week's list with the registry's champion."""
    config = load_config(config_path)
    return _recorded(config, WEEKLY_JOB, lambda home: score_flow(config, home, as_of))


@ewp_flow(name="ewp-retrain")
def retrain(config_path: str | None = None) -> TrainResult:
    """Re-evaluate the candidate grid and register the winner (champion moves only if better)."""
    config = load_config(config_path)
    return _recorded(config, MONTHLY_JOB, lambda home: run_train(config, home))


@ewp_flow(name="ewp-monthly-oversight")
def monthly_oversight(config_path: str | None = None) -> OversightRun:
    """Write the oversight report as of the export date."""
    config = load_config(config_path)
    return _recorded(config, OVERSIGHT_JOB, lambda home: oversight_flow(config, home))


@ewp_flow(name="ewp-monitoring")
def monitoring(config_path: str | None = None) -> Monitored:
    """Measure the matured lists, drift and reviews of the champion in service."""
    config = load_config(config_path)
    return _recorded(config, MONITOR_JOB, lambda home: monitor_flow(config, home))


def deployments(config_path: Path | None) -> list[RunnerDeployment]:
    """The four scheduled deployments for a config."""
    parameters = {"config_path": str(config_path.resolve()) if config_path else None}
    return [
        weekly.to_deployment(
            name="weekly-scoring",
            schedule=Cron(WEEKLY_CRON, timezone=TIMEZONE),
            parameters=parameters,
            description="Monday 06:00: score the serving cohort and publish the flag list.",
        ),
        retrain.to_deployment(
            name="monthly-retraining",
            schedule=Cron(MONTHLY_CRON, timezone=TIMEZONE),
            parameters=parameters,
            description="1st of the month 05:00: evaluate candidates, register the winner.",
        ),
        monthly_oversight.to_deployment(
            name="monthly-oversight",
            schedule=Cron(OVERSIGHT_CRON, timezone=TIMEZONE),
            parameters=parameters,
            description="1st of the month 07:00: the oversight report of the misconduct system.",
        ),
        monitoring.to_deployment(
            name="monthly-monitoring",
            schedule=Cron(MONITOR_CRON, timezone=TIMEZONE),
            parameters=parameters,
            description="2nd of the month 05:00: matured lists, drift and reviews (ewp monitor).",
        ),
    ]
