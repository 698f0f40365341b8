"""The last outcome of each scheduled run, kept where the review workspace can show it.

``ewp serve`` runs the weekly scoring and the monthly retraining unattended. A run that fails
must not go unnoticed until someone opens Prefect's UI: the scheduled flows
(``ewp.flows.schedule``) record each outcome in ``<home>/runs/<config>/scheduled-runs.json``, and
the workspace's list page (``ewp web``) shows a failure of the latest run.

The file maps a scheduled job ("weekly scoring", "monthly retraining") to its latest outcome:
``{"outcome": "failed" | "succeeded", "at": "<UTC ISO time>", "error": "<one line>"}``. It is
written atomically; the error is the first line of the exception's message (flows scrub
officer identifiers from it before it gets here), cut to ``MAX_ERROR_CHARS``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from ewp.core.atomic import write_text

STATUS_FILE = "scheduled-runs.json"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class RunOutcome:
    """One scheduled job's latest outcome."""

    job: str
    outcome: str  # "failed" or "succeeded"
    at: dt.datetime
    error: str = ""


def _read(runs_dir: Path) -> dict[str, dict[str, str]]:
    path = runs_dir / STATUS_FILE
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def record_outcome(
    runs_dir: Path, *, job: str, at: dt.datetime, error: BaseException | None = None
) -> RunOutcome:
    """Record that ``job`` succeeded (``error`` None) or failed with ``error`` at ``at``."""
    message = ""
    if error is not None:
        lines = str(error).strip().splitlines() or [""]
        message = f"{type(error).__name__}: {lines[0]}".rstrip(": ")[:MAX_ERROR_CHARS]
    outcome = RunOutcome(
        job=job, outcome="succeeded" if error is None else "failed", at=at, error=message
    )
    status = _read(runs_dir)
    status[job] = {"outcome": outcome.outcome, "at": at.isoformat(), "error": message}
    runs_dir.mkdir(parents=True, exist_ok=True)
    write_text(runs_dir / STATUS_FILE, json.dumps(status, indent=2, sort_keys=True) + "\n")
    return outcome


def failures(runs_dir: Path) -> list[RunOutcome]:
    """The jobs whose latest run failed, by job name; an unreadable file counts as none."""
    found = []
    for job, entry in sorted(_read(runs_dir).items()):
        if not isinstance(entry, dict) or entry.get("outcome") != "failed":
            continue
        try:
            at = dt.datetime.fromisoformat(str(entry.get("at")))
        except ValueError:
            continue
        found.append(RunOutcome(job=job, outcome="failed", at=at, error=str(entry.get("error"))))
    return found
