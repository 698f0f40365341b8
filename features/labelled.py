"""Labelled rows of the feature matrix: the rows whose label is observed, and the labels.

A row (officer, as-of date) is labelled once its whole label window is known by
``observed_until`` (``ewp.features.labels.build_labels``; findings count once decided by then).
Labels come from the identifiers alone, so only the rows kept are read in full: a training
window of many dates reads its identifiers first, then only the rows it keeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ewp.core.config import LabelConfig
from ewp.core.contract import ForceData
from ewp.features.labels import Escalations
from ewp.features.matrix import ID_COLUMNS, FeatureMatrix


def observed_label_blocks(
    data: ForceData,
    matrix: FeatureMatrix,
    dates: Sequence[dt.date],
    *,
    label: LabelConfig,
    observed_until: dt.date,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``observed_labels`` a block of dates at a time (``FeatureMatrix.id_blocks``): per block,
    the positions among all rows at ``dates`` of the rows whose label is observed, and those
    labels. A national training window (23 million rows) is never labelled in one piece."""
    escalations = Escalations.build(data, label=label, findings_known_by=observed_until)
    start = 0
    for ids in matrix.id_blocks(dates, categorical_ids=True):
        labels = escalations.labels(ids, observed_until=observed_until).to_numpy()
        observed = np.flatnonzero(~np.isnan(labels))
        yield start + observed, labels[observed]
        start += len(ids)


def observed_labels(
    data: ForceData,
    matrix: FeatureMatrix,
    dates: Sequence[dt.date],
    *,
    label: LabelConfig,
    observed_until: dt.date,
) -> tuple[np.ndarray, np.ndarray]:
    """The positions (in ``matrix.read(dates)`` order) of the rows at ``dates`` whose label is
    observed by ``observed_until``, and those labels."""
    blocks = list(
        observed_label_blocks(data, matrix, dates, label=label, observed_until=observed_until)
    )
    return (
        np.concatenate([positions for positions, _ in blocks]),
        np.concatenate([labels for _, labels in blocks]),
    )


@dataclass(frozen=True)
class LabelledDates:
    """The labelled rows at some dates held as identifiers, each date's features built when
    asked: a test block scored a date at a time never holds the whole block's features (a
    national weekly block is 8 million rows by 41 features).

    ``ids``: officer_id, unit and as_of of the labelled rows, in ``matrix.read`` order;
    ``labels`` their labels; ``observed`` their positions among all rows at the dates;
    ``starts``: each date's first position among all rows; ``dates``: the dates read.

    Worked example: dates d1 and d2 with three serving officers each (positions 0-2 and 3-5),
    labels observed at positions 0, 2, 3 and 4. ``ids`` has four rows; its rows 2 and 3 are at
    d2, and ``rows([2, 3])`` is ``matrix.read([d2], rows=[0, 1])`` (positions 3 and 4 less
    d2's start, 3): the same rows, columns and values as reading the whole block.
    """

    matrix: FeatureMatrix
    ids: pd.DataFrame
    labels: np.ndarray
    observed: np.ndarray
    starts: dict[dt.date, int]
    dates: tuple[dt.date, ...]

    @classmethod
    def read(
        cls,
        data: ForceData,
        matrix: FeatureMatrix,
        dates: Sequence[dt.date],
        *,
        label: LabelConfig,
        observed_until: dt.date,
    ) -> LabelledDates:
        """The rows at ``dates`` whose label is observed by ``observed_until``: identifiers
        and labels only (no feature is computed)."""
        observed, labels = observed_labels(
            data, matrix, dates, label=label, observed_until=observed_until
        )
        # Rows come date by date, so a date starts where the as-of date changes.
        every = pd.to_datetime(matrix.read(dates, columns=["as_of"])["as_of"]).to_numpy()
        firsts = np.flatnonzero(np.r_[True, every[1:] != every[:-1]]) if len(every) else []
        return cls(
            matrix=matrix,
            ids=matrix.read(dates, columns=list(ID_COLUMNS), rows=observed),
            labels=labels,
            observed=observed,
            starts={pd.Timestamp(every[i]).date(): int(i) for i in firsts},
            dates=tuple(dates),
        )

    def columns(self, names: list[str]) -> pd.DataFrame:
        """Columns ``names`` of every labelled row, in ``ids`` order (the rows are not
        labelled again)."""
        return self.matrix.read(list(self.dates), columns=names, rows=self.observed)

    def rows(self, positions: np.ndarray) -> pd.DataFrame:
        """Every column of the labelled rows at ``positions`` (ascending positions in ``ids``,
        all at one date), as ``matrix.read`` of the whole dates would give them."""
        picked = self.observed[np.asarray(positions)]
        date = pd.Timestamp(self.ids["as_of"].iloc[int(positions[0])]).date()
        return self.matrix.read([date], rows=picked - self.starts[date])
