"""What a weekly run wrote, read back for the workspace: run folder, timelines, audit, card.

A week's run folder is ``<runs_dir>/weekly-<as-of>`` (``ewp score`` and ``ewp demo``) or
``<runs_dir>/<as-of>`` (the demo of earlier versions). The model card of a week is
``model_card.md`` in its run folder if there is one, else the newest
``train-*/model_card.md`` of the same config written for the week's model (``ewp train``
writes one per registered champion; its first line names the model ID).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from ewp.core.atomic import read_csv
from ewp.features.explanations import TIMELINE_COLUMNS

TIMELINES_CSV = "timelines.csv"  # written by ewp.flows.score.publish_list
AUDIT_HTML = "audit.html"  # written by ewp.flows.audit.write_audit
MODEL_CARD = "model_card.md"
MANIFEST = "manifest.json"


def run_folder(runs_dir: Path, as_of: dt.date) -> Path | None:
    """The run folder of the week ``as_of``, or None if neither layout exists."""
    for name in (f"weekly-{as_of.isoformat()}", as_of.isoformat()):
        if (runs_dir / name).is_dir():
            return runs_dir / name
    return None


def read_timelines(folder: Path | None) -> pd.DataFrame | None:
    """The run's ``timelines.csv`` typed as ``ewp.features.explanations.officer_timelines`` gives
    it, or None when the run has none (written before the workspace existed)."""
    if folder is None or not (folder / TIMELINES_CSV).is_file():
        return None
    frame = read_csv(
        folder / TIMELINES_CSV,
        dtype={
            "officer_id": str,
            "notice_id": str,
            "category": str,
            "source": str,
            "status": str,
            "finding": str,
            "sanction": str,
            "days_open": "Int64",
        },
        parse_dates=["received_on"],
    )
    missing = [c for c in TIMELINE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{folder / TIMELINES_CSV}: no column(s) {', '.join(missing)}")
    return frame


def audit_html(folder: Path | None) -> str | None:
    """The week's fairness audit page, or None."""
    if folder is None or not (folder / AUDIT_HTML).is_file():
        return None
    return (folder / AUDIT_HTML).read_text(encoding="utf-8")


def model_id_of(model_version: str) -> str:
    """The model ID in a flag's ``model_version`` ("scorecard-… (v3)" from ``ewp score``,
    the bare ID from the demo of earlier versions)."""
    return model_version.split(" (v", 1)[0].strip()


def model_card(runs_dir: Path, folder: Path | None, model_version: str) -> tuple[str, Path] | None:
    """(markdown text, path) of the week's model card, or None (see the module docstring)."""
    if folder is not None and (folder / MODEL_CARD).is_file():
        path = folder / MODEL_CARD
        return path.read_text(encoding="utf-8"), path
    heading = f"# Model card: {model_id_of(model_version)}"
    for path in sorted(runs_dir.glob(f"train-*/{MODEL_CARD}"), reverse=True):
        text = path.read_text(encoding="utf-8")
        if text.splitlines()[:1] == [heading]:
            return text, path
    return None


def manifest(folder: Path | None) -> dict[str, object] | None:
    """The run's ``manifest.json`` (the score flow writes one), or None."""
    if folder is None or not (folder / MANIFEST).is_file():
        return None
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
