"""Bad input never ends in a traceback: a corpus through ``ewp validate``, and fuzzed exports.

* The corpus: one small export, broken one way per case (encodings, columns, dates, blanks,
  duplicates, unknown references, huge numbers, empty and truncated files), run through
  ``ewp validate``. Each case gives its exact one-line message (exit 2) or its exact quarantine
  entry (exit 0), naming file, line and field; no output holds a traceback.
* Properties (hypothesis): random mutations of the export, and of a raw export read by the
  Chicago adapter, raise nothing but the project's own errors, and every run that completes
  accounts for each record (read = accepted + quarantined). The accounting check itself fails
  loudly when a record is lost.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ewp.cli.commands import app
from ewp.core.config import Config
from ewp.core.errors import ContractError
from ewp.data.adapters import MappingError, ingest
from ewp.data.io import read_raw_export
from ewp.data.validation import AccountingError, validate_export
from tests.cpdp_quirks import FILES as CPDP_FILES
from tests.cpdp_quirks import TEXTS as CPDP_TEXTS

OFFICERS = [
    ["officer_id", "joined_on", "rank", "unit", "left_on", "ethnicity", "gender", "birth_year"],
    ["OFF1", "2010-01-04", "Constable", "Borough 01", "", "White", "Female", "1985"],
    ["OFF2", "2012-06-01", "Sergeant", "Borough 02", "2021-03-31", "Black", "Male", "1979"],
    ["OFF3", "2015-09-14", "Constable", "Borough 01", "", "", "Male", ""],
]
NOTICES = [
    ["notice_id", "case_id", "officer_id", "received_on", "category", "source", "incident_on"],
    ["N1", "C1", "OFF1", "2019-01-10", "other", "public", "2019-01-01"],
    ["N2", "C2", "OFF2", "2020-03-01", "sexual_misconduct", "internal", ""],
    ["N3", "C2", "OFF1", "2020-03-02", "neglect_of_duty", "conduct_matter", ""],
]
OUTCOMES = [
    ["notice_id", "decided_on", "finding", "sanction"],
    ["N1", "2019-06-01", "no_case_to_answer", ""],
    ["N2", "2020-03-01", "proven", "final_written_warning"],
]
TABLES = {"officers": OFFICERS, "notices": NOTICES, "outcomes": OUTCOMES}
TODAY = dt.date.today()  # what ``ewp validate`` uses, so both see the same future


def csv_text(rows: list[list[str]], *, line_end: str = "\n") -> str:
    """Rows as CSV, records ending in ``line_end``. A cell holding a line feed or a carriage
    return is quoted whatever the record end, as a spreadsheet writes it (the csv module quotes
    only the characters of its own record end, leaving a lone carriage return bare in a file
    of line feeds)."""
    records = []
    for row in rows:
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerow(row)
        records.append(out.getvalue().removesuffix("\r\n") + line_end)
    return "".join(records)


def write_export(folder: Path, files: dict[str, bytes | None] | None = None) -> Path:
    """The clean export as CSV in ``folder``, with ``files`` replaced (None: removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    contents: dict[str, bytes | None] = {
        f"{name}.csv": csv_text(rows).encode() for name, rows in TABLES.items()
    }
    contents.update(files or {})
    for name, data in contents.items():
        if data is not None:
            (folder / name).write_bytes(data)
    return folder


def edited(table: str, row: int, column: str, value: str) -> bytes:
    """Table ``table`` as CSV bytes with one cell changed (row 1 = first record)."""
    rows = [list(r) for r in TABLES[table]]
    rows[row][rows[0].index(column)] = value
    return csv_text(rows).encode()


def every_record(table: str, column: str, value: str) -> bytes:
    """Table ``table`` as CSV bytes with ``column`` set to ``value`` in every record."""
    rows = [list(r) for r in TABLES[table]]
    for row in rows[1:]:
        row[rows[0].index(column)] = value
    return csv_text(rows).encode()


def with_rows(table: str, *extra: list[str]) -> bytes:
    return csv_text([*TABLES[table], *extra]).encode()


def run_validate(folder: Path, *args: str) -> tuple[int, str, Path]:
    quarantine = folder.parent / f"{folder.name}-quarantine.csv"
    result = CliRunner().invoke(
        app, ["validate", str(folder), "--quarantine", str(quarantine), *args]
    )
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output, quarantine


# --- the corpus: file-level problems stop with one line naming file (line, field) ------------

STOPS = {
    "latin-1": (
        {"officers.csv": edited("officers", 2, "unit", "Börough 02").decode().encode("latin-1")},
        'officers.csv line 3, field unit: byte 0xF6 in "Börough 02" is not UTF-8 (the file looks '
        "like Latin-1 or Windows-1252); expected UTF-8: save it as CSV UTF-8",
    ),
    "utf-16": (
        {"notices.csv": csv_text(NOTICES).encode("utf-16")},
        "notices.csv is UTF-16 text; expected UTF-8: save it as CSV UTF-8",
    ),
    "missing column": (
        {"officers.csv": csv_text([[c for i, c in enumerate(r) if i != 3] for r in OFFICERS])},
        'officers.csv: required column "unit" is missing (columns found: officer_id, joined_on, '
        "rank, left_on, ethnicity, gender, birth_year)",
    ),
    "line break in a column name": (
        {"officers.csv": csv_text([[*r[1:], "" if i else "0\n0"] for i, r in enumerate(OFFICERS)])},
        'officers.csv: required column "officer_id" is missing (columns found: joined_on, rank, '
        "unit, left_on, ethnicity, gender, birth_year, 0\\n0)",
    ),
    "column twice": (
        {"outcomes.csv": csv_text([[*r, r[1]] for r in OUTCOMES])},
        'outcomes.csv line 1: column "decided_on" appears more than once',
    ),
    "missing file": (
        {"outcomes.csv": None},
        "no outcomes table: expected one of outcomes.csv, outcomes.csv.gz, outcomes.parquet",
    ),
    "empty file": (
        {"notices.csv": b""},
        "notices.csv is empty: expected a header line naming the columns",
    ),
    "truncated gzip": (
        {"notices.csv": None, "notices.csv.gz": gzip.compress(csv_text(NOTICES).encode())[:-12]},
        "notices.csv.gz is not a complete gzip file (Compressed file ended before the "
        "end-of-stream marker was reached); expected gzip-compressed CSV",
    ),
    "not gzip at all": (
        {"notices.csv": None, "notices.csv.gz": csv_text(NOTICES).encode()},
        "notices.csv.gz is not a complete gzip file (Not a gzipped file (b'no')); expected "
        "gzip-compressed CSV",
    ),
    "too many fields": (
        {
            "notices.csv": with_rows(
                "notices", ["N4", "C4", "OFF3", "2020-05-01", "other", "a", "b", "c"]
            )
        },
        "notices.csv line 5 has 8 fields but the header has 7: quote values that contain a comma",
    ),
    "quote never closed": (
        {"outcomes.csv": csv_text(OUTCOMES).encode() + b'N3,"2020-04-01,proven,\n'},
        'outcomes.csv line 4: a quoted value is never closed (expected a closing ")',
    ),
    "two files for a table": (
        {"officers.csv.gz": gzip.compress(csv_text(OFFICERS).encode())},
        "several files for the officers table (officers.csv, officers.csv.gz); keep exactly one",
    ),
}


@pytest.mark.parametrize("case", list(STOPS))
def test_file_level_problems_stop_with_one_clear_line(tmp_path: Path, case: str) -> None:
    files, message = STOPS[case]
    folder = write_export(
        tmp_path / "export",
        {name: data.encode() if isinstance(data, str) else data for name, data in files.items()},
    )
    code, output, quarantine = run_validate(folder)
    assert code == 2
    lines = output.splitlines()
    assert any(line.startswith("Contract error: ") and message in line for line in lines), output
    assert not quarantine.exists()


# --- the corpus: record-level problems are quarantined, the rest accepted ---------------------

QUARANTINED = {
    "blank required value, and what refers to it": (
        {"officers.csv": edited("officers", 2, "rank", "")},
        [
            "officers.csv line 3, field rank: is blank, but a value is required",
            'notices.csv line 3, field officer_id: officer "OFF2" was quarantined '
            "(officers.csv line 3)",
            'outcomes.csv line 3, field notice_id: notice "N2" was quarantined '
            "(notices.csv line 3)",
        ],
    ),
    "NaN as a date": (
        {"notices.csv": edited("notices", 3, "received_on", "NaN")},
        ['notices.csv line 4, field received_on: "NaN" is not a date (expected YYYY-MM-DD)'],
    ),
    "NULL in a vocabulary": (
        {"notices.csv": edited("notices", 3, "source", "NULL")},
        [
            'notices.csv line 4, field source: "NULL" is not a known source (expected one of: '
            "public, internal, conduct_matter)"
        ],
    ),
    "day/month/year date": (
        {"officers.csv": edited("officers", 3, "joined_on", "14/09/2015")},
        ['officers.csv line 4, field joined_on: "14/09/2015" is not a date (expected YYYY-MM-DD)'],
    ),
    "date with slashes": (
        {"outcomes.csv": edited("outcomes", 2, "decided_on", "2020/03/01")},
        ['outcomes.csv line 3, field decided_on: "2020/03/01" is not a date (expected YYYY-MM-DD)'],
    ),
    "date in words": (
        {"notices.csv": edited("notices", 3, "received_on", "2 March 2020")},
        [
            'notices.csv line 4, field received_on: "2 March 2020" is not a date '
            "(expected YYYY-MM-DD)"
        ],
    ),
    "impossible date": (
        {"notices.csv": edited("notices", 3, "received_on", "2020-02-30")},
        ['notices.csv line 4, field received_on: "2020-02-30" is not a date (expected YYYY-MM-DD)'],
    ),
    "date in the future": (
        {"notices.csv": edited("notices", 3, "received_on", "2099-03-01")},
        [
            f'notices.csv line 4, field received_on: "2099-03-01" is after today '
            f"({TODAY.isoformat()}): a date in the future (expected a date on or before the "
            "day of the run)"
        ],
    ),
    "identical duplicate row": (
        {"officers.csv": with_rows("officers", OFFICERS[1])},
        [
            'officers.csv line 5, field officer_id: "OFF1" is a duplicate of line 2 (the first '
            "occurrence is kept)"
        ],
    ),
    "conflicting duplicate row": (
        {
            "notices.csv": with_rows(
                "notices", ["N2", "C9", "OFF3", "2020-04-01", "other", "public", ""]
            )
        },
        [
            'notices.csv line 5, field notice_id: "N2" is a duplicate of line 3 (the first '
            "occurrence is kept)"
        ],
    ),
    "two outcomes for a notice": (
        {"outcomes.csv": with_rows("outcomes", ["N1", "2019-07-01", "proven", "none"])},
        [
            'outcomes.csv line 4, field notice_id: notice "N1" already has an outcome on line 2 '
            "(only the first outcome is kept)"
        ],
    ),
    "outcome for an unknown notice": (
        {"outcomes.csv": with_rows("outcomes", ["N9", "2020-01-01", "proven", ""])},
        ['outcomes.csv line 4, field notice_id: notice "N9" is not in notices.csv'],
    ),
    "huge number as a birth year": (
        {"officers.csv": edited("officers", 3, "birth_year", "9" * 40)},
        [
            f'officers.csv line 4, field birth_year: "{"9" * 40}" is not a birth year (expected '
            "a whole number from 1900 to 2030, or blank)"
        ],
    ),
    "short row": (
        {"officers.csv": csv_text(OFFICERS).encode() + b"OFF4,2016-01-04\n"},
        [
            "officers.csv line 5, field rank: is blank, but a value is required; "
            "field unit: is blank, but a value is required"
        ],
    ),
}


@pytest.mark.parametrize("case", list(QUARANTINED))
def test_record_level_problems_are_quarantined_with_file_line_and_field(
    tmp_path: Path, case: str
) -> None:
    files, reasons = QUARANTINED[case]
    folder = write_export(tmp_path / "export", files)
    code, output, quarantine = run_validate(folder)
    assert code == 0, output
    report = pd.read_csv(quarantine, dtype=str, keep_default_na=False)
    assert report["reason"].tolist() == reasons
    lines = output.splitlines()
    assert all(f"  quarantined {reason}" in lines for reason in reasons), output


def test_future_date_past_the_configured_export_date(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export")
    config = tmp_path / "dated.yaml"
    # Test dates must fit the export date too (see test_config.py).
    config.write_text(
        "data:\n  extracted_on: 2020-03-01\n"
        "evaluation:\n  test_dates: [2018-01-01]\n  test_block_days: 30\n"
    )
    code, output, quarantine = run_validate(folder, "-c", str(config))
    assert code == 0, output
    # N2 is received on the export date and N3 the day after; N2's outcome goes with N2, and
    # is itself decided on the export date.
    assert pd.read_csv(quarantine, dtype=str)["reason"].tolist() == [
        'notices.csv line 3, field received_on: "2020-03-01" is on or after the export date '
        "2020-03-01 (in the future of the export)",
        'notices.csv line 4, field received_on: "2020-03-02" is on or after the export date '
        "2020-03-01 (in the future of the export)",
        'outcomes.csv line 3, field notice_id: notice "N2" was quarantined (notices.csv line 3); '
        'field decided_on: "2020-03-01" is on or after the export date 2020-03-01 (in the '
        "future of the export)",
    ]


@pytest.mark.parametrize(
    "files",
    [
        {"officers.csv": b"\xef\xbb\xbf" + csv_text(OFFICERS).encode()},
        {"notices.csv": csv_text(NOTICES, line_end="\r\n").encode()},
        {"outcomes.csv": csv_text(OUTCOMES).encode() + b"\n\n"},
        {"officers.csv": csv_text([[*r, "x"] for r in OFFICERS]).encode()},
        {"outcomes.csv": None, "outcomes.csv.gz": gzip.compress(csv_text(OUTCOMES).encode())},
    ],
    ids=["byte-order mark", "CRLF line ends", "trailing blank lines", "extra column", "gzip"],
)
def test_harmless_variations_are_accepted_whole(tmp_path: Path, files: dict) -> None:
    code, output, quarantine = run_validate(write_export(tmp_path / "export", files))
    assert code == 0, output
    assert pd.read_csv(quarantine).empty
    result = validate_export(
        read_raw_export(tmp_path / "export"), category_map=Config().category_map()
    )
    assert result.summary["accepted"].tolist() == [3, 3, 2]


def test_extra_columns_are_named_and_ignored(tmp_path: Path) -> None:
    files = {
        "notices.csv": csv_text([[*r, "x" if i else "shoe_size"] for i, r in enumerate(NOTICES)])
    }
    code, output, _ = run_validate(
        write_export(tmp_path / "export", {k: v.encode() for k, v in files.items()})
    )
    assert code == 0
    assert "  notices.csv: columns not in the contract, ignored: shoe_size" in output.splitlines()


def test_header_only_files_are_an_empty_export_and_a_contract_error(tmp_path: Path) -> None:
    folder = write_export(
        tmp_path / "export", {f"{n}.csv": csv_text(rows[:1]).encode() for n, rows in TABLES.items()}
    )
    code, output, quarantine = run_validate(folder)
    assert code == 2 and pd.read_csv(quarantine).empty
    assert "│ officers │ officers.csv │    0 │        0 │           0 │" in output
    assert output.splitlines()[-1] == (
        "Contract error: officers.csv: no officer passed the contract's checks (it holds no "
        "records); expected at least one valid officer"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"officers.csv": every_record("officers", "joined_on", "2019-13-45")},
            "officers.csv: no officer passed the contract's checks (all 3 records were "
            "quarantined); expected at least one valid officer",
        ),
        (
            {"notices.csv": every_record("notices", "source", "press")},
            "notices.csv: no notice passed the contract's checks (all 3 records were "
            "quarantined); expected at least one valid notice",
        ),
    ],
    ids=["no valid officer", "no valid notice"],
)
def test_an_export_with_no_valid_officer_or_notice_is_a_contract_error(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    """Validation still writes the quarantine report (every row, with its reason), then stops
    with exit code 2: there is nothing to score or train on."""
    folder = write_export(tmp_path / "export", files)
    code, output, quarantine = run_validate(folder)
    assert code == 2
    assert output.splitlines()[-1] == f"Contract error: {message}"
    assert len(pd.read_csv(quarantine)) >= 3


def test_a_bad_config_is_named_before_the_data_is_read(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  extracted_on: 2020-02-31\n")
    code, output, _ = run_validate(tmp_path / "no-such-export", "-c", str(config))
    assert code == 2
    assert (
        f'Config error: {config}: data.extracted_on: "2020-02-31" is not a date (day value is '
        "outside expected range); expected YYYY-MM-DD"
    ) in output.splitlines()


# --- properties: fuzzed exports ---------------------------------------------------------------

CELL_VALUES = st.one_of(
    st.just(""),
    st.sampled_from(["NaN", "nan", "NULL", "N/A", "None", "-", " ", "0", "-1", "1e309"]),
    st.sampled_from(["10/01/2019", "2019/01/10", "20190110", "2019-1-10", "2099-01-01"]),
    st.just("9" * 40),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
TABLE = st.sampled_from(list(TABLES))
ROW_MUTATIONS = st.one_of(
    st.tuples(st.just("cell"), TABLE, st.integers(0, 40), st.integers(0, 10), CELL_VALUES),
    st.tuples(st.just("duplicate row"), TABLE, st.integers(0, 40)),
    st.tuples(st.just("drop row"), TABLE, st.integers(0, 40)),
    st.tuples(st.just("shuffle columns"), TABLE, st.integers(0, 2**16)),
    st.tuples(st.just("drop column"), TABLE, st.integers(0, 10)),
    st.tuples(st.just("extra column"), TABLE, st.text(max_size=6)),
)
FILE_MUTATIONS = st.one_of(
    st.tuples(st.just("bom"), TABLE),
    st.tuples(st.just("crlf"), TABLE),
    st.tuples(st.just("latin-1"), TABLE),
    st.tuples(st.just("truncate"), TABLE, st.floats(0, 1)),
    st.tuples(st.just("gzip"), TABLE, st.booleans()),
    st.tuples(st.just("raw line"), TABLE, st.text(max_size=20)),
)


def mutated_export(
    folder: Path, row_mutations: list[tuple], file_mutations: list[tuple], *, line_end: str = "\n"
) -> None:
    """Write the clean export with ``row_mutations`` applied to the rows (records ending in
    ``line_end``), then ``file_mutations`` to the files' bytes."""
    tables = {name: [list(r) for r in rows] for name, rows in TABLES.items()}
    for kind, name, *args in row_mutations:
        rows = tables[name]
        width = len(rows[0])
        if kind == "cell" and len(rows) > 1:
            row, column, value = args
            rows[1 + row % (len(rows) - 1)][column % width] = value
        elif kind == "duplicate row" and len(rows) > 1:
            rows.append(list(rows[1 + args[0] % (len(rows) - 1)]))
        elif kind == "drop row" and len(rows) > 1:
            del rows[1 + args[0] % (len(rows) - 1)]
        elif kind == "shuffle columns":
            order = list(range(width))
            random.Random(args[0]).shuffle(order)
            tables[name] = [[r[i] for i in order] for r in rows]
        elif kind == "drop column" and width > 1:
            tables[name] = [[v for i, v in enumerate(r) if i != args[0] % width] for r in rows]
        elif kind == "extra column":
            tables[name] = [[*r, args[0] if i == 0 else "x"] for i, r in enumerate(rows)]
    files = {
        f"{name}.csv": csv_text(rows, line_end=line_end).encode() for name, rows in tables.items()
    }
    for kind, name, *args in file_mutations:
        key = next(k for k in files if k.startswith(f"{name}."))
        data = files.pop(key)
        if kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif kind == "latin-1":
            data = (data.decode(errors="replace") + "Zoë,\n").encode("latin-1", errors="replace")
        elif kind == "truncate":
            data = data[: int(len(data) * args[0])]
        elif kind == "gzip":
            data = gzip.compress(data, mtime=0)
            data = data[: len(data) // 2] if args[0] else data
            key = f"{name}.csv.gz"
        elif kind == "raw line":
            data = data + args[0].encode()
        files[key] = data
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for key, data in files.items():
        (folder / key).write_bytes(data)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    row_mutations=st.lists(ROW_MUTATIONS, max_size=4),
    file_mutations=st.lists(FILE_MUTATIONS, max_size=2),
)
def test_fuzzed_exports_give_own_errors_or_complete_accounts(
    tmp_path: Path, row_mutations: list[tuple], file_mutations: list[tuple]
) -> None:
    folder = tmp_path / "fuzzed"
    mutated_export(folder, row_mutations, file_mutations)
    names = sorted(p.name for p in folder.iterdir())
    try:
        result = validate_export(
            read_raw_export(folder), category_map=Config().category_map(), today=TODAY
        )
    except ContractError as exc:
        message = str(exc)
        assert "\n" not in message
        assert any(name in message for name in names) or message.startswith("no "), message
        return
    summary = result.summary.set_index("table")
    for table in TABLES:
        row = summary.loc[table]
        assert row["read"] == row["accepted"] + row["quarantined"]
        assert row["accepted"] == len(getattr(result.data, table))
        assert row["quarantined"] == (result.quarantine["table"] == table).sum()
    for item in result.quarantine.itertuples(index=False):
        assert item.reason.startswith(f"{item.file} line {item.line}, field {item.field}: ")


@settings(max_examples=40, deadline=None)
@given(row_mutations=st.lists(ROW_MUTATIONS, max_size=3))
@example(row_mutations=[("extra column", "officers", "\r")])  # a header of a carriage return
@example(row_mutations=[("extra column", "officers", "\r0")])
def test_a_byte_order_mark_and_crlf_line_ends_change_nothing(row_mutations: list[tuple]) -> None:
    # Validation is a function of what is read: the same text read gives the same result.
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        plain, marked = Path(tmp) / "plain", Path(tmp) / "marked"
        mutated_export(plain, row_mutations, [])
        # CRLF record ends on top of the BOM, as a spreadsheet writes them: a line break inside
        # a quoted cell stays the cell's own.
        mutated_export(marked, row_mutations, [("bom", n) for n in TABLES], line_end="\r\n")
        reads = []
        for folder in (plain, marked):
            try:
                reads.append(read_raw_export(folder))
            except ContractError as exc:
                reads.append(str(exc))
    first, second = reads
    if isinstance(first, str):
        assert first == second
        return
    assert first.files == second.files
    for table in TABLES:
        pd.testing.assert_frame_equal(first.tables[table], second.tables[table])


# --- properties: a fuzzed raw export through the Chicago adapter ------------------------------

CPDP_MAPPING = Path(__file__).resolve().parents[1] / "configs" / "mappings" / "cpdp.yaml"
CPDP_MUTATIONS = st.one_of(
    st.tuples(
        st.just("cell"),
        st.sampled_from(CPDP_FILES),
        st.integers(0, 40),
        st.integers(0, 10),
        st.one_of(st.just(""), st.sampled_from(["NaN", "2099-01-01", "31/12/2005", "9" * 30])),
    ),
    st.tuples(st.just("duplicate row"), st.sampled_from(CPDP_FILES), st.integers(0, 40)),
    st.tuples(st.just("drop row"), st.sampled_from(CPDP_FILES), st.integers(0, 40)),
    st.tuples(st.just("latin-1"), st.sampled_from(CPDP_FILES)),
    st.tuples(st.just("bom"), st.sampled_from(CPDP_FILES)),
    st.tuples(st.just("truncate gzip"), st.sampled_from(CPDP_FILES)),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(CPDP_MUTATIONS, min_size=1, max_size=3))
def test_fuzzed_raw_exports_through_the_adapter(mutations: list[tuple]) -> None:
    import tempfile

    tables = {name: list(csv.reader(io.StringIO(CPDP_TEXTS[name]))) for name in CPDP_FILES}
    damage: dict[str, str] = {}
    for kind, name, *args in mutations:
        rows = tables[name]
        if kind == "cell" and len(rows) > 1:
            row, column, value = args
            rows[1 + row % (len(rows) - 1)][column % len(rows[0])] = value
        elif kind == "duplicate row" and len(rows) > 1:
            rows.append(list(rows[1 + args[0] % (len(rows) - 1)]))
        elif kind == "drop row" and len(rows) > 1:
            del rows[1 + args[0] % (len(rows) - 1)]
        else:
            damage[name] = kind
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source"
        source.mkdir()
        for name, rows in tables.items():
            data = csv_text(rows).encode()
            if damage.get(name) == "latin-1":
                data += "Zoë\n".encode("latin-1")
            elif damage.get(name) == "bom":
                data = b"\xef\xbb\xbf" + data
            packed = gzip.compress(data, mtime=0)
            if damage.get(name) == "truncate gzip":
                packed = packed[: len(packed) // 2]
            (source / f"{name}.csv.gz").write_bytes(packed)
        try:
            result = ingest(source_dir=source, out_dir=Path(tmp) / "out", mapping=CPDP_MAPPING)
        except (ContractError, MappingError) as exc:
            assert any(f"{name}.csv.gz" in str(exc) for name in CPDP_FILES) or isinstance(
                exc, MappingError
            ), str(exc)
            return
        counts = {(r.step, r.item): r.count for r in result.summary.itertuples(index=False)}
        officers_read = counts[("read", "officers.csv.gz rows")]
        officers_written = counts[("write", "officers.csv rows")]
        officers_quarantined = (result.quarantine["table"] == "officers").sum()
        assert officers_read == officers_written + officers_quarantined
        for item in result.quarantine.itertuples(index=False):
            assert f"{item.file} line {item.line}" in item.reason


# --- the accounting check can fail -----------------------------------------------------------


def test_a_lost_record_stops_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ewp.data.validation as validation

    typed = validation._typed
    monkeypatch.setattr(validation, "_typed", lambda table, cmap: typed(table, cmap).iloc[:-1])
    with pytest.raises(AccountingError) as caught:
        validate_export(
            read_raw_export(write_export(tmp_path / "export")),
            category_map=Config().category_map(),
        )
    assert str(caught.value) == (
        "officers.csv: 3 lines read = 0 blank + 3 records, but 2 accepted + 0 quarantined; "
        "records were lost or counted twice"
    )


def test_a_lost_record_stops_the_adapter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ewp.data.adapters.mapped as mapped

    output = mapped._output
    monkeypatch.setattr(mapped, "_output", lambda table: output(table).iloc[1:])
    source = tmp_path / "source"
    source.mkdir()
    for name in CPDP_FILES:
        (source / f"{name}.csv.gz").write_bytes(gzip.compress(CPDP_TEXTS[name].encode()))
    # The fixture's 7 officers: 4 written, 3 quarantined (test_adapter_cpdp.py); one written
    # row is now lost.
    with pytest.raises(AccountingError) as caught:
        ingest(source_dir=source, out_dir=tmp_path / "out", mapping=CPDP_MAPPING)
    assert str(caught.value) == "officers: 7 rows expected, 3 written + 3 quarantined (summary: 3)"


def test_ewp_ingest_reports_a_damaged_source_file_in_one_line(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in CPDP_FILES:
        packed = gzip.compress(CPDP_TEXTS[name].encode())
        (source / f"{name}.csv.gz").write_bytes(packed[:-12] if name == "accused" else packed)
    result = CliRunner().invoke(
        app, ["ingest", str(source), "--out", str(tmp_path / "out"), "--source", "cpdp"]
    )
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "Contract error: accused.csv.gz is not a complete gzip file (Compressed file ended "
        "before the end-of-stream marker was reached); expected gzip-compressed CSV"
    ]
    assert not (tmp_path / "out").exists()


# --- a configured reference group the data does not have ------------------------------------
def test_a_reference_group_absent_from_the_data_fails_validate_naming_field_and_groups(
    tmp_path: Path,
) -> None:
    folder = write_export(tmp_path / "export")
    config = tmp_path / "config.yaml"
    config.write_text("fairness:\n  reference_groups: {ethnicity: Asian}\n")
    code, output, _ = run_validate(folder, "-c", str(config))
    assert code == 2
    assert (
        "fairness.reference_groups.ethnicity: 'Asian' is not in the data; the groups present "
        "are ['Black', 'Unknown', 'White']"
    ) in " ".join(output.split())
    config.write_text("fairness:\n  reference_groups: {ethnicity: White}\n")
    assert run_validate(folder, "-c", str(config))[0] == 0


def test_every_flow_checks_the_reference_groups_before_any_work(tmp_path: Path) -> None:
    # The flows validate through ewp.flows.common.validate: the same check, before any training.
    from ewp.core.config import ConfigError
    from ewp.flows.common import validate

    folder = write_export(tmp_path / "export")
    config = Config(fairness={"reference_groups": {"gender": "female"}})
    with pytest.raises(ConfigError, match=r"fairness.reference_groups.gender: 'female' is not"):
        validate.fn(folder, config)
