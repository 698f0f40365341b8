"""Contract validation: each rule on a few hand-built rows, with its message, line and field."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.config import Config
from ewp.core.errors import ContractError
from ewp.data.io import RawExport, read_export_manifest
from ewp.data.validation import (
    QUARANTINE_COLUMNS,
    SUMMARY_COLUMNS,
    ExportDate,
    ValidationResult,
    infer_last_day,
    validate_export,
)

CATEGORY_MAP = Config(taxonomy={"Rudeness": "discreditable_conduct"}).category_map()
FILES = {"officers": "officers.csv", "notices": "notices.csv", "outcomes": "outcomes.csv"}


def clean_tables() -> dict[str, pd.DataFrame]:
    """A small export that passes every check (all text, as ``read_raw_export`` gives it)."""
    officers = pd.DataFrame(
        {
            "officer_id": ["OFF1", "OFF2", "OFF3"],
            "joined_on": ["2010-01-04", "2012-06-01", "2015-09-14"],
            "rank": ["Constable", "Sergeant", "Constable"],
            "unit": ["Borough 01", "Borough 02", "Borough 01"],
            "left_on": ["", "2021-03-31", ""],
            "ethnicity": ["White", "Black", ""],
            "gender": ["Female", "Male", "Male"],
            "birth_year": ["1985", "1979", ""],
        }
    )
    notices = pd.DataFrame(
        {
            "notice_id": ["N1", "N2", "N3"],
            "case_id": ["C1", "C2", "C2"],
            "officer_id": ["OFF1", "OFF2", "OFF1"],
            "received_on": ["2019-01-10", "2020-03-01", "2020-03-02 09:30"],
            "category": ["Rudeness", "sexual_misconduct", "Violence / use of force"],
            "source": ["Public", "internal", "conduct-matter"],
            "incident_on": ["2019-01-01", "", ""],
            "severity": ["misconduct", "Gross misconduct", ""],
        }
    )
    outcomes = pd.DataFrame(
        {
            "notice_id": ["N1", "N2"],
            "decided_on": ["2019-06-01", "2020-03-01"],
            "finding": ["No case to answer", "proven"],
            "sanction": ["", "Final written warning"],
        }
    )
    return {"officers": officers, "notices": notices, "outcomes": outcomes}


def validate(tables: dict[str, pd.DataFrame], extracted_on: date | None = None) -> ValidationResult:
    return validate_export(
        RawExport(tables=tables, files=dict(FILES)),
        category_map=CATEGORY_MAP,
        extracted_on=extracted_on,
    )


def only_quarantined(result: ValidationResult) -> pd.Series:
    """The single quarantine row (asserting there is exactly one)."""
    assert len(result.quarantine) == 1, result.quarantine["reason"].tolist()
    return result.quarantine.iloc[0]


def counts(result: ValidationResult, table: str) -> tuple[int, int, int]:
    row = result.summary.set_index("table").loc[table]
    return int(row["read"]), int(row["accepted"]), int(row["quarantined"])


# --- a clean export --------------------------------------------------------------------------


def test_clean_export_is_accepted_whole_and_typed() -> None:
    result = validate(clean_tables())

    assert result.quarantine.empty
    assert list(result.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert list(result.summary.columns) == list(SUMMARY_COLUMNS)
    assert result.summary[["table", "read", "accepted", "quarantined"]].values.tolist() == [
        ["officers", 3, 3, 0],
        ["notices", 3, 3, 0],
        ["outcomes", 2, 2, 0],
    ]
    officers, notices, outcomes = (
        result.data.officers,
        result.data.notices,
        result.data.outcomes,
    )
    assert officers["officer_id"].tolist() == ["OFF1", "OFF2", "OFF3"]
    assert str(officers["joined_on"].dtype) == "datetime64[us]"
    assert officers["left_on"].isna().tolist() == [True, False, True]
    assert str(officers["birth_year"].dtype) == "Int64"
    assert officers["birth_year"].tolist()[:2] == [1985, 1979]
    assert pd.isna(officers["birth_year"].iloc[2])
    assert pd.isna(officers["ethnicity"].iloc[2])

    assert notices["category"].tolist() == [
        "discreditable_conduct",
        "sexual_misconduct",
        "violence_use_of_force",
    ]
    assert notices["category_raw"].tolist() == [
        "Rudeness",
        "sexual_misconduct",
        "Violence / use of force",
    ]
    assert notices["source"].tolist() == ["public", "internal", "conduct_matter"]
    assert notices["severity"].tolist()[:2] == ["misconduct", "gross_misconduct"]
    assert pd.isna(notices["severity"].iloc[2])
    assert notices["received_on"].iloc[2] == pd.Timestamp("2020-03-02")  # time part dropped
    assert outcomes["finding"].tolist() == ["no_case_to_answer", "proven"]
    assert pd.isna(outcomes["sanction"].iloc[0])
    assert outcomes["sanction"].iloc[1] == "final_written_warning"
    # ForceData's own join works on the result.
    assert len(result.data.notices_with_outcomes()) == 3


def test_validation_is_deterministic() -> None:
    tables = clean_tables()
    tables["notices"].loc[1, "source"] = "press"
    first, second = validate(tables), validate(clean_tables() | {"notices": tables["notices"]})
    pd.testing.assert_frame_equal(first.quarantine, second.quarantine)
    pd.testing.assert_frame_equal(first.data.notices, second.data.notices)


def test_spaces_around_names_and_values_are_ignored_and_extra_columns_listed() -> None:
    tables = clean_tables()
    officers = tables["officers"].rename(columns={"rank": " rank "})
    officers["officer_id"] = officers["officer_id"] + "  "
    officers["payroll_no"] = ["1", "2", "3"]
    tables["officers"] = officers
    result = validate(tables)
    assert result.quarantine.empty
    assert result.data.officers["officer_id"].tolist() == ["OFF1", "OFF2", "OFF3"]
    assert "payroll_no" not in result.data.officers.columns
    summary = result.summary.set_index("table")
    assert summary.loc["officers", "ignored_columns"] == "payroll_no"


def test_optional_columns_may_be_absent() -> None:
    tables = clean_tables()
    tables["officers"] = tables["officers"].drop(columns=["left_on", "ethnicity", "birth_year"])
    tables["outcomes"] = tables["outcomes"].drop(columns=["sanction"])
    result = validate(tables)
    assert result.quarantine.empty
    assert result.data.officers["left_on"].isna().all()
    assert str(result.data.officers["birth_year"].dtype) == "Int64"
    assert result.data.outcomes["sanction"].isna().all()


def test_all_blank_rows_are_skipped_but_keep_line_numbers() -> None:
    tables = clean_tables()
    officers = tables["officers"]
    blank = pd.DataFrame([[""] * officers.shape[1]], columns=officers.columns)
    tables["officers"] = pd.concat([officers.iloc[:1], blank, officers.iloc[1:]]).reset_index(
        drop=True
    )
    tables["officers"].loc[3, "rank"] = ""
    result = validate(tables)
    row = only_quarantined(result)
    assert (row["record_id"], row["line"]) == ("OFF3", 5)
    assert counts(result, "officers") == (3, 2, 1)
    assert result.summary.set_index("table").loc["officers", "blank_lines"] == 1


def test_a_row_with_only_an_extra_column_filled_is_not_blank() -> None:
    tables = clean_tables()
    tables["outcomes"]["comment"] = ["", ""]
    extra = pd.DataFrame([["", "", "", "", "see case file"]], columns=tables["outcomes"].columns)
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    row = only_quarantined(validate(tables))
    assert row["reason"].startswith("outcomes.csv line 4, field notice_id: is blank, but")


# --- file-level problems ---------------------------------------------------------------------


def test_missing_required_column_names_file_column_and_columns_found() -> None:
    tables = clean_tables()
    tables["notices"] = tables["notices"].drop(columns=["received_on"])
    with pytest.raises(ContractError) as info:
        validate(tables)
    message = str(info.value)
    assert message.startswith('notices.csv: required column "received_on" is missing')
    assert "columns found: notice_id, case_id, officer_id, category, source" in message


def test_several_missing_columns_are_all_named() -> None:
    tables = clean_tables()
    tables["officers"] = tables["officers"].drop(columns=["rank", "unit"])
    with pytest.raises(
        ContractError, match=re.escape('officers.csv: required columns "rank", "unit" are')
    ):
        validate(tables)


def test_missing_table_is_a_contract_error() -> None:
    tables = clean_tables()
    del tables["outcomes"]
    with pytest.raises(ContractError, match="no outcomes table in the export: expected outcomes"):
        validate(tables)


def test_a_column_twice_in_the_header_is_a_contract_error() -> None:
    tables = clean_tables()
    tables["officers"] = tables["officers"].rename(columns={"gender": "rank "})
    with pytest.raises(
        ContractError, match=re.escape('officers.csv: column "rank" appears more than once')
    ):
        validate(tables)


# --- per-cell checks -------------------------------------------------------------------------


def test_bad_date_names_file_line_and_field() -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "received_on"] = "2019-13-45"
    result = validate(tables)
    row = only_quarantined(result)
    assert row["reason"] == (
        'notices.csv line 4, field received_on: "2019-13-45" is not a date (expected YYYY-MM-DD)'
    )
    assert (row["table"], row["file"], row["line"]) == ("notices", "notices.csv", 4)
    assert (row["record_id"], row["field"], row["value"]) == ("N3", "received_on", "2019-13-45")
    assert counts(result, "notices") == (3, 2, 1)
    assert result.data.notices["notice_id"].tolist() == ["N1", "N2"]


def officers_with(column: str, values: list[str]) -> dict[str, pd.DataFrame]:
    """The clean export plus one officer (no notices) per value of ``column``, from line 5."""
    tables = clean_tables()
    extra = pd.DataFrame([tables["officers"].iloc[2]] * len(values)).reset_index(drop=True)
    extra["officer_id"] = [f"NEW{i}" for i in range(len(values))]
    extra[column] = values
    tables["officers"] = pd.concat([tables["officers"], extra], ignore_index=True)
    return tables


def test_dates_must_be_real_iso_dates() -> None:
    values = ["2019-02-30", "01/02/2019", "2019-1-5", "yesterday", "2019-01-10T25:00"]
    quarantine = validate(officers_with("joined_on", values)).quarantine
    assert quarantine["line"].tolist() == [5, 6, 7, 8, 9]
    assert set(quarantine["field"]) == {"joined_on"}
    assert quarantine["reason"].tolist() == [
        f'officers.csv line {line}, field joined_on: "{value}" is not a date (expected YYYY-MM-DD)'
        for line, value in zip(range(5, 10), values, strict=True)
    ]


def test_dates_may_carry_a_time() -> None:
    values = [
        "2019-01-10T08:15:00",
        "2019-01-10 08:15",
        "2019-01-10T08:15Z",
        "2019-01-10T23:59+01:00",
    ]
    result = validate(officers_with("joined_on", values))
    assert result.quarantine.empty
    assert (result.data.officers["joined_on"].iloc[3:] == pd.Timestamp("2019-01-10")).all()


def test_required_value_blank() -> None:
    tables = clean_tables()
    tables["officers"].loc[2, "unit"] = "  "
    row = only_quarantined(validate(tables))
    assert row["reason"] == "officers.csv line 4, field unit: is blank, but a value is required"


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "expected"),
    [
        ("notices", 2, "source", "press", "public, internal, conduct_matter"),
        ("notices", 2, "severity", "serious", "misconduct, gross_misconduct"),
        ("outcomes", 0, "finding", "upheld", "withdrawn, no_case_to_answer"),
        ("outcomes", 0, "sanction", "sacked", "none, reflective_practice"),
    ],
)
def test_vocabulary_values(table: str, row: int, column: str, value: str, expected: str) -> None:
    tables = clean_tables()
    tables[table].loc[row, column] = value
    bad = only_quarantined(validate(tables))
    assert bad["reason"].startswith(
        f'{table}.csv line {row + 2}, field {column}: "{value}" is not a known {column} '
        f"(expected one of: {expected}"
    )


def test_unknown_category_points_to_the_taxonomy() -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "category"] = "Bad parking"
    row = only_quarantined(validate(tables))
    assert row["reason"] == (
        'notices.csv line 4, field category: "Bad parking" is not a known category '
        "(map it to a standard category in the taxonomy section of the config)"
    )


def test_category_labels_match_exactly_first_then_normalised() -> None:
    category_map = Config(
        taxonomy={
            "Other": "discreditable_conduct",
            "Abuse of Position": "corruption_abuse_of_position",
        }
    ).category_map()
    tables = clean_tables()
    tables["notices"]["category"] = ["other", "OTHER", "abuse-of-position"]
    result = validate_export(RawExport(tables=tables, files=FILES), category_map=category_map)
    assert result.quarantine.empty
    assert result.data.notices["category"].tolist() == [
        "other",
        "discreditable_conduct",
        "corruption_abuse_of_position",
    ]


def test_birth_year_must_be_a_plausible_whole_year() -> None:
    values = ["19x0", "1850", "2031", "85", "1980.5"]
    quarantine = validate(officers_with("birth_year", values)).quarantine
    assert quarantine["reason"].tolist() == [
        f'officers.csv line {line}, field birth_year: "{value}" is not a birth year '
        "(expected a whole number from 1900 to 2030, or blank)"
        for line, value in zip(range(5, 10), values, strict=True)
    ]


def test_birth_year_written_as_a_float_is_accepted() -> None:
    result = validate(officers_with("birth_year", ["1979.0", "1900", "2030"]))
    assert result.quarantine.empty
    assert result.data.officers["birth_year"].iloc[3:].tolist() == [1979, 1900, 2030]


def test_left_before_joined() -> None:
    tables = clean_tables()
    tables["officers"].loc[2, "left_on"] = "2015-09-13"
    row = only_quarantined(validate(tables))
    assert row["reason"] == (
        'officers.csv line 4, field left_on: "2015-09-13" is before joined_on "2015-09-14"'
    )


def test_several_problems_in_one_record_are_one_quarantine_row() -> None:
    tables = clean_tables()
    tables["notices"].loc[0, ["received_on", "source", "severity"]] = ["2019-13-45", "", "x"]
    result = validate(tables)
    row = result.quarantine.iloc[0]
    assert (row["field"], row["value"]) == ("received_on", "2019-13-45")
    assert row["reason"] == (
        'notices.csv line 2, field received_on: "2019-13-45" is not a date (expected YYYY-MM-DD); '
        "field source: is blank, but a value is required; "
        'field severity: "x" is not a known severity (expected one of: misconduct, '
        "gross_misconduct)"
    )
    assert counts(result, "notices") == (3, 2, 1)


def test_raw_is_the_record_as_read_in_json() -> None:
    tables = clean_tables()
    tables["outcomes"]["comment"] = ["see file", "ok"]
    tables["outcomes"].loc[1, "finding"] = " Upheld "
    row = only_quarantined(validate(tables))
    assert json.loads(row["raw"]) == {
        "comment": "ok",
        "decided_on": "2020-03-01",
        "finding": " Upheld ",
        "notice_id": "N2",
        "sanction": "Final written warning",
    }
    assert row["raw"].index('"comment"') < row["raw"].index('"decided_on"')  # sorted keys


# --- cross-record checks ---------------------------------------------------------------------


def test_duplicate_officer_keeps_the_first() -> None:
    tables = clean_tables()
    tables["officers"].loc[2, "officer_id"] = "OFF1"
    result = validate(tables)
    row = only_quarantined(result)
    assert row["reason"] == (
        'officers.csv line 4, field officer_id: "OFF1" is a duplicate of line 2 '
        "(the first occurrence is kept)"
    )
    assert result.data.officers["joined_on"].iloc[0] == pd.Timestamp("2010-01-04")
    assert counts(result, "officers") == (3, 2, 1)


def test_duplicate_notice_keeps_the_first() -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "notice_id"] = "N1"
    row = only_quarantined(validate(tables))
    assert row["reason"].startswith(
        'notices.csv line 4, field notice_id: "N1" is a duplicate of line 2'
    )


def test_second_outcome_for_a_notice_is_quarantined() -> None:
    tables = clean_tables()
    extra = pd.DataFrame(
        [["N1", "2019-07-01", "proven", "dismissal"]], columns=tables["outcomes"].columns
    )
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    result = validate(tables)
    row = only_quarantined(result)
    assert row["reason"] == (
        'outcomes.csv line 4, field notice_id: notice "N1" already has an outcome on line 2 '
        "(only the first outcome is kept)"
    )
    assert result.data.outcomes["finding"].tolist() == ["no_case_to_answer", "proven"]


def test_notice_for_an_unknown_officer() -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "officer_id"] = "OFF9"
    row = only_quarantined(validate(tables))
    assert row["reason"] == (
        'notices.csv line 4, field officer_id: officer "OFF9" is not in officers.csv'
    )


def test_outcome_for_an_unknown_notice() -> None:
    tables = clean_tables()
    tables["outcomes"].loc[0, "notice_id"] = "N9"
    row = only_quarantined(validate(tables))
    assert row["reason"] == (
        'outcomes.csv line 2, field notice_id: notice "N9" is not in notices.csv'
    )


def test_quarantine_cascades_from_officer_to_notices_to_outcomes() -> None:
    tables = clean_tables()
    tables["officers"].loc[0, "joined_on"] = "04/01/2010"
    result = validate(tables)
    reasons = result.quarantine.set_index(["table", "line"])["reason"]
    assert reasons[("notices", 2)] == (
        'notices.csv line 2, field officer_id: officer "OFF1" was quarantined (officers.csv line 2)'
    )
    assert reasons[("notices", 4)].endswith('officer "OFF1" was quarantined (officers.csv line 2)')
    assert reasons[("outcomes", 2)] == (
        'outcomes.csv line 2, field notice_id: notice "N1" was quarantined (notices.csv line 2)'
    )
    assert [counts(result, t) for t in ("officers", "notices", "outcomes")] == [
        (3, 2, 1),
        (3, 1, 2),
        (2, 1, 1),
    ]
    assert result.data.notices["notice_id"].tolist() == ["N2"]
    assert result.data.outcomes["notice_id"].tolist() == ["N2"]


def test_decision_before_the_notice_was_received() -> None:
    tables = clean_tables()
    tables["outcomes"].loc[1, "decided_on"] = "2020-02-29"
    row = only_quarantined(validate(tables))
    assert row["reason"] == (
        'outcomes.csv line 3, field decided_on: "2020-02-29" is before the notice was received '
        "(2020-03-01, notices.csv line 3)"
    )


def test_knowledge_dates_on_or_after_the_export_date() -> None:
    tables = clean_tables()
    assert validate(tables, extracted_on=date(2020, 3, 3)).quarantine.empty
    result = validate(tables, extracted_on=date(2020, 3, 1))
    assert result.quarantine[["table", "line", "field"]].values.tolist() == [
        ["notices", 3, "received_on"],
        ["notices", 4, "received_on"],
        ["outcomes", 3, "notice_id"],
    ]
    assert result.quarantine["reason"].iloc[0] == (
        'notices.csv line 3, field received_on: "2020-03-01" is on or after the export date '
        "2020-03-01 (in the future of the export)"
    )
    assert result.quarantine["reason"].iloc[2] == (
        'outcomes.csv line 3, field notice_id: notice "N2" was quarantined (notices.csv line 3); '
        'field decided_on: "2020-03-01" is on or after the export date 2020-03-01 '
        "(in the future of the export)"
    )


@pytest.mark.parametrize(
    ("edits", "reason"),
    [
        (
            [("notices", 0, "received_on", "2009-12-31")],  # OFF1 joined 2010-01-04
            'notices.csv line 2, field received_on: "2009-12-31" is before the officer joined '
            "(2010-01-04, officers.csv line 2)",
        ),
        (
            [("notices", 1, "received_on", "2021-04-01")],
            'notices.csv line 3, field received_on: "2021-04-01" is after the officer left '
            "(2021-03-31, officers.csv line 3)",
        ),
        (
            [("notices", 0, "incident_on", "2019-01-11")],  # received 2019-01-10
            'notices.csv line 2, field incident_on: "2019-01-11" is after the notice was '
            "received (2019-01-10)",
        ),
        (
            [("notices", 0, "incident_on", "2020-03-03")],  # the export's last day: 2020-03-02
            'notices.csv line 2, field incident_on: "2020-03-03" is after 2020-03-02, the last '
            "day of the export as inferred from the data",
        ),
    ],
    ids=["before joining", "after leaving", "incident after receipt", "incident in the future"],
)
def test_implausible_dates_are_quarantined(
    edits: list[tuple[str, int, str, str]], reason: str
) -> None:
    tables = clean_tables()
    for table, row, column, value in edits:
        tables[table].loc[row, column] = value
    result = validate(tables)
    notice, outcome = result.quarantine["reason"]  # the notice, and its outcome with it
    assert notice.startswith(reason)
    assert re.match(r'outcomes.csv line \d, field notice_id: notice "N\d" was quarantined', outcome)


def test_a_date_check_skips_a_blank_date_it_compares_with() -> None:
    """Unknown (blank) dates are not compared: an officer still serving (no left_on) with a
    notice years after joining, a notice without an incident date."""
    tables = clean_tables()
    tables["notices"].loc[2, "incident_on"] = ""
    tables["notices"].loc[2, "received_on"] = "2020-03-02"  # OFF1 joined 2010, never left
    assert tables["officers"].loc[0, "left_on"] == ""
    assert validate(tables).quarantine.empty


def december_export(extra_notice_on: str | None = None) -> dict[str, pd.DataFrame]:
    """An export whose notices run 3 a day from 2024-12-02 to 2024-12-31 (the worked example
    of ``infer_last_day``), plus one more notice on ``extra_notice_on``."""
    days = [d.date().isoformat() for d in pd.date_range("2024-12-02", "2024-12-31")]
    received = [day for day in days for _ in range(3)]
    if extra_notice_on:
        received.append(extra_notice_on)
    notices = pd.DataFrame(
        {
            "notice_id": [f"N{i}" for i in range(len(received))],
            "case_id": [f"C{i}" for i in range(len(received))],
            "officer_id": "OFF1",
            "received_on": received,
            "category": "other",
            "source": "public",
        }
    )
    officers = clean_tables()["officers"]
    outcomes = pd.DataFrame({"notice_id": [], "decided_on": [], "finding": []}, dtype=str)
    return {"officers": officers, "notices": notices, "outcomes": outcomes}


def test_the_last_day_is_inferred_so_that_one_mistyped_date_cannot_move_it() -> None:
    clean = december_export()["notices"]["received_on"]
    assert infer_last_day(pd.to_datetime(clean)) == date(2024, 12, 31)
    typo = pd.to_datetime(pd.concat([clean, pd.Series(["2026-11-30"])]))
    assert infer_last_day(typo) == date(2024, 12, 31)
    # Four mistyped dates after the gap: still few (at most 5), all set aside.
    four = pd.to_datetime(pd.concat([clean, pd.Series(["2026-11-27", "2026-11-28"] * 2)]))
    assert infer_last_day(four) == date(2024, 12, 31)
    # A lone decision 20 days after the last notice is no gap at 3 a day: it is the last day.
    late = pd.to_datetime(pd.concat([clean, pd.Series(["2025-01-20"])]))
    assert infer_last_day(late) == date(2025, 1, 20)
    # A long pause followed by many events is a pause in the records, not a typo.
    resumed = pd.date_range("2026-06-01", "2026-06-10").repeat(3).to_series()
    assert infer_last_day(pd.concat([pd.to_datetime(clean), resumed])) == date(2026, 6, 10)
    # Sparse: one event a month; the usual gap is a month, and no date is far beyond it.
    sparse = pd.to_datetime(pd.Series(["2024-01-15", "2024-02-15", "2024-03-15"]))
    assert infer_last_day(sparse) == date(2024, 3, 15)
    assert infer_last_day(pd.Series([], dtype="datetime64[us]")) is None


def test_a_mistyped_future_date_is_quarantined_and_does_not_date_the_export() -> None:
    """No export date given: a single notice typed 2026-11-30 in an export that ends in
    December 2024 (the run is later) neither moves the export date nor is accepted."""
    result = validate_export(
        RawExport(tables=december_export("2026-11-30"), files=dict(FILES)),
        category_map=CATEGORY_MAP,
        today=date(2026, 12, 4),
    )
    assert result.export_date == ExportDate(
        date(2025, 1, 1),
        "inferred",
        "the day after 2024-12-31, the latest knowledge date before a gap of 699 days; 1 later "
        "date set aside as implausible",
    )
    row = only_quarantined(result)
    assert row["reason"] == (
        'notices.csv line 92, field received_on: "2026-11-30" is after 2024-12-31, the last day '
        "of the export as inferred from the data (no export date is given; if the export is "
        "later, set data.extracted_on in the config or extracted_on in export.json)"
    )
    assert result.data.notices["received_on"].max() == pd.Timestamp("2024-12-31")


def test_the_export_date_comes_from_the_config_then_export_json_then_the_data(
    tmp_path: Path,
) -> None:
    tables = december_export()
    raw = RawExport(tables=tables, files=dict(FILES), extracted_on=date(2024, 12, 20))
    by_manifest = validate_export(raw, category_map=CATEGORY_MAP)
    assert by_manifest.export_date == ExportDate(
        date(2024, 12, 20), "export.json", "extracted_on, written with the export"
    )
    assert len(by_manifest.quarantine) == 3 * 12  # 2024-12-20 to 12-31
    assert (
        by_manifest.quarantine["reason"]
        .iloc[0]
        .endswith(
            '"2024-12-20" is on or after the export date 2024-12-20 (in the future of the export)'
        )
    )
    configured = validate_export(raw, category_map=CATEGORY_MAP, extracted_on=date(2025, 1, 1))
    assert configured.export_date == ExportDate(date(2025, 1, 1), "config", "data.extracted_on")
    assert configured.quarantine.empty

    (tmp_path / "export.json").write_text('{"extracted_on": "2024-12-20"}')
    assert read_export_manifest(tmp_path) == date(2024, 12, 20)
    (tmp_path / "export.json").write_text('{"extracted_on": "20/12/2024"}')
    with pytest.raises(ContractError, match=r"export.json, field extracted_on: '20/12/2024'"):
        read_export_manifest(tmp_path)
    assert read_export_manifest(tmp_path / "elsewhere") is None


def test_summary_counts_add_up_on_a_messy_export() -> None:
    tables = clean_tables()
    tables["officers"].loc[1, "birth_year"] = "old"
    tables["notices"].loc[0, "category"] = ""
    tables["outcomes"].loc[1, "notice_id"] = "N404"
    result = validate(tables)
    summary = result.summary
    assert (summary["read"] == summary["accepted"] + summary["quarantined"]).all()
    assert summary["quarantined"].sum() == len(result.quarantine)
    assert [len(result.data.officers), len(result.data.notices), len(result.data.outcomes)] == (
        summary["accepted"].tolist()
    )
