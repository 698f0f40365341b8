"""The optional streams of the contract (postings, activity): read, validated, quarantined."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import Config
from ewp.core.errors import ContractError
from ewp.data.io import RawExport, read_raw_export, write_export
from ewp.data.validation import ValidationResult, validate_export
from tests.test_validation import FILES, clean_tables

CATEGORY_MAP = Config(taxonomy={"Rudeness": "discreditable_conduct"}).category_map()


def postings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "officer_id": ["OFF1", "OFF1", "OFF2", "OFF9", "OFF3", "OFF3"],
            "unit": ["Borough 01", "Borough 02", "Borough 02", "Borough 01", "", "Borough 01"],
            "start_on": ["2010-01-04", "2018-05-01", "2012-06-01", "2015-01-01", "2016-01-01", ""],
            "end_on": ["2018-04-30", "", "2019-01-01", "", "", ""],
        }
    )


def activity() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["E1", "E2", "E2", "E3", "E4", "E5", "E6", "E7"],
            "officer_id": ["OFF1", "OFF1", "OFF2", "OFF2", "OFF1", "OFF3", "OFF2", "OFF1"],
            "known_on": [
                "2019-01-10",
                "2019-02-01",
                "2019-03-01",
                "2021-06-01",
                "2019-04-01",
                "2019-05-01",
                "2019-06-01",
                "2025-02-01",
            ],
            "kind": [
                "use_of_force",
                "Use of force",
                "use_of_force",
                "use_of_force",
                "sickness",
                "use_of_force",
                "use_of_force",
                "use_of_force",
            ],
            "severity": ["3", "", "1", "2", "", "seven", "4.0", ""],
            "injury": ["yes", "no", "", "", "", "", "maybe", ""],
            "weapon": ["0", "1", "", "", "", "", "", ""],
        }
    )


def validate(
    tables: dict[str, pd.DataFrame], kinds: tuple[str, ...] = ("use_of_force",)
) -> ValidationResult:
    files = {**FILES, "postings": "postings.csv", "activity": "activity.csv"}
    return validate_export(
        RawExport(tables=tables, files={name: files[name] for name in tables}),
        category_map=CATEGORY_MAP,
        extracted_on=date(2025, 1, 1),
        activity_kinds=kinds,
    )


def test_an_export_without_streams_has_none() -> None:
    result = validate(clean_tables())
    assert result.data.postings is None and result.data.activity is None
    assert result.summary["table"].tolist() == ["officers", "notices", "outcomes"]


def test_postings_are_typed_and_bad_ones_quarantined_with_line_and_field() -> None:
    result = validate({**clean_tables(), "postings": postings()})

    summary = result.summary.set_index("table").loc["postings"]
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (6, 3, 3)
    kept = result.data.postings
    assert kept["officer_id"].tolist() == ["OFF1", "OFF1", "OFF2"]
    assert str(kept["start_on"].dtype) == "datetime64[us]"
    assert kept["end_on"].isna().tolist() == [False, True, False]
    rows = result.quarantine[result.quarantine["table"] == "postings"]
    assert rows["line"].tolist() == [5, 6, 7]
    assert rows["reason"].tolist() == [
        'postings.csv line 5, field officer_id: officer "OFF9" is not in officers.csv',
        "postings.csv line 6, field unit: is blank, but a value is required",
        "postings.csv line 7, field start_on: is blank, but a value is required",
    ]


def test_a_posting_ending_before_it_starts_or_starting_after_the_export_is_quarantined() -> None:
    table = pd.DataFrame(
        {
            "officer_id": ["OFF1", "OFF2"],
            "unit": ["Borough 01", "Borough 02"],
            "start_on": ["2019-01-01", "2025-03-01"],
            "end_on": ["2018-12-31", ""],
        }
    )
    result = validate({**clean_tables(), "postings": table})
    assert result.quarantine["reason"].tolist() == [
        'postings.csv line 2, field end_on: "2018-12-31" is before start_on "2019-01-01"',
        'postings.csv line 3, field start_on: "2025-03-01" is on or after the export date '
        "2025-01-01 (in the future of the export)",
    ]


def test_activity_is_typed_and_every_kind_of_bad_row_quarantined() -> None:
    result = validate({**clean_tables(), "activity": activity()})

    kept = result.data.activity
    assert kept["event_id"].tolist() == ["E1", "E2"]
    assert kept["kind"].tolist() == ["use_of_force", "use_of_force"]
    assert kept["severity"].tolist()[0] == 3 and pd.isna(kept["severity"].iloc[1])
    assert str(kept["severity"].dtype) == "Int64"
    assert kept["injury"].tolist() == [True, False]
    assert kept["weapon"].tolist() == [False, True]
    rows = result.quarantine[result.quarantine["table"] == "activity"]
    assert dict(zip(rows["record_id"], rows["reason"], strict=True)) == {
        "E2": 'activity.csv line 4, field event_id: "E2" is a duplicate of line 3 '
        "(the first occurrence is kept)",
        "E3": 'activity.csv line 5, field known_on: "2021-06-01" is after the officer left '
        "(2021-03-31, officers.csv line 3)",
        "E4": 'activity.csv line 6, field kind: "sickness" is not a declared activity kind '
        "(expected one of: use_of_force; a force declares its own kinds in "
        "features.activity.kinds)",
        "E5": 'activity.csv line 7, field severity: "seven" is not a severity level (expected '
        "a whole number from 0 to 99, or blank)",
        "E6": 'activity.csv line 8, field injury: "maybe" is not a yes/no value (expected yes, '
        "no, true, false, 1, 0, or blank)",
        "E7": 'activity.csv line 9, field known_on: "2025-02-01" is on or after the export '
        "date 2025-01-01 (in the future of the export)",
    }
    summary = result.summary.set_index("table").loc["activity"]
    assert (summary["read"], summary["accepted"], summary["quarantined"]) == (8, 2, 6)


def test_a_kind_declared_in_config_is_accepted() -> None:
    config = Config.model_validate({"features": {"activity": {"kinds": ["sickness"]}}})
    assert config.activity_kinds() == ("use_of_force", "sickness")
    result = validate({**clean_tables(), "activity": activity()}, kinds=config.activity_kinds())
    assert "E4" in result.data.activity["event_id"].tolist()


def test_activity_missing_a_required_column_names_the_file() -> None:
    with pytest.raises(ContractError, match=r'activity\.csv: required column "kind" is missing'):
        validate({**clean_tables(), "activity": activity().drop(columns="kind")})


def test_streams_written_and_read_back_round_trip(tmp_path: Path) -> None:
    result = validate({**clean_tables(), "postings": postings(), "activity": activity()})
    data = result.data
    write_export(
        officers=data.officers,
        notices=data.notices,
        outcomes=data.outcomes,
        postings=data.postings,
        activity=data.activity,
        out_dir=tmp_path,
    )
    again = validate_export(
        read_raw_export(tmp_path), category_map=CATEGORY_MAP, extracted_on=date(2025, 1, 1)
    )
    assert again.quarantine.empty
    pd.testing.assert_frame_equal(again.data.postings, data.postings)
    pd.testing.assert_frame_equal(again.data.activity, data.activity)
    # Written again without streams: the stream files go, so the export has none.
    write_export(
        officers=data.officers, notices=data.notices, outcomes=data.outcomes, out_dir=tmp_path
    )
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "notices.csv",
        "officers.csv",
        "outcomes.csv",
    ]
    assert set(read_raw_export(tmp_path).tables) == {"officers", "notices", "outcomes"}
