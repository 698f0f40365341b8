"""The mapped adapter's optional streams with the Chicago mapping: unit history and
use-of-force reports (TRR), on the quirks fixture (``tests/cpdp_quirks.py``) worked by hand."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ewp.data.adapters import IngestResult, MappingError, ingest, load_mapping
from tests.cpdp_quirks import STREAM_FILES, STREAM_TEXTS
from tests.test_adapter_cpdp import MAPPING, counts, gzip_fixture, validated_quarantine, written


@pytest.fixture(scope="module")
def with_streams(tmp_path_factory: pytest.TempPathFactory) -> IngestResult:
    folder = gzip_fixture(tmp_path_factory.mktemp("cpdp") / "src")
    for name in STREAM_FILES:
        text = STREAM_TEXTS[name].encode()
        (folder / f"{name}.csv.gz").write_bytes(gzip.compress(text, mtime=0))
    return ingest(source_dir=folder, out_dir=folder.parent / "out", mapping=MAPPING)


def test_streams_give_the_expected_contract_rows(with_streams: IngestResult) -> None:
    assert written(with_streams, "postings") == (
        "officer_id,unit,start_on,end_on\n"
        "200001,7,2000-01-03,2010-01-11\n"
        "200001,44,2010-01-12,2018-06-01\n"
        "200002,44,1995-06-01,2010-12-31\n"
    )
    # One report per officer and event: 200001's second report in event 990051 is a repeat.
    assert written(with_streams, "activity") == (
        "event_id,officer_id,known_on,kind,severity,injury,weapon\n"
        "990051-200001,200001,2012-02-09,use_of_force,6,1,yes\n"
        "990054-200003,200003,2013-05-14,use_of_force,,0,no\n"
    )
    assert validated_quarantine(with_streams.paths["officers"].parent).empty


def test_stream_rows_are_quarantined_with_file_line_and_reason(with_streams: IngestResult) -> None:
    report = with_streams.quarantine
    streams = report[report["table"].isin(["postings", "activity"])]
    assert list(zip(streams["line"], streams["reason"], strict=True)) == [
        (
            4,
            "unit_history.csv.gz line 4, field UID: officer 200004 was quarantined "
            "(officers.csv.gz line 5)",
        ),
        (
            6,
            "unit_history.csv.gz line 6, field unit_end_date: 2010-12-31 is before "
            "unit_start_date 2011-01-05",
        ),
        (
            3,
            "trr.csv.gz line 3, field UID: UID, event_id 200001/990051 repeats line 2 (the first "
            "is kept)",
        ),
        (4, "trr.csv.gz line 4, field UID: is blank, but officer_id is required"),
        (
            5,
            "trr.csv.gz line 5, field known_date: 2011-02-15 is after the officer's "
            "resignation_date 2010-12-31",
        ),
    ]
    step = counts(with_streams)
    assert step[("read", "unit_history.csv.gz rows")] == 5
    assert step[("read", "trr.csv.gz rows")] == 5
    assert step[("write", "postings.csv rows")] == 3
    assert step[("write", "activity.csv rows")] == 2
    assert step[("activity", "UID, event_id repeated")] == 1
    assert step[("validate", "activity.csv rows quarantined by validate_export")] == 0


def test_without_the_stream_files_the_export_has_no_streams(tmp_path: Path) -> None:
    folder = gzip_fixture(tmp_path / "src")
    result = ingest(source_dir=folder, out_dir=tmp_path / "out", mapping=MAPPING)
    assert "postings" not in result.paths and "activity" not in result.paths
    assert not (tmp_path / "out" / "activity.csv").exists()
    assert not [item for step, item in counts(result) if "trr" in item or step == "activity"]


def test_only_a_stream_file_may_be_optional(tmp_path: Path) -> None:
    text = MAPPING.read_text(encoding="utf-8").replace(
        "officer_filed: {path: officer_filed.csv.gz, key: [cr_id]}",
        "officer_filed: {path: officer_filed.csv.gz, key: [cr_id], optional: true}",
    )
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match="'officer_filed' is optional; only a stream's file"):
        load_mapping(path)
