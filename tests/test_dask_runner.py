"""The train flow on a local Dask cluster (prefect-dask) gives the default runner's results."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import RuntimeConfig
from tests.conftest import SMALL_TRAIN

needs_dask = pytest.mark.skipif(
    importlib.util.find_spec("prefect_dask") is None,
    reason="prefect-dask not installed: pip install -e '.[dask]'",
)


@needs_dask
def test_config_picks_the_task_runner() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from ewp.flows.train import task_runner

    assert isinstance(task_runner(SMALL_TRAIN), ThreadPoolTaskRunner)
    local = task_runner(
        SMALL_TRAIN.model_copy(update={"runtime": RuntimeConfig(task_runner="dask")})
    )
    assert isinstance(local, DaskTaskRunner) and local.address is None
    remote = task_runner(
        SMALL_TRAIN.model_copy(
            update={
                "runtime": RuntimeConfig(task_runner="dask", dask_address="tcp://scheduler:8786")
            }
        )
    )
    assert remote.address == "tcp://scheduler:8786"


@needs_dask
@pytest.mark.slow
def test_train_flow_on_a_local_dask_cluster_matches_the_thread_pool(
    small_trained, tmp_path: Path
) -> None:
    from ewp.flows.train import run_train

    on_dask = SMALL_TRAIN.model_copy(update={"runtime": RuntimeConfig(task_runner="dask")})
    result = run_train(on_dask, tmp_path / "dask-home", publish=False)
    threads = small_trained.first  # the same config on the default thread pool
    pd.testing.assert_frame_equal(result.metrics, threads.metrics)
    pd.testing.assert_frame_equal(result.selection, threads.selection)
    # publish=False registers nothing; the selection's first row is the champion it would pick.
    assert result.selection.loc[0, "candidate"] == threads.champion
