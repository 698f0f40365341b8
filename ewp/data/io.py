"""Reading a force's export as raw text, and writing exports and quarantine reports.

File I/O only: what the rows mean and whether they are valid is ``ewp.data.validation``'s job.

* ``read_raw_export`` reads the three tables (``officers``, ``notices``, ``outcomes``), and the
  optional streams (``postings``, ``activity``) when the export has them, each from
  ``<table>.csv``, ``<table>.csv.gz`` or ``<table>.parquet``, with **every column as text** and
  blank cells as ``""``: nothing is coerced, guessed or lost before validation sees it. CSV must
  be UTF-8 (a byte-order mark, as Excel writes, is fine); any other encoding is refused with
  the line, field and byte at fault rather than guessed (``read_csv_text``, also used by the
  adapters). Parquet columns are converted to text (dates as ``YYYY-MM-DD``, whole-number
  floats such as ``1980.0`` as ``1980``).
* ``write_export`` writes the typed tables (and any streams) back in the contract's layout,
  deterministically (same frames in, same bytes out) and atomically (a reader never sees a
  half-written file).
* ``write_quarantine`` writes the quarantine report as CSV, likewise.

Every CSV is written through ``ewp.core.atomic.write_csv``, so a cell a spreadsheet would run as a
formula is written with a leading ``'``; ``read_raw_export`` removes it again from CSV tables,
so an export ewp wrote (``ewp ingest``, the synthetic force) reads back exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ewp.core.atomic import atomic_path, spreadsheet_restored, write_csv
from ewp.core.contract import (
    ACTIVITY,
    COLUMNS,
    NOTICES,
    OFFICERS,
    OUTCOMES,
    POSTINGS,
    STREAMS,
    TABLES,
)
from ewp.core.errors import ContractError

SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")


@dataclass(frozen=True)
class RawExport:
    """An export as read from disk: every cell as text, blank cells as ``""``.

    ``tables`` maps each table name to its frame (columns as in the file, rows in file order);
    ``files`` maps each table name to the file it came from (a bare name such as
    ``notices.csv``), used in messages.
    """

    tables: dict[str, pd.DataFrame]
    files: dict[str, str]
    extracted_on: dt.date | None = None  # from export.json, if the export has one


def find_table_file(data_dir: Path, table: str) -> Path:
    """The one file holding ``table`` in ``data_dir``: ``<table>.csv``, ``.csv.gz`` or ``.parquet``.

    Raises ``ContractError`` if the directory holds none of them, or more than one.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(f"export directory {data_dir} does not exist")
    names = [f"{table}{suffix}" for suffix in SUFFIXES]
    found = [data_dir / name for name in names if (data_dir / name).is_file()]
    if not found:
        raise ContractError(f"{data_dir}: no {table} table: expected one of {', '.join(names)}")
    if len(found) > 1:
        raise ContractError(
            f"{data_dir}: several files for the {table} table "
            f"({', '.join(p.name for p in found)}); keep exactly one"
        )
    return found[0]


def read_raw_export(data_dir: Path) -> RawExport:
    """Read the three tables of the export in ``data_dir`` as text, and the optional streams
    (``postings``, ``activity``) it has: a stream without a file is absent from the result.

    A CSV cell written spreadsheet-safe (``'=…``, see ``ewp.core.atomic``) is read as the value it
    stands for (``=…``). An ``export.json`` beside the tables gives the day the export was
    taken (``{"extracted_on": "YYYY-MM-DD"}``). Raises ``ContractError`` naming the file when a
    table is missing, ambiguous or unreadable (not UTF-8, not CSV, a damaged gzip or Parquet
    file), or export.json is not such an object.
    """
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    present = [
        table
        for table in STREAMS
        if any((Path(data_dir) / f"{table}{suffix}").is_file() for suffix in SUFFIXES)
    ]
    for table in (*TABLES, *present):
        path = find_table_file(Path(data_dir), table)
        if path.name.endswith(".parquet"):
            tables[table] = _read_parquet(path)
        else:
            tables[table] = spreadsheet_restored(read_csv_text(path))
        files[table] = path.name
    return RawExport(tables=tables, files=files, extracted_on=read_export_manifest(data_dir))


EXPORT_MANIFEST = "export.json"


def read_export_manifest(data_dir: Path) -> dt.date | None:
    """The ``extracted_on`` date of the export's ``export.json``, or None if it has none."""
    path = Path(data_dir) / EXPORT_MANIFEST
    if not path.is_file():
        return None
    expected = 'expected {"extracted_on": "YYYY-MM-DD"}'
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"{EXPORT_MANIFEST} is not JSON ({exc}); {expected}") from exc
    value = manifest.get("extracted_on") if isinstance(manifest, dict) else None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ContractError(
            f"{EXPORT_MANIFEST}, field extracted_on: {value!r} is not a date; {expected}"
        ) from exc


def write_export(
    *,
    officers: pd.DataFrame,
    notices: pd.DataFrame,
    outcomes: pd.DataFrame,
    out_dir: Path,
    fmt: Literal["csv", "parquet"] = "csv",
    postings: pd.DataFrame | None = None,
    activity: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the three tables, and the streams given, to ``out_dir/<table>.<fmt>``; return the
    path of each.

    Columns: the contract's columns present in the frame, in contract order, then any other
    columns as given. A validated notices table's ``category_raw`` (the force's own label) is
    written as ``category``, so writing ``ForceData`` reproduces the export it came from.
    Rows are written in the order given, without the index. CSV: UTF-8, ``\\n`` line ends,
    dates as ``YYYY-MM-DD``, missing values as blank cells. Parquet: dates as ``date32``.

    Each file is written under a temporary name and renamed into place. Files of the same
    table in another format (say ``officers.csv.gz`` when writing CSV) are then removed, so the
    directory holds one export that ``read_raw_export`` can read; so are the files of a stream
    not given (None), which the export then does not have.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    given = ((OFFICERS, officers), (NOTICES, notices), (OUTCOMES, outcomes))
    for table, frame in ((POSTINGS, postings), (ACTIVITY, activity)):
        if frame is None:
            for suffix in SUFFIXES:
                (out_dir / f"{table}{suffix}").unlink(missing_ok=True)
        else:
            given += ((table, frame),)
    for table, frame in given:
        export = _contract_layout(table, frame)
        path = out_dir / f"{table}.{fmt}"
        if fmt == "csv":
            _write_csv(export, path)
        else:
            _write_parquet(export, path)
        for suffix in SUFFIXES:
            other = out_dir / f"{table}{suffix}"
            if other != path:
                other.unlink(missing_ok=True)
        paths[table] = path
    return paths


# The synthetic force's latent risk sits in a subfolder of its export: readers of the contract
# and the data fingerprint look only at the export's top-level table files, so no model sees it.
GROUND_TRUTH_PATH = Path("ground_truth") / "latent_risk.parquet"


def write_ground_truth(ground_truth: pd.DataFrame, export_dir: Path) -> Path:
    """Write a synthetic force's ground truth beside (not inside) its contract tables."""
    path = Path(export_dir) / GROUND_TRUTH_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_parquet(ground_truth, path)
    return path


def read_ground_truth(export_dir: Path) -> pd.DataFrame | None:
    """The ground truth written by ``write_ground_truth``, or None for a real force's export."""
    path = Path(export_dir) / GROUND_TRUTH_PATH
    return pd.read_parquet(path) if path.exists() else None


def write_quarantine(quarantine: pd.DataFrame, path: Path) -> Path:
    """Write the quarantine report (see ``ewp.data.validation``) to ``path`` as CSV; return
    ``path``.

    Deterministic and atomic like ``write_export``; the parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(quarantine, path)
    return path


def read_csv_text(
    path: Path,
    *,
    skip_blank_lines: bool = False,
    names: Sequence[str] | None = None,
    data: bytes | None = None,
) -> pd.DataFrame:
    """A CSV file (``.gz``: gzip-compressed) as text: every cell a string, blank cells ``""``.

    The file must be UTF-8; a leading byte-order mark is dropped. Blank lines are kept as
    all-blank rows, so row positions still give line numbers, unless ``skip_blank_lines``.
    ``names``: the file has no header line and these are its columns, in order. ``data``: the
    file's bytes when they do not come from ``path`` (a member of a zip archive); ``path`` then
    names it in messages.
    Raises ``ContractError`` naming the file (and the line and field where there is one) for a
    damaged gzip file, another encoding, an empty file, a repeated column name or a line that
    does not parse.
    """
    path = Path(path)
    name = str(path) if data is not None else path.name
    data = path.read_bytes() if data is None else data
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ContractError(
                f"{name} is not a complete gzip file ({exc}); expected gzip-compressed CSV"
            ) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContractError(_encoding_problem(name, data, exc)) from exc
    columns = list(names) if names is not None else _first_record(text)
    columns = [column.strip() for column in columns]
    repeated = sorted({column for column in columns if columns.count(column) > 1})
    if repeated:
        listed = ", ".join(f'"{column}"' for column in repeated)
        where = "the columns given for it" if names is not None else "line 1"
        raise ContractError(f"{name} {where}: column {listed} appears more than once")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=skip_blank_lines,
            header=0 if names is None else None,
        )
    except pd.errors.EmptyDataError as exc:
        expected = "a header line naming the columns" if names is None else "rows"
        raise ContractError(f"{name} is empty: expected {expected}") from exc
    except pd.errors.ParserError as exc:
        fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if fields:
            expected, line, saw = fields.groups()
            given = "the header has" if names is None else "the mapping names"
            raise ContractError(
                f"{name} line {line} has {saw} fields but {given} {expected}: "
                "quote values that contain a comma"
            ) from exc
        unclosed = re.search(r"EOF inside string starting at row (\d+)", str(exc))
        if unclosed:  # pandas counts rows from 0 here, header included
            raise ContractError(
                f"{name} line {int(unclosed.group(1)) + 1}: a quoted value is never closed "
                '(expected a closing ")'
            ) from exc
        raise ContractError(f"{name} cannot be read as CSV: {str(exc).strip()}") from exc
    if names is not None:
        # Without a header the first line sets the width (a longer later line is refused above).
        if frame.shape[1] != len(columns):
            raise ContractError(
                f"{name} line 1 has {frame.shape[1]} fields but the mapping names "
                f"{len(columns)} columns ({', '.join(columns)})"
            )
        frame.columns = columns
    return frame


def _encoding_problem(name: str, data: bytes, exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8: its line, field and the byte, and what was expected."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return f"{name} is UTF-16 text; expected UTF-8: save it as CSV UTF-8"
    start = data.rfind(b"\n", 0, exc.start) + 1
    end = data.find(b"\n", exc.start)
    line = data[start : len(data) if end < 0 else end].rstrip(b"\r")
    line_number = data.count(b"\n", 0, exc.start) + 1
    where = f"{name} line {line_number}"
    # Latin-1 maps each byte to one character, so the line splits into fields byte for byte.
    fields = _first_record(line.decode("latin-1"))
    header = _first_record(data.split(b"\n", 1)[0].decode("utf-8", errors="replace"))
    value = line.decode("cp1252", errors="replace")
    for position, field in enumerate(fields):
        try:
            field.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            value = field.encode("latin-1").decode("cp1252", errors="replace")
            if start > 0 and position < len(header):
                where += f", field {header[position].strip().lstrip(chr(0xFEFF))}"
            break
    return (
        f'{where}: byte 0x{data[exc.start]:02X} in "{value.strip()}" is not UTF-8 (the file '
        "looks like Latin-1 or Windows-1252); expected UTF-8: save it as CSV UTF-8"
    )


def _first_record(text: str) -> list[str]:
    """The first CSV record of ``text`` (the header line), or ``[]`` if it does not parse."""
    try:
        return next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        return []


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path.name} cannot be read as Parquet: {exc}") from exc
    text = {}
    for name in frame.columns:
        try:
            text[str(name)] = _as_text(frame[name], date_only=False)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise ContractError(
                f"{path.name}: column {name!r} cannot be read as text ({exc}); expected text, "
                "numbers or dates"
            ) from exc
    return pd.DataFrame(text, index=pd.RangeIndex(len(frame)))


def _as_text(values: pd.Series, *, date_only: bool) -> pd.Series:
    """A column as text: dates ISO, whole-number floats without ``.0``, missing as ``""``."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        values.dtype
    ):
        known = values.dropna()
        midnight = bool((known == known.dt.normalize()).all())
        fmt = "%Y-%m-%d" if date_only or midnight else "%Y-%m-%dT%H:%M:%S"
        text = values.dt.strftime(fmt)
    elif pd.api.types.is_float_dtype(values.dtype):
        known = values.dropna().to_numpy(dtype="float64")
        # Beyond 2**53 a float no longer holds every whole number: keep such values as floats.
        whole = bool(
            np.isfinite(known).all()
            and (known == np.round(known)).all()
            and (np.abs(known) < 2**53).all()
        )
        text = (values.astype("Int64") if whole else values).astype("string")
    else:
        text = values.astype("string")
    return text.fillna("").astype(str)


def _contract_layout(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    required, optional = COLUMNS[table]
    if "category_raw" in frame.columns:
        frame = frame.assign(category=frame["category_raw"]).drop(columns="category_raw")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"cannot write the {table} table: missing required columns {missing}")
    contract = [column for column in (*required, *optional) if column in frame.columns]
    others = [column for column in frame.columns if column not in contract]
    return frame[contract + others]


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    text = pd.DataFrame(
        {name: _as_text(frame[name], date_only=True) for name in frame.columns},
        index=pd.RangeIndex(len(frame)),
        columns=frame.columns,
    )
    write_csv(text, path, lineterminator="\n", encoding="utf-8")


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    dates = [
        name
        for name in frame.columns
        if pd.api.types.is_datetime64_dtype(frame[name].dtype)
        or isinstance(frame[name].dtype, pd.DatetimeTZDtype)
    ]
    days = frame.assign(**{name: frame[name].dt.normalize() for name in dates})
    table = pa.Table.from_pandas(days.reset_index(drop=True), preserve_index=False)
    for name in dates:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(pa.date32()))
    # No pandas metadata: a plain file for any Parquet reader, identical across pandas versions.
    table = table.replace_schema_metadata(None)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
