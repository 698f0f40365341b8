"""Tasks shared by the flows: prepare the export, validate it, and date it.

Each task wraps pure functions from ``ewp``. Retries sit on the tasks that do I/O (files, the
review database, the MLflow store), with ``IO_TASK``: up to two retries, taken only when the
failure is transient (``ewp.stores.retry.is_transient``); bad input and logic errors fail at once.
Pure computations (features, fits, evaluation) are never retried.

Every flow and task is declared with ``ewp_flow`` / ``ewp_task``: Prefect's decorators over
``ewp.stores.pseudonym.scrubbed_errors``, so the exception text Prefect stores with a failed run
names no officer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import Flow, Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.exceptions import MissingContextError
from prefect.futures import PrefectFuture, as_completed
from prefect.states import State

from ewp.core.atomic import write_csv
from ewp.core.config import Config
from ewp.core.contract import ForceData
from ewp.core.errors import ContractError
from ewp.core.progress import step
from ewp.core.provenance import fingerprint_files, fingerprint_json
from ewp.core.settings import store_folder
from ewp.core.timechop import Split, SplitError, make_splits
from ewp.data.adapters import ingest, resolve_mapping
from ewp.data.io import read_raw_export, write_ground_truth, write_quarantine
from ewp.data.synthetic import generate_configured_force
from ewp.data.synthetic_streams import generate_streams, write_force
from ewp.data.validation import ExportDate, ValidationResult, infer_last_day, validate_export
from ewp.models.fairness import check_reference_groups
from ewp.stores.pseudonym import (
    Pseudonymiser,
    default_key_file,
    load_key,
    scrub_logs,
    scrubbed_errors,
)
from ewp.stores.retry import is_transient
from ewp.stores.review import default_url


def retry_if_transient(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect retry condition: retry only a transient I/O failure (``ewp.stores.retry``)."""
    return isinstance(state.data, BaseException) and is_transient(state.data)


def ewp_task(**options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Prefect's ``task(**options)`` over ``scrubbed_errors``."""
    return lambda function: task(**options)(scrubbed_errors(function))


def ewp_flow(**options: Any) -> Callable[[Callable[..., Any]], Flow]:
    """Prefect's ``flow(**options)`` over ``scrubbed_errors``."""
    return lambda function: flow(**options)(scrubbed_errors(function))


# Options of every task that does I/O (see the module docstring).
IO_TASK: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": 1,
    "retry_condition_fn": retry_if_transient,
    "cache_policy": NO_CACHE,
}


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow or task run, else the ``ewp`` logger (so a task's
    ``.fn`` can be called as a plain function, e.g. from a benchmark)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("ewp")


def results_in_order(futures: list[PrefectFuture], *, description: str) -> list[Any]:
    """The futures' results in the order they were submitted, reporting the wait as a step
    that counts each future as it finishes (``ewp.core.progress``)."""
    with step(description, total=len(futures)) as waiting:
        for _ in as_completed(futures):
            waiting.advance()
        return [future.result() for future in futures]


def synthetic_folder(config: Config, home: Path) -> Path:
    """Where the synthetic force for these parameters lives: one folder per parameter set."""
    # Without streams the folder keeps the name it had before streams existed.
    exclude = set() if config.synthetic.streams else {"streams"}
    params = {**config.synthetic.model_dump(exclude=exclude), "seed": config.seed}
    return home / "synthetic" / fingerprint_json(params)[:12]


def export_fingerprint(export_dir: Path) -> str:
    """The data snapshot's identity: a hash of the export's table files."""
    return fingerprint_files(
        p for p in export_dir.iterdir() if p.is_file() and not p.name.startswith(".")
    )


@ewp_task(**IO_TASK)
def prepare_export(config: Config, home: Path) -> Path:
    """The export folder: ``data.dir``, or the synthetic force generated once per parameters."""
    if config.data.dir is not None:
        return config.data.dir
    if config.data.ingest is not None:
        return ingest_export(config, home)
    folder = synthetic_folder(config, home)
    export_dir = folder / "export"
    if (export_dir / "outcomes.csv").exists():
        run_logger().info("Reusing the synthetic force in %s", export_dir)
        return export_dir
    run_logger().info("Generating the synthetic force (%s officers)", config.synthetic.officers)
    with step(f"Generating the synthetic force ({config.synthetic.officers:,} officers, once)"):
        force = generate_configured_force(config.synthetic, seed=config.seed)
        staging = folder / "export.partial"
        streams = generate_streams(force, seed=config.seed) if config.synthetic.streams else None
        write_force(force, staging, streams=streams)
        write_ground_truth(force.ground_truth, staging)
    staging.replace(export_dir)
    return export_dir


def ingest_export(config: Config, home: Path) -> Path:
    """Convert the force's own files with the configured mapping, once per input version.

    The output folder is keyed by a fingerprint of the mapping and the source files, so a
    changed export or mapping is ingested afresh and an unchanged one is reused.
    """
    spec = config.data.ingest
    mapping = resolve_mapping(spec.source)
    source_files = sorted(p for p in spec.from_dir.iterdir() if p.is_file())
    key = fingerprint_files([mapping, *source_files])[:12]
    export_dir = home / "ingested" / f"{mapping.stem}-{key}"
    if export_dir.exists():
        run_logger().info("Reusing the ingested export in %s", export_dir)
        return export_dir
    run_logger().info("Ingesting %s with %s", spec.from_dir, mapping)
    staging = export_dir.with_name(export_dir.name + ".partial")
    with step(f"Converting {spec.from_dir} with {mapping.name} (once per export)"):
        ingest(source_dir=spec.from_dir, out_dir=staging, mapping=mapping)
    staging.replace(export_dir)
    return export_dir


def read_and_validate(export_dir: Path, config: Config) -> ValidationResult:
    """Read the export and validate it against the contract (read = accepted + quarantined,
    checked); whether what was accepted is usable is ``check_usable``'s question.

    The export date is the config's ``data.extracted_on``, else the export's own
    ``export.json``, else inferred from the data (``ewp.data.validation.infer_last_day``); records
    dated on or after it are quarantined.
    """
    return validate_export(
        read_raw_export(export_dir),
        category_map=config.category_map(),
        extracted_on=config.data.extracted_on,
        today=dt.date.today(),
        activity_kinds=config.activity_kinds(),
    )


# What a run's contract error adds, pointing to the command that shows why.
SEE_VALIDATE = ": `ewp validate` lists why each record was quarantined"


def check_usable(result: ValidationResult, config: Config, *, hint: str = SEE_VALIDATE) -> None:
    """Raise ``ContractError`` (its message followed by ``hint``) when no officer or no notice
    passed the checks (``ValidationResult.unusable``), and ``ConfigError`` naming the field and
    the groups present when a configured fairness reference group is not among the export's
    officers: a run fails here, not after training every candidate."""
    problem = result.unusable()
    if problem is not None:
        raise ContractError(f"{problem}{hint}")
    assert result.export_date is not None  # an accepted notice has a date
    check_reference_groups(
        result.data.officers, config=config.fairness, until=result.export_date.extracted_on
    )


@ewp_task(**IO_TASK)
def validate(export_dir: Path, config: Config) -> ValidationResult:
    """The validated export of every flow (``read_and_validate``), logged with its totals and
    export date (and its source), once ``check_usable``."""
    with step("Reading and validating the export") as validating:
        result = read_and_validate(export_dir, config)
        totals = result.summary[["read", "accepted", "quarantined"]].sum()
        validating.detail(
            f"{totals['read']:,} rows read = {totals['accepted']:,} accepted + "
            f"{totals['quarantined']:,} quarantined"
        )
    run_logger().info(
        "Validated: %d rows read = %d accepted + %d quarantined",
        totals["read"],
        totals["accepted"],
        totals["quarantined"],
    )
    if result.unusable() is None:
        assert result.export_date is not None  # an accepted notice has a date
        run_logger().info("Export date: %s", result.export_date.describe())
    check_usable(result, config)
    return result


def export_date_manifest(export_date: ExportDate) -> dict[str, str]:
    """The export date and where it came from, for a run's manifest."""
    return {
        "extracted_on": export_date.extracted_on.isoformat(),
        "extracted_on_source": f"{export_date.source}: {export_date.detail}",
    }


@ewp_task(**IO_TASK)
def write_validation_report(result: ValidationResult, run_dir: Path) -> None:
    """Write the validation summary and the quarantine report into the run folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_quarantine(result.quarantine, run_dir / "quarantine.csv")
    write_csv(result.summary, run_dir / "validation_summary.csv")


def protect_identifiers(data: ForceData, home: Path) -> Pseudonymiser:
    """The run's pseudonymiser, knowing every officer of the export; from here on the run's
    log lines carry pseudonyms instead of those officers' identifiers. The key is created
    under the data home on first use unless ``$EWP_PSEUDONYM_KEY(_FILE)`` provides one."""
    created = not default_key_file(home).exists()
    pseudonymiser = Pseudonymiser(load_key(home, create=True), data.officers["officer_id"])
    scrub_logs(pseudonymiser)
    if created and default_key_file(home).exists():
        run_logger().info("Created the pseudonymisation key %s", default_key_file(home))
    return pseudonymiser


def export_date(data: ForceData, configured: dt.date | None) -> dt.date:
    """The date validated ``data`` was taken: ``configured``, or the day after its last day as
    ``ewp.data.validation.infer_last_day`` infers it (one mistyped date cannot move it). The flows
    take it from ``validate``'s result instead, which also knows an export.json's date."""
    if configured is not None:
        return configured
    known = pd.concat([data.notices["received_on"], data.outcomes["decided_on"]])
    last_day = infer_last_day(known)
    if last_day is None:
        raise ContractError("no notice or outcome has a date, so the export cannot be dated")
    return last_day + dt.timedelta(days=1)


def review_url(config: Config, home: Path) -> str:
    """The review store's URL: the config's, or the SQLite file in its store folder
    (``ewp.core.settings.store_folder``)."""
    return config.review.database_url or default_url(store_folder(home, config.store))


def final_split(config: Config, extracted_on: dt.date) -> Split:
    """The window the published model trains on: the latest fully observed history."""
    try:
        (split,) = make_splits(
            test_dates=[extracted_on],
            label_horizon_days=config.label.horizon_days,
            training_history_days=config.evaluation.training_history_days,
            cadence=config.training.cadence,
            data_start=config.training.as_of_start,
        )
    except SplitError as exc:
        raise SplitError(f"cannot train the published model: {exc}") from exc
    return split
