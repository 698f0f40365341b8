"""What a weekly run folder says about its own input: the quarantine, the validation summary and
a manifest (issue 15, point 10).

The small synthetic force of the session's trained home is copied as a force's own export with
two faults: an officer whose birth year is not a year (an audit-only field: the record, and so
the officer's notices, are rejected) and a notice with an impossible date.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import DataConfig, ReviewConfig
from tests.conftest import SMALL_TRAIN


def _rewrite(path: Path, row: int, column: str, value: str) -> str:
    """Set one cell of a CSV file (``row`` counts data rows from 0); returns the row's ID."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    rows[row + 1][header.index(column)] = value
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return rows[row + 1][0]


@pytest.fixture(scope="module")
def faulty(small_trained, tmp_path_factory: pytest.TempPathFactory):
    from ewp.flows.score import score_flow

    root = tmp_path_factory.mktemp("faulty")
    (source,) = (small_trained.home / "synthetic").glob("*/export")
    export = root / "export"
    shutil.copytree(source, export)
    officers = pd.read_csv(export / "officers.csv", dtype=str, keep_default_na=False)
    notices = pd.read_csv(export / "notices.csv", dtype=str)
    outcomes = pd.read_csv(export / "outcomes.csv", dtype=str)
    with_notices = officers["officer_id"].isin(set(notices["officer_id"]))
    serving = officers.index[(officers["left_on"] == "") & with_notices][0]
    officer = _rewrite(export / "officers.csv", int(serving), "birth_year", "19x0")
    other = notices.index[notices["officer_id"] != officer][0]
    notice = _rewrite(export / "notices.csv", int(other), "received_on", "2020-13-45")
    config = SMALL_TRAIN.model_copy(
        update={
            "name": "faulty-export",
            "data": DataConfig(dir=export),
            "review": ReviewConfig(database_url=f"sqlite:///{root / 'review.db'}"),
        }
    )
    # Rejected: the officer, their notices and the bad notice, and those notices' outcomes.
    lost = set(notices.loc[notices["officer_id"] == officer, "notice_id"]) | {notice}
    expected = {
        "officers": 1,
        "notices": len(lost),
        "outcomes": int(outcomes["notice_id"].isin(lost).sum()),
    }
    return score_flow(config, small_trained.home), officer, notice, expected


def test_the_run_folder_keeps_its_quarantine_summary_and_manifest(faulty) -> None:
    published, officer, notice, expected = faulty
    folder = published.run_dir
    quarantine = pd.read_csv(folder / "quarantine.csv", dtype=str)
    assert officer in set(quarantine["record_id"]) and notice in set(quarantine["record_id"])
    assert quarantine["table"].value_counts().to_dict() == expected
    summary = pd.read_csv(folder / "validation_summary.csv").set_index("table")
    assert summary["quarantined"].to_dict() == expected
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["records"]["quarantined"] == sum(expected.values())
    assert manifest["as_of"] == "2021-12-27" and manifest["flagged"] == published.flagged
    assert manifest["model_version"].endswith("(v1)")


def test_the_report_says_how_many_records_were_rejected_and_who_is_missing(faulty) -> None:
    published, _, _, expected = faulty
    html = published.report.read_text()
    assert (
        f"{sum(expected.values())} records rejected (1 officer, {expected['notices']} notices, "
        f'{expected["outcomes"]} outcomes): see <a href="quarantine.csv">quarantine.csv</a>'
    ) in html
    assert (
        "1 officer record was rejected only because of a field used by the fairness audit "
        "alone (ethnicity, gender, birth year): those officers are missing from this list and "
        "from its fairness audit"
    ) in html


def test_an_old_export_is_published_with_a_warning_a_banner_and_a_manifest_field(
    faulty,
) -> None:
    published, _, _, _ = faulty
    # The export ends 2021-12-31, years before any day this test runs.
    (warning,) = published.warnings
    assert warning.startswith("The export was taken on 2022-01-01, ")
    assert "more than 35 days before it was published" in published.report.read_text()
    manifest = json.loads((published.run_dir / "manifest.json").read_text())
    assert manifest["stale_export"] is True and manifest["max_export_age_days"] == 35
