"""Prefect retries cover transient I/O (files, database, MLflow store), never logic errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE
from sqlalchemy.exc import IntegrityError, OperationalError

from ewp.core.errors import ContractError
from ewp.stores.retry import is_transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OSError(5, "Input/output error"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OperationalError("INSERT ...", {}, Exception("database is locked")), True),
        (MlflowException("store busy", error_code=TEMPORARILY_UNAVAILABLE), True),
        (FileNotFoundError(2, "No such file"), False),
        (PermissionError(13, "Permission denied"), False),
        (IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed")), False),
        (MlflowException("no such run", error_code=RESOURCE_DOES_NOT_EXIST), False),
        (ContractError("notices.csv: required column ..."), False),
        (ValueError("a bug"), False),
        (KeyError("score"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_only_transient_io_errors_are_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_io_tasks_retry_transient_errors_and_compute_tasks_never_retry() -> None:
    from ewp.flows import common, score, train

    io_tasks = [
        common.prepare_export,
        common.validate,
        common.write_validation_report,
        score.publish_list,
        score.load_champion,
        train.current_champion,
        train.log_evaluation,
    ]
    for task in io_tasks:
        assert (task.retries, task.retry_condition_fn) == (2, common.retry_if_transient), task
    for task in (
        train.index_matrix,
        train.fit_split,
        train.score_split,
        train.final_sample,
        train.fit_final,
    ):
        assert task.retries == 0, task


def _validation_result():
    from tests.test_validation import clean_tables, validate

    return validate(clean_tables())


def test_a_transient_write_failure_is_retried(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    from ewp.flows import common

    attempts: list[Path] = []
    write_quarantine = common.write_quarantine

    def flaky(frame, path: Path) -> Path:
        attempts.append(path)
        if len(attempts) == 1:
            raise OSError(5, "Input/output error")  # e.g. a network share dropped
        return write_quarantine(frame, path)

    monkeypatch.setattr(common, "write_quarantine", flaky)
    report = common.write_validation_report.with_options(retry_delay_seconds=0)

    @flow
    def write_report() -> None:
        report(_validation_result(), tmp_path)

    write_report()
    assert len(attempts) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "quarantine.csv",
        "validation_summary.csv",
    ]


def test_a_logic_error_is_not_retried(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    from ewp.flows import common

    attempts: list[Path] = []

    def broken(frame, path: Path) -> Path:
        attempts.append(path)
        raise ValueError("a bug, not the disk")

    monkeypatch.setattr(common, "write_quarantine", broken)
    report = common.write_validation_report.with_options(retry_delay_seconds=0)

    @flow
    def write_report() -> None:
        report(_validation_result(), tmp_path)

    with pytest.raises(ValueError, match="a bug, not the disk"):
        write_report()
    assert len(attempts) == 1


class _Registry:
    """An MLflow registry that fails as scripted (``load_champion``'s view of a Tracker)."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    def load_champion(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "model"

    def champion(self):
        from ewp.stores.tracking import ChampionInfo

        return ChampionInfo(
            version="3", run_id="r1", model_uri="models:/m-1", tags={"model_id": "sc-1"}
        )


def test_a_busy_mlflow_store_is_retried_and_a_missing_champion_is_not(
    prefect_harness: None,
) -> None:
    from prefect import flow

    from ewp.core.config import Config
    from ewp.flows.score import load_champion
    from ewp.stores.tracking import NoChampionError

    task = load_champion.with_options(retry_delay_seconds=0)

    @flow
    def load(registry: _Registry) -> tuple:
        return task(registry, config=Config())

    busy = _Registry([MlflowException("database is locked", error_code=TEMPORARILY_UNAVAILABLE)])
    assert load(busy) == ("model", "sc-1 (v3)", {"model_id": "sc-1"})
    assert busy.calls == 2
    missing = _Registry([NoChampionError("no champion alias")])
    with pytest.raises(NoChampionError):
        load(missing)
    assert missing.calls == 1
