"""Feature matrices cached as Parquet under the data home, keyed by data, config and code.

Every training run starts from the feature matrix. For a national force at weekly cadence that
is some 80 million rows: too big to hold in memory beside everything else, and a minute's work
worth doing once. ``cache_features`` streams the matrix block by block from
``features.history.iter_feature_blocks`` into one Parquet file with one row group per as-of
date, at ``<home>/features/<key>.parquet``. The key is a fingerprint of the data, the feature
config, the as-of dates and the feature code itself (``features/*.py``), so a rerun on the same
data and config reuses the file and any change builds a new one. The file is written under a
temporary name and renamed, so a reader never sees half of it.

``FeatureCache.read`` returns the rows of some as-of dates, exactly as ``build_features``
would (same order, columns and dtypes), reading only those dates' row groups and, if asked,
only some columns or some rows: a training split holds only what it uses.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import features
from ewp.config import FeatureConfig
from ewp.contract import ForceData
from ewp.progress import step
from ewp.provenance import fingerprint_files, fingerprint_json
from features.history import iter_feature_blocks

_DATES_KEY = b"ewp.as_of_dates"


def _code_fingerprint() -> str:
    """A hash of the feature code: a matrix built by other code is never reused."""
    return fingerprint_files(Path(features.__file__).parent.glob("*.py"))


def cache_key(
    *, data_fingerprint: str, config: FeatureConfig, as_of_dates: Sequence[dt.date]
) -> str:
    """The cache file's name: data, feature config, as-of dates and feature code."""
    return fingerprint_json(
        {
            "data": data_fingerprint,
            "features": config.model_dump(mode="json"),
            "as_of_dates": sorted({d.isoformat() for d in as_of_dates}),
            "code": _code_fingerprint(),
        }
    )[:16]


@dataclass(frozen=True)
class FeatureCache:
    """A cached feature matrix: one Parquet row group per as-of date, in date order."""

    path: Path

    def _groups(self) -> dict[dt.date, int]:
        """As-of date -> its row group (dates with no serving officer have none)."""
        metadata = pq.read_metadata(self.path).metadata
        return {dt.date.fromisoformat(d): i for i, d in enumerate(json.loads(metadata[_DATES_KEY]))}

    @property
    def as_of_dates(self) -> list[dt.date]:
        """The as-of dates that have rows, ascending."""
        return list(self._groups())

    def read(
        self,
        as_of_dates: Sequence[dt.date],
        *,
        columns: Sequence[str] | None = None,
        rows: np.ndarray | None = None,
        categorical_ids: bool = False,
    ) -> pd.DataFrame:
        """The matrix rows at ``as_of_dates``, as ``build_features`` returns them.

        ``columns`` (default all) picks columns; ``rows`` (ascending positions among the rows
        at those dates) picks rows, reading one date at a time. ``categorical_ids`` returns
        ``officer_id`` and ``unit`` as pandas categoricals (Parquet's dictionary encoding): a
        code per row instead of a string, for reading millions of identifiers.
        """
        groups = self._groups()
        wanted = sorted(groups[d] for d in set(as_of_dates) if d in groups)
        names = list(columns) if columns is not None else pq.read_schema(self.path).names
        dictionary = [n for n in ("officer_id", "unit") if n in names] if categorical_ids else []
        parquet = pq.ParquetFile(self.path, read_dictionary=dictionary)
        tables, start = [], 0
        for group in wanted:
            table = parquet.read_row_group(group, columns=names)
            if rows is not None:
                inside = rows[(rows >= start) & (rows < start + table.num_rows)] - start
                start += table.num_rows
                table = table.take(inside)
            tables.append(table)
        if not tables:
            tables = [parquet.schema_arrow.empty_table().select(names)]
        table = pa.concat_tables(tables).unify_dictionaries()
        frame = table.to_pandas(self_destruct=True)
        if "as_of" in frame.columns:
            frame["as_of"] = frame["as_of"].astype("datetime64[s]")
        return frame


def _write(path: Path, blocks: Iterable[pd.DataFrame]) -> None:
    """Write blocks of the matrix, one row group per as-of date, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    dates: list[str] = []
    writer: pq.ParquetWriter | None = None
    try:
        for block in blocks:
            table = pa.Table.from_pandas(block, preserve_index=False).replace_schema_metadata(None)
            as_of = block["as_of"].to_numpy()
            # Rows are in date order: each date is a contiguous slice of the block.
            days, starts = np.unique(as_of, return_index=True)
            for day, begin, end in zip(days, starts, [*starts[1:], len(as_of)], strict=True):
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.slice(begin, end - begin))
                dates.append(pd.Timestamp(day).date().isoformat())
        if writer is None:  # no rows at all: an empty file with the schema
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.add_key_value_metadata({_DATES_KEY: json.dumps(dates).encode()})
        writer.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def cache_features(
    data: ForceData,
    as_of_dates: Sequence[dt.date],
    *,
    config: FeatureConfig,
    data_fingerprint: str,
    cache_dir: Path,
) -> FeatureCache:
    """The cached matrix for these data, config and dates: built and written once, reused.
    Building it is reported as a step counted in as-of dates (``ewp.progress``)."""
    key = cache_key(data_fingerprint=data_fingerprint, config=config, as_of_dates=as_of_dates)
    path = cache_dir / f"{key}.parquet"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        total = len(set(as_of_dates))
        blocks = iter_feature_blocks(data, as_of_dates, config=config)
        with step(f"Building the feature matrix ({total} as-of dates)", total=total) as building:
            _write(path, _counted(blocks, building.advance))
    return FeatureCache(path)


def _counted(
    blocks: Iterable[pd.DataFrame], advance: Callable[[int], None]
) -> Iterator[pd.DataFrame]:
    """The blocks, counting each block's as-of dates once it has been consumed."""
    for block in blocks:
        yield block
        advance(int(block["as_of"].nunique()))
