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
so the rows of any dates can be built alone (``ewp.features.history.IndexedForce``): the force's
events are indexed once, and every read builds just the dates it asks for, block by block, so
memory stays bounded and nothing is written. The index holds the force's events, a few MB.

``FeatureMatrix.read`` returns the rows of some as-of dates exactly as ``build_features``
would (same order, columns and dtypes), only some columns or some rows if asked: reading only
identifiers computes no feature at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import FeatureConfig
from ewp.core.contract import ForceData
from ewp.features.history import IndexedForce, dates_per_block

ID_COLUMNS = ("officer_id", "unit", "as_of")


@dataclass(frozen=True)
class FeatureMatrix:
    """The feature matrix of a force, built on demand from its indexed events, ``block_dates``
    as-of dates at a time (default: ``ewp.features.history.dates_per_block``)."""

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
        names = list(columns) if columns is not None else None
        # A sample of a long window is built in smaller blocks: it never holds more than a few
        # dates' full rows at once.
        step = self.block_dates
        if rows is not None and step is None:
            step = max(1, dates_per_block(len(self.force.officers)) // 4)
        blocks = self.force.blocks(as_of_dates, block_dates=step)
        if names is not None and set(names) <= set(ID_COLUMNS):  # no feature to compute
            ids = self.force.ids(list(blocks), categorical=categorical_ids)
            ids = ids if rows is None else ids.take(rows).reset_index(drop=True)
            return ids[names]
        frame = self.force.matrix(
            blocks,
            rows=rows,
            features=None if names is None else [n for n in names if n not in ID_COLUMNS],
            categorical_ids=categorical_ids,
        )
        return frame if names is None else frame[names]

    def id_blocks(
        self, as_of_dates: Sequence[dt.date], *, categorical_ids: bool = False
    ) -> Iterator[pd.DataFrame]:
        """The identifier rows of ``read(as_of_dates, columns=ID_COLUMNS)``, a block of dates at
        a time and in the same order (at least one frame, empty when there are no dates): a
        long window is labelled without holding all its rows' identifiers at once."""
        for block in self.force.blocks(as_of_dates, block_dates=self.block_dates):
            yield self.force.ids([block], categorical=categorical_ids)[list(ID_COLUMNS)]
