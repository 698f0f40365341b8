"""The ``oversight`` flow: the monthly oversight report of the misconduct system itself.

Wiring only (figures: ``ewp.models.oversight``; rendering: ``ewp.reports.oversight``). The export is
prepared and validated as for the weekly list, the figures computed as of ``as_of`` (default:
the export date, so every record of the export counts), and the run folder
``<home>/runs/<config>/oversight-<as-of>/`` written in a staging folder and renamed into place
(``ewp.core.atomic.staged_dir``):

* ``oversight.html``: the report, self-contained, marked, officers named by pseudonym only;
* ``oversight_durations.csv``, ``oversight_trend.csv``, ``oversight_backlog.csv``,
  ``oversight_pileup_summary.csv``, ``oversight_findings.csv``,
  ``oversight_repeat_officers.csv``, ``oversight_disparity.csv``: its tables;
* ``oversight_pileups.csv``: the officers whose cases piled up, with their identifier and
  pseudonym, for the standards unit (the folder is in the data home);
* the run's ``quarantine.csv``, ``validation_summary.csv`` and ``manifest.json``.

The folder is OFFICIAL-SENSITIVE and owner-only (``ewp.core.marking``). ``ewp serve`` runs the flow
on the 1st of each month (``ewp.flows.schedule``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd

from ewp.core.atomic import staged_dir, write_csv, write_text
from ewp.core.config import Config
from ewp.core.marking import mark_folder
from ewp.core.progress import step
from ewp.core.provenance import fingerprint_json
from ewp.flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_date_manifest,
    export_fingerprint,
    prepare_export,
    protect_identifiers,
    run_logger,
    validate,
    write_validation_report,
)
from ewp.models.oversight import Oversight, oversight, pileup_list
from ewp.reports.oversight import headline, render_oversight_report
from ewp.stores.pseudonym import Pseudonymiser

OVERSIGHT_HTML = "oversight.html"
PILEUPS_CSV = "oversight_pileups.csv"


@dataclasses.dataclass(frozen=True)
class OversightRun:
    """What an oversight run wrote: its folder, the report and the headline sentences."""

    run_dir: Path
    report: Path
    headline: tuple[str, ...]


def oversight_tables(result: Oversight) -> dict[str, pd.DataFrame]:
    """The report's tables by file name (aggregates only; the pile-up list is apart)."""
    return {
        "oversight_durations.csv": result.durations,
        "oversight_trend.csv": result.trend,
        "oversight_backlog.csv": result.backlog,
        "oversight_pileup_summary.csv": result.pileup_summary,
        "oversight_findings.csv": result.findings,
        "oversight_repeat_officers.csv": result.repeat_outcomes,
        "oversight_disparity.csv": result.disparity,
    }


@ewp_task(**IO_TASK)
def write_oversight(
    *,
    result: Oversight,
    run_dir: Path,
    config: Config,
    pseudonymiser: Pseudonymiser,
    provenance: dict[str, str],
) -> Path:
    """Write the report, its tables and the pile-up list into ``run_dir`` and mark it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tables = oversight_tables(result)
    for name, table in tables.items():
        write_csv(table, run_dir / name, float_format="%.6f")
    listed = pileup_list(result.pileups)
    # In the data home, for the standards unit: the identifier and the pseudonym the report uses.
    write_csv(
        listed.assign(pseudonym=pseudonymiser.frame(listed)["officer_id"]),
        run_dir / PILEUPS_CSV,
    )
    html = render_oversight_report(
        result=result,
        pileup_list=pseudonymiser.frame(listed),
        config=config.fairness,
        provenance=provenance,
        files=[*tables, PILEUPS_CSV],
    )
    report = write_text(run_dir / OVERSIGHT_HTML, html)
    mark_folder(run_dir)
    return report


@ewp_flow(name="ewp-oversight")
def oversight_flow(config: Config, home: Path, as_of: dt.date | None = None) -> OversightRun:
    """Compute the oversight figures as of ``as_of`` (default: the export date) and write the
    oversight run folder (see the module docstring)."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    validated = validate(export_dir, config)
    data = validated.data
    pseudonymiser = protect_identifiers(data, home)  # log lines carry pseudonyms from here on
    extracted_on = validated.export_date.extracted_on
    day = as_of or extracted_on
    with step(f"Computing the oversight figures as of {day}"):
        result = oversight(
            data,
            as_of=day,
            extracted_on=extracted_on,
            config=config.fairness,
            seed=config.seed,
        )
    provenance = {
        "config": config.name,
        "config_fingerprint": fingerprint_json(config.model_dump(mode="json")),
        "data_fingerprint": data_fingerprint,
        "as_of": day.isoformat(),
        **export_date_manifest(validated.export_date),
    }
    run_dir = home / "runs" / config.name / f"oversight-{day.isoformat()}"
    with step("Writing the oversight report"), staged_dir(run_dir) as staging:
        write_validation_report(validated, staging)
        write_oversight(
            result=result,
            run_dir=staging,
            config=config,
            pseudonymiser=pseudonymiser,
            provenance=provenance,
        )
        write_text(
            staging / "manifest.json", json.dumps(provenance, indent=2, sort_keys=True) + "\n"
        )
        mark_folder(staging)
    sentences = tuple(headline(result))
    run_logger().info("Oversight report written to %s", run_dir / OVERSIGHT_HTML)
    return OversightRun(run_dir=run_dir, report=run_dir / OVERSIGHT_HTML, headline=sentences)
