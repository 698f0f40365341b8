"""One measured step of the benchmark suite, run in a fresh process.

``python -m ewp.benchmarks.steps '<json>'`` loads the prepared force, runs one step and prints one
JSON line: wall and CPU seconds (user + system) of the step, and of the children it ran and
waited for (a training run's Prefect server), the process's peak resident memory (its
``ru_maxrss``, so every step is measured alone and none inherits another's high-water mark)
and its largest child's,
the memory held before the step began (the interpreter and the force's tables), and what the
step produced. ``ewp.benchmarks.suite`` runs these and lays the results side by side.

Every feature step produces each row of the matrix once and hands it on in pieces (ewp's
blocks of as-of dates, the naive reference's dates, DuckDB's Arrow batches), so that none of
them holds a national-scale matrix in memory at once.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ewp.core.config import Config
from ewp.core.contract import TABLES, ForceData

STEPS: dict[str, Callable[..., dict[str, Any]]] = {}


def step(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Register a step under its function's name."""
    STEPS[function.__name__] = function
    return function


def rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children (e.g. the temporary
    Prefect server a training run starts and stops)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_force(typed: Path) -> ForceData:
    """The validated force saved by the suite (typed Parquet, quick to load)."""
    tables = (pd.read_parquet(typed / f"{name}.parquet") for name in TABLES)
    return ForceData(*tables)


def _dates(values: list[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(v) for v in values]


@step
def ewp_blocks(data: ForceData, config: Config, dates: list[str], **_: Any) -> dict[str, Any]:
    """ewp's matrix, block by block of as-of dates
    (``ewp.features.history.iter_feature_blocks``)."""
    from ewp.features.history import iter_feature_blocks

    rows = blocks = 0
    for block in iter_feature_blocks(data, _dates(dates), config=config.features):
        rows += len(block)
        blocks += 1
    return {"rows": rows, "blocks": blocks}


class Stopwatch:
    """Wall and CPU seconds summed over the stretches timed with ``with stopwatch:``."""

    def __init__(self) -> None:
        self.seconds = self.cpu_seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._started, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds += time.perf_counter() - self._started
        self.cpu_seconds += time.process_time() - self._cpu


@step
def ewp_parquet(data: ForceData, config: Config, dates: list[str], **_: Any) -> dict[str, Any]:
    """ewp's matrix written to Parquet (one row group per as-of date, as the feature cache that
    ``ewp train`` used to keep) and read back a date at a time: what a cache would cost
    against building the matrix again (``ewp_blocks``). Building is not in the times."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ewp.features.history import iter_feature_blocks

    write, read = Stopwatch(), Stopwatch()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrix.parquet"
        writer: pq.ParquetWriter | None = None
        for block in iter_feature_blocks(data, _dates(dates), config=config.features):
            with write:
                table = pa.Table.from_pandas(block, preserve_index=False)
                as_of = block["as_of"].to_numpy()
                starts = np.flatnonzero(np.r_[True, as_of[1:] != as_of[:-1]])
                for begin, end in zip(starts, [*starts[1:], len(as_of)], strict=True):
                    writer = writer or pq.ParquetWriter(path, table.schema)
                    writer.write_table(table.slice(begin, end - begin))
        with write:
            if writer is not None:
                writer.close()
        with read:
            parquet = pq.ParquetFile(path)
            for group in range(parquet.num_row_groups):
                parquet.read_row_group(group).to_pandas()
        return {
            "file_mb": path.stat().st_size / 1e6,
            "write_seconds": write.seconds,
            "write_cpu_seconds": write.cpu_seconds,
            "read_seconds": read.seconds,
            "read_cpu_seconds": read.cpu_seconds,
        }


@step
def naive(data: ForceData, config: Config, dates: list[str], **_: Any) -> dict[str, Any]:
    """The naive reference: a pandas filter per as-of date (``ewp.benchmarks.naive``)."""
    from ewp.benchmarks.naive import iter_naive

    return {"rows": sum(len(f) for f in iter_naive(data, _dates(dates), config=config.features))}


@step
def sql(
    data: ForceData, config: Config, dates: list[str], memory_limit: str, **_: Any
) -> dict[str, Any]:
    """The DuckDB formulation (``ewp.benchmarks.sql``), streamed in Arrow batches."""
    from ewp.benchmarks.sql import iter_sql

    with tempfile.TemporaryDirectory() as tmp:
        batches = iter_sql(
            data,
            _dates(dates),
            config=config.features,
            temp=Path(tmp),
            memory_limit=memory_limit,
        )
        return {"rows": sum(batch.num_rows for batch in batches)}


@step
def lower_bound(data: ForceData, config: Config, dates: list[str], **_: Any) -> dict[str, Any]:
    """Allocate the matrix and write every cell once: the same rows, columns and dtypes as
    ewp's, in the same blocks of dates, with the rows already known (not timed)."""
    from ewp.features.history import dates_per_block, feature_columns

    officers = data.officers
    step_dates = dates_per_block(len(officers))
    as_of = pd.to_datetime(pd.Series(_dates(dates))).to_numpy()
    joined, left = officers["joined_on"].to_numpy(), officers["left_on"].to_numpy()
    blocks = []  # per block: officer codes and as-of date of each row
    for start in range(0, len(as_of), step_dates):
        block = as_of[start : start + step_dates]
        serving = (joined[None, :] < block[:, None]) & ~(left[None, :] < block[:, None])
        date_index, codes = np.nonzero(serving)
        blocks.append((codes, block[date_index].astype("datetime64[s]")))
    names = feature_columns(config.features)
    started, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for codes, days in blocks:
        values = np.empty((len(names), len(codes)), dtype=np.float32)
        for column in values:
            column.fill(1.0)
        matrix = pd.concat(
            [
                pd.DataFrame(
                    {
                        "officer_id": officers["officer_id"].array.take(codes),
                        "unit": officers["unit"].array.take(codes),
                        "as_of": days,
                    }
                ),
                pd.DataFrame(values.T, columns=names, copy=False),
            ],
            axis=1,
        )
        rows += len(matrix)
        del matrix, values
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }


@step
def check(
    data: ForceData, config: Config, dates: list[str], with_sql: bool, **_: Any
) -> dict[str, Any]:
    """Do ewp, the naive reference and DuckDB give the same matrix on these dates?"""
    from ewp.benchmarks.naive import naive_features
    from ewp.benchmarks.sql import sql_features
    from ewp.features.history import build_features

    at = _dates(dates)
    ewp = build_features(data, at, config=config.features)
    result: dict[str, Any] = {
        "rows": len(ewp),
        "naive_equal": _same(naive_features(data, at, config=config.features), ewp),
    }
    if with_sql:
        with tempfile.TemporaryDirectory() as tmp:
            other = sql_features(data, at, config=config.features, temp=Path(tmp))
            result["sql_equal"] = _same(other, ewp)
    return result


def _same(other: pd.DataFrame, ewp: pd.DataFrame) -> bool:
    """Is ``other`` identical to ewp's matrix (values, dtypes and row order)?"""
    try:
        pd.testing.assert_frame_equal(other, ewp)
    except AssertionError as error:
        print(f"mismatch: {error}", file=sys.stderr)
        return False
    return True


def stop_temporary_servers() -> None:
    """Stop the temporary Prefect server a flow started (as ``ewp`` does when it exits) and
    wait for it, so that its CPU time is counted among the step's children's. Prefect's log
    and event workers send what they hold first, as they do at exit: sent after the server
    stops, they retried for a minute before the step's process could end."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer

    APILogWorker.drain_all()
    EventsWorker.drain_all()
    for server in list(SubprocessASGIServer._instances.values()):
        server.stop()


@step
def train(config: Config, home: str, **_: Any) -> dict[str, Any]:
    """The full training run (``ewp train``): features, every candidate x test date,
    selection, the fairness audit, the final refit and its registration in MLflow, Prefect's
    temporary server included (its CPU time is the step's children's)."""
    from ewp.core.settings import configure_environment

    configure_environment(Path(home))
    from ewp.flows.train import run_train

    result = run_train(config, Path(home))
    stop_temporary_servers()
    return {
        "champion": result.champion,
        "registered_version": result.version,
        "test_dates": int(result.metrics["test_as_of"].nunique()),
        "candidates": int(result.metrics["candidate"].nunique()),
    }


@step
def score(data: ForceData, config: Config, export: str, home: str, **_: Any) -> dict[str, Any]:
    """A weekly scoring run (``ewp.benchmarks.weekly_run``): read and validate the export, score
    every serving officer, explain, render and write the list; the model is fitted first,
    untimed."""
    from ewp.benchmarks.weekly_run import benchmark_model, weekly_timings
    from ewp.flows.common import export_date

    extracted_on = export_date(data, None)
    model = benchmark_model(data, config, year=extracted_on.year - 2, observed_until=extracted_on)
    started, cpu = time.perf_counter(), time.process_time()
    timings, flagged = weekly_timings(
        export=Path(export), config=config, model=model, extracted_on=extracted_on, home=Path(home)
    )
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "flagged": flagged,
        "steps": timings,
    }


def main() -> None:
    """Run the step named in the JSON argument and print its measurements as JSON."""
    args = json.loads(sys.argv[1])
    config = Config.model_validate(args.pop("config"))
    data = load_force(Path(args["typed"])) if "typed" in args else None
    baseline = rss_mb()
    name = args.pop("step")
    started, cpu, children = time.perf_counter(), time.process_time(), children_cpu_seconds()
    result = STEPS[name](data=data, config=config, **args)
    measured = {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "children_cpu_seconds": children_cpu_seconds() - children,
        "peak_rss_mb": rss_mb(),
        "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "baseline_rss_mb": baseline,
    }
    print(json.dumps({**measured, **result}, default=str))


if __name__ == "__main__":
    main()
