"""The feature matrix as a training run reads it: rows built on demand, never written to disk.

A training run reads the matrix many times over: each split its training window (only the
identifiers first, to label and subsample them, then the kept rows) and its test block, the
audit every test block, the final refit the latest window. For a national force at weekly
cadence the whole matrix is some 80 million rows by 44 columns.

It used to be written once to a Parquet cache under the data home and read back. Measured
(``ewp bench``, docs/performance.md), that cost more than it saved: writing the file took over
four times as long as building the matrix it held, and *reading* a date's rows back (decoding
the columns, assembling the frame) took longer than building them again from the indexed
events. A feature at an as-of date depends only on that date and the events known before it,
so the rows of any dates can be built alone (``features.history.IndexedForce``): the force's
events are indexed once, and every read builds just the dates it asks for, block by block, so
memory stays bounded and nothing is written. The index holds the force's events, a few MB.

``FeatureMatrix.read`` returns the rows of some as-of dates exactly as ``build_features``
would (same order, columns and dtypes), only some columns or some rows if asked: reading only
identifiers computes no feature at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.config import FeatureConfig
from ewp.contract import ForceData
from features.history import IndexedForce

ID_COLUMNS = ("officer_id", "unit", "as_of")


@dataclass(frozen=True)
class FeatureMatrix:
    """The feature matrix of a force, built on demand from its indexed events, ``block_dates``
    as-of dates at a time (default: ``features.history.dates_per_block``)."""

    force: IndexedForce
    block_dates: int | None = None

    @classmethod
    def index(cls, data: ForceData, *, config: FeatureConfig) -> FeatureMatrix:
        """The matrix of ``data`` with the features of ``config`` (indexes the events)."""
        return cls(IndexedForce.build(data, config=config))

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
        at those dates) picks rows: the dates are built block by block and each block keeps
        only its picked rows, so a sample of a long window never holds the whole window.
        ``categorical_ids`` returns ``officer_id`` and ``unit`` as pandas categoricals (a code
        per row instead of a string, for labelling millions of rows). Asking only for
        identifiers computes no feature.
        """
        ids_only = columns is not None and set(columns) <= set(ID_COLUMNS)
        frames, start = [], 0
        for block in self.force.blocks(as_of_dates, block_dates=self.block_dates):
            size = len(block.row_dates)
            picked = None
            if rows is not None:
                picked = rows[(rows >= start) & (rows < start + size)] - start
                start += size
                if len(picked) == 0:
                    continue
            if ids_only:
                frame = self.force.ids([block], categorical=categorical_ids)
            else:
                frame = self.force.matrix([block], categorical_ids=categorical_ids)
            if picked is not None:
                frame = frame.take(picked)
            frames.append(frame if columns is None else frame[list(columns)])
        if not frames:  # no rows: the columns, empty
            block = next(iter(self.force.blocks([])))
            empty = self.force.matrix([block], categorical_ids=categorical_ids)
            frames = [empty if columns is None else empty[list(columns)]]
        return (
            pd.concat(frames, ignore_index=True)
            if len(frames) > 1
            else frames[0].reset_index(drop=True)
        )
