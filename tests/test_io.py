"""Reading exports as text, writing exports and quarantine reports, and round trips."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from ewp.core.atomic import read_csv, spreadsheet_safe, spreadsheet_value, write_csv
from ewp.core.errors import ContractError
from ewp.data.io import find_table_file, read_raw_export, write_export, write_quarantine
from ewp.data.validation import ValidationResult, validate_export
from tests.builders import formula_cells
from tests.test_validation import CATEGORY_MAP, FILES, clean_tables, validate

OFFICERS_CSV = (
    "officer_id,joined_on,rank,unit,left_on,ethnicity,gender,birth_year\n"
    "007,2010-01-04,Constable,Borough 01,,White,Female,1985\n"
    "OFF2,2012-06-01,Sergeant,Borough 02,2021-03-31,NA,Male,\n"
)
NOTICES_CSV = (
    "notice_id,case_id,officer_id,received_on,category,source\nN1,C1,007,2019-01-10,other,public\n"
)
OUTCOMES_CSV = "notice_id,decided_on,finding\nN1,2019-06-01,proven\n"


def write_texts(folder: Path, texts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def small_export(folder: Path) -> Path:
    return write_texts(
        folder,
        {"officers.csv": OFFICERS_CSV, "notices.csv": NOTICES_CSV, "outcomes.csv": OUTCOMES_CSV},
    )


def validated(folder: Path) -> ValidationResult:
    return validate_export(read_raw_export(folder), category_map=CATEGORY_MAP)


def assert_same_data(left: ValidationResult, right: ValidationResult) -> None:
    for table in ("officers", "notices", "outcomes"):
        pd.testing.assert_frame_equal(getattr(left.data, table), getattr(right.data, table))


# --- finding and reading ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["officers.csv", "officers.csv.gz", "officers.parquet"])
def test_find_table_file_accepts_each_format(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    assert find_table_file(tmp_path, "officers") == tmp_path / name


def test_find_table_file_with_no_file(tmp_path: Path) -> None:
    with pytest.raises(
        ContractError, match=re.escape("no officers table: expected one of officers.csv, ")
    ):
        find_table_file(tmp_path, "officers")


def test_find_table_file_with_several_files(tmp_path: Path) -> None:
    (tmp_path / "notices.csv").write_text("")
    (tmp_path / "notices.parquet").write_text("")
    with pytest.raises(ContractError, match=r"several files for the notices table \(notices.csv"):
        find_table_file(tmp_path, "notices")


def test_find_table_file_with_no_folder(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        find_table_file(tmp_path / "nowhere", "officers")


def test_read_raw_export_keeps_every_cell_as_text(tmp_path: Path) -> None:
    raw = read_raw_export(small_export(tmp_path))
    assert raw.files == FILES
    officers = raw.tables["officers"]
    assert officers["officer_id"].tolist() == ["007", "OFF2"]  # leading zeros kept
    assert officers["ethnicity"].tolist() == ["White", "NA"]  # "NA" is a value, not missing
    assert officers["birth_year"].tolist() == ["1985", ""]
    assert all(str(dtype) == "str" for dtype in officers.dtypes)
    result = validated(tmp_path)
    assert result.quarantine.empty
    assert result.data.officers["ethnicity"].tolist() == ["White", "NA"]


def test_read_raw_export_with_a_missing_table(tmp_path: Path) -> None:
    small_export(tmp_path)
    (tmp_path / "outcomes.csv").unlink()
    with pytest.raises(ContractError, match="no outcomes table"):
        read_raw_export(tmp_path)


def test_gzip_csv_and_byte_order_mark(tmp_path: Path) -> None:
    small_export(tmp_path)
    (tmp_path / "officers.csv").unlink()
    with gzip.open(tmp_path / "officers.csv.gz", "wt", encoding="utf-8") as handle:
        handle.write("\ufeff" + OFFICERS_CSV)
    raw = read_raw_export(tmp_path)
    assert raw.files["officers"] == "officers.csv.gz"
    assert raw.tables["officers"].columns[0] == "officer_id"
    assert validated(tmp_path).quarantine.empty


def test_unreadable_files_are_contract_errors(tmp_path: Path) -> None:
    small_export(tmp_path)
    (tmp_path / "notices.csv").write_bytes(NOTICES_CSV.replace("other", "caf\xe9").encode("cp1252"))
    with pytest.raises(ContractError) as caught:
        read_raw_export(tmp_path)
    assert str(caught.value) == (
        'notices.csv line 2, field category: byte 0xE9 in "café" is not UTF-8 (the file looks '
        "like Latin-1 or Windows-1252); expected UTF-8: save it as CSV UTF-8"
    )
    (tmp_path / "notices.csv").write_text("")
    with pytest.raises(ContractError, match=r"notices\.csv is empty"):
        read_raw_export(tmp_path)
    (tmp_path / "notices.csv").write_text(NOTICES_CSV + "N2,C2,007,2019-01-11,other,public,x\n")
    with pytest.raises(
        ContractError, match=r"notices\.csv line 3 has 7 fields but the header has 6"
    ):
        read_raw_export(tmp_path)
    (tmp_path / "notices.csv").unlink()
    (tmp_path / "notices.csv.gz").write_text(NOTICES_CSV)
    with pytest.raises(ContractError, match=r"notices\.csv\.gz is not a complete gzip file"):
        read_raw_export(tmp_path)
    (tmp_path / "notices.csv.gz").unlink()
    (tmp_path / "notices.parquet").write_text(NOTICES_CSV)
    with pytest.raises(ContractError, match=r"notices\.parquet cannot be read as Parquet"):
        read_raw_export(tmp_path)


def test_csv_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    officers = (
        "officer_id,joined_on,rank,unit\n"  # line 1
        'OFF1,2010-01-04,Constable,"Borough 01\nnight shift"\n'  # lines 2-3
        "\n"  # line 4
        "OFF2,2012-06-01,,Borough 02\n"  # line 5
    )
    write_texts(
        tmp_path,
        {
            "officers.csv": officers,
            "notices.csv": "notice_id,case_id,officer_id,received_on,category,source\n",
            "outcomes.csv": "notice_id,decided_on,finding\n",
        },
    )
    result = validated(tmp_path)
    assert result.quarantine["reason"].tolist() == [
        "officers.csv line 5, field rank: is blank, but a value is required"
    ]
    assert result.summary.set_index("table").loc["officers", "blank_lines"] == 1
    assert result.data.officers["unit"].iloc[0] == "Borough 01\nnight shift"


def test_parquet_line_numbers_are_row_number_plus_one(tmp_path: Path) -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "source"] = "press"
    write_export(**tables, out_dir=tmp_path, fmt="parquet")
    row = validated(tmp_path).quarantine.iloc[0]
    assert row["reason"].startswith('notices.parquet line 4, field source: "press"')


def test_parquet_typed_columns_are_read_as_text(tmp_path: Path) -> None:
    small_export(tmp_path)
    (tmp_path / "officers.csv").unlink()
    officers = pd.DataFrame(
        {
            "officer_id": ["OFF1", "OFF2"],
            "joined_on": pd.to_datetime(["2010-01-04 00:00", "2012-06-01 08:30"]),
            "rank": ["Constable", "Sergeant"],
            "unit": ["A", "B"],
            "birth_year": [1985.0, None],
        }
    )
    officers.to_parquet(tmp_path / "officers.parquet")
    raw = read_raw_export(tmp_path).tables["officers"]
    assert raw["joined_on"].tolist() == ["2010-01-04T00:00:00", "2012-06-01T08:30:00"]
    assert raw["birth_year"].tolist() == ["1985", ""]


# --- writing ---------------------------------------------------------------------------------


def test_write_export_round_trip_gives_the_same_typed_data(tmp_path: Path) -> None:
    first = validate(clean_tables())
    data = first.data
    paths = write_export(
        officers=data.officers, notices=data.notices, outcomes=data.outcomes, out_dir=tmp_path
    )
    assert paths == {table: tmp_path / name for table, name in FILES.items()}
    header = (tmp_path / "notices.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "notice_id,case_id,officer_id,received_on,category,source,incident_on,severity"
    assert "Violence / use of force" in (tmp_path / "notices.csv").read_text(encoding="utf-8")
    assert ",2019-01-10," in (tmp_path / "notices.csv").read_text(encoding="utf-8")
    second = validated(tmp_path)
    assert second.quarantine.empty
    assert_same_data(first, second)


def test_write_export_parquet_round_trip(tmp_path: Path) -> None:
    first = validate(clean_tables())
    data = first.data
    paths = write_export(
        officers=data.officers,
        notices=data.notices,
        outcomes=data.outcomes,
        out_dir=tmp_path,
        fmt="parquet",
    )
    assert paths["officers"] == tmp_path / "officers.parquet"
    second = validated(tmp_path)
    assert second.quarantine.empty
    assert_same_data(first, second)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_export_is_byte_identical_on_a_second_run(tmp_path: Path, fmt: str) -> None:
    data = validate(clean_tables()).data
    frames = {"officers": data.officers, "notices": data.notices, "outcomes": data.outcomes}
    first = write_export(**frames, out_dir=tmp_path / "a", fmt=fmt)
    second = write_export(**frames, out_dir=tmp_path / "b", fmt=fmt)
    for table in first:
        assert first[table].read_bytes() == second[table].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        p.name for p in first.values()
    )  # no temporary files left behind


def test_write_export_replaces_the_other_format(tmp_path: Path) -> None:
    tables = clean_tables()
    write_export(**tables, out_dir=tmp_path, fmt="parquet")
    write_export(**tables, out_dir=tmp_path, fmt="csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES.values())


def test_write_export_refuses_a_table_without_its_required_columns(tmp_path: Path) -> None:
    tables = clean_tables()
    tables["outcomes"] = tables["outcomes"].drop(columns="finding")
    with pytest.raises(ValueError, match=r"cannot write the outcomes table: .*\['finding'\]"):
        write_export(**tables, out_dir=tmp_path)


def test_write_quarantine_is_readable_and_deterministic(tmp_path: Path) -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "received_on"] = "2019-13-45"
    quarantine = validate(tables).quarantine
    first = write_quarantine(quarantine, tmp_path / "run" / "quarantine.csv")
    content = first.read_bytes()
    write_quarantine(quarantine, first)
    assert first.read_bytes() == content
    back = pd.read_csv(first, dtype=str, keep_default_na=False)
    assert back.columns.tolist() == quarantine.columns.tolist()
    assert back["reason"].tolist() == quarantine["reason"].tolist()
    assert back["line"].tolist() == ["4"]


# --- spreadsheet-safe CSV ----------------------------------------------------------------------

HOSTILE_UNIT = "=cmd|' /C calc'!A0"
HOSTILE_OFFICER = '=HYPERLINK("http://x","click")'


def test_write_csv_neutralises_text_that_a_spreadsheet_would_run(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "officer_id": [HOSTILE_OFFICER, "OFF2", "@SUM(A1)", "'=x", "\tTAB", "-3"],
            "note": ["+44 20 7946", "- spoke to him", "", "ok", "line 1\nline 2", "-0.5"],
            "value": [-1.5, 2.0, -3.0, 0.0, 1.0, -2.0],
        }
    )
    path = write_csv(frame, tmp_path / "flags.csv", float_format="%.1f")
    assert formula_cells(path) == []
    assert path.read_text().splitlines()[:4] == [
        "officer_id,note,value",
        '"\'=HYPERLINK(""http://x"",""click"")",\'+44 20 7946,-1.5',
        "OFF2,'- spoke to him,2.0",
        "'@SUM(A1),,-3.0",
    ]
    back = read_csv(path, dtype={"officer_id": str, "note": str}, keep_default_na=False)
    pd.testing.assert_frame_equal(back, frame)  # numbers stay numbers, text comes back exact


def test_a_carriage_return_in_a_cell_quotes_every_cell(tmp_path: Path) -> None:
    frame = pd.DataFrame({"note": ["\rCR", "a\rb"], "value": [1, 2]})
    path = write_csv(frame, tmp_path / "notes.csv")
    assert path.read_bytes() == b'"note","value"\n"\'\rCR","1"\n"a\rb","2"\n'
    pd.testing.assert_frame_equal(read_csv(path), frame)


def test_spreadsheet_safe_round_trips_every_value() -> None:
    values = ["=1+1", "'=1+1", "''=1+1", "-3", "'-3", "-x", "'hello", "", "@", "1e-3", "-inf"]
    safe = spreadsheet_safe(pd.DataFrame({"a": values}))["a"].tolist()
    assert safe == [
        "'=1+1",
        "''=1+1",
        "'''=1+1",
        "-3",
        "''-3",
        "'-x",
        "'hello",
        "",
        "'@",
        "1e-3",
        "'-inf",
    ]
    assert [spreadsheet_value(cell) for cell in safe] == values


def test_a_hostile_export_is_written_safe_and_reads_back_exactly(tmp_path: Path) -> None:
    tables = clean_tables()
    tables["officers"].loc[0, "officer_id"] = HOSTILE_OFFICER
    tables["notices"].loc[[0, 2], "officer_id"] = HOSTILE_OFFICER
    tables["officers"]["unit"] = HOSTILE_UNIT
    original = validate(tables)
    paths = write_export(**{t: getattr(original.data, t) for t in FILES}, out_dir=tmp_path / "e")
    assert [formula_cells(path) for path in paths.values()] == [[], [], []]
    again = validated(tmp_path / "e")
    assert_same_data(original, again)
    assert set(again.data.officers["unit"]) == {HOSTILE_UNIT}


def test_the_quarantine_report_is_written_safe(tmp_path: Path) -> None:
    tables = clean_tables()
    tables["notices"].loc[2, "received_on"] = "=HYPERLINK(1)"
    tables["notices"].loc[1, "officer_id"] = "-OFF9"
    path = write_quarantine(validate(tables).quarantine, tmp_path / "quarantine.csv")
    assert formula_cells(path) == []
    back = read_csv(path, dtype=str, keep_default_na=False)
    assert back["value"].tolist() == ["-OFF9", "=HYPERLINK(1)", "N2"]  # N2: its notice's outcome
