"""Reading a force's export as raw text, and writing exports and quarantine reports.

File I/O only: what the rows mean and whether they are valid is ``ewp.validation``'s job.

* ``read_raw_export`` reads the three tables (``officers``, ``notices``, ``outcomes``), each from
  ``<table>.csv``, ``<table>.csv.gz`` or ``<table>.parquet``, with **every column as text** and
  blank cells as ``""``: nothing is coerced, guessed or lost before validation sees it. CSV must
  be UTF-8 (a byte-order mark, as Excel writes, is fine). Parquet columns are converted to
  text (dates as ``YYYY-MM-DD``, whole-number floats such as ``1980.0`` as ``1980``).
* ``write_export`` writes three typed tables back in the contract's layout, deterministically
  (same frames in, same bytes out) and atomically (a reader never sees a half-written file).
* ``write_quarantine`` writes the quarantine report as CSV, likewise.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ewp.contract import COLUMNS, NOTICES, OFFICERS, OUTCOMES, TABLES
from ewp.validation import ContractError

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
    """Read the three tables of the export in ``data_dir`` as text.

    Raises ``ContractError`` naming the file when a table is missing, ambiguous or unreadable
    (not UTF-8, not CSV, a damaged gzip or Parquet file).
    """
    tables: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for table in TABLES:
        path = find_table_file(Path(data_dir), table)
        reader = _read_parquet if path.name.endswith(".parquet") else _read_csv
        tables[table] = reader(path)
        files[table] = path.name
    return RawExport(tables=tables, files=files)


def write_export(
    *,
    officers: pd.DataFrame,
    notices: pd.DataFrame,
    outcomes: pd.DataFrame,
    out_dir: Path,
    fmt: Literal["csv", "parquet"] = "csv",
) -> dict[str, Path]:
    """Write the three tables to ``out_dir/<table>.<fmt>``; return the path of each.

    Columns: the contract's columns present in the frame, in contract order, then any other
    columns as given. A validated notices table's ``category_raw`` (the force's own label) is
    written as ``category``, so writing ``ForceData`` reproduces the export it came from.
    Rows are written in the order given, without the index. CSV: UTF-8, ``\\n`` line ends,
    dates as ``YYYY-MM-DD``, missing values as blank cells. Parquet: dates as ``date32``.

    Each file is written under a temporary name and renamed into place. Files of the same
    table in another format (say ``officers.csv.gz`` when writing CSV) are then removed, so the
    directory holds one export that ``read_raw_export`` can read.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be 'csv' or 'parquet', not {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table, frame in ((OFFICERS, officers), (NOTICES, notices), (OUTCOMES, outcomes)):
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
    """Write the quarantine report (see ``ewp.validation``) to ``path`` as CSV; return ``path``.

    Deterministic and atomic like ``write_export``; the parent directory is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(quarantine, path)
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            # Blank lines stay as all-blank rows so row positions still give line numbers.
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except UnicodeDecodeError as exc:
        raise ContractError(
            f"{path.name} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as CSV UTF-8"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise ContractError(
            f"{path.name} is empty: expected a header line naming the columns"
        ) from exc
    except pd.errors.ParserError as exc:
        raise ContractError(f"{path.name} cannot be read as CSV: {exc}") from exc
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ContractError(f"{path.name} is not a complete gzip file: {exc}") from exc
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path.name} cannot be read as Parquet: {exc}") from exc
    text = {str(name): _as_text(frame[name], date_only=False) for name in frame.columns}
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
        whole = bool(np.isfinite(known).all() and (known == np.round(known)).all())
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


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``, renamed onto it if the block succeeds."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    text = pd.DataFrame(
        {name: _as_text(frame[name], date_only=True) for name in frame.columns},
        index=pd.RangeIndex(len(frame)),
        columns=frame.columns,
    )
    with _atomic_path(path) as tmp:
        text.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


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
    with _atomic_path(path) as tmp:
        pq.write_table(table, tmp)
