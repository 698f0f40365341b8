"""Who is on each list, with a fair share of a place for ties, and a bootstrap over officers.

A top-``k`` list whose cut-off falls inside a group of tied scores (a rule's flags, a count,
officers with no history) lists the officers above the tie and ``places`` of the ``n_tied``
tied officers. Rather than let row order or officer IDs choose (IDs in a real export follow file
order, not chance), every tied officer holds ``places / n_tied`` of a place: the chance of being
listed under random tie-breaking. A list's true positives are then the sum of its officers'
shares times their labels, which is exactly the expected value ``ewp.models.metrics.at_k`` reports,
so point estimates and bootstrap replicates are taken on the same lists.

``CreditBuilder`` collects one test block's lists a date at a time. In each ranking, the
officers at or above the deepest cut-off are split into *blocks* at every cut-off: a run of
officers that every list includes wholly or not at all, or one tie group that some list cuts.
Each list gives each block a share (1, ``places / n_tied`` or nothing), so a tie of thousands
of officers at a score of 0 is stored once however many lists cut it. ``build`` then sums, per
list and officer, the shares over the dates (``ListCredit``): an officer listed on every weekly
date, or a tie cut on every date, is one entry per list, and test blocks pool by adding them.

``bootstrap_lists`` resamples officers (an officer appears on many dates, so dates are not
independent): each officer is drawn Poisson(1) times, the same draw for every candidate and
list, so comparisons are paired. Row 0 of every replicate array is the point estimate (every
officer drawn once), so an interval and its estimate always come from the same lists.

Worked example: on one date the rule flags {A+} and ties {B-, C+} for one more place of a list
of 2 (+ = label 1). Blocks: [A] with share 1, [B, C] with share 1/2. Places: 1 + (1 + 1)/2 = 2;
TP: 1 + (0 + 1)/2 = 1.5 (as ``at_k``). A replicate drawing A twice, B once and C not at all
has places 2 + 1/2 = 2.5 and TP 2.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ewp.models.metrics import cut_at_k

# Replicates drawn at once: weights for this many replicates x every officer are in memory.
REPLICATE_CHUNK = 64
# P(W <= k) for W ~ Poisson(1), k = 0, 1, ...: 1 to double precision by k = 18.
POISSON_ONE_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(19)])
COLUMNS = ["candidate", "list"]


@dataclass(frozen=True)
class ListCredit:
    """Every candidate's lists on some test dates, as each officer's places on each list.

    ``officers``: officer IDs (sorted, unique), the officer axis of every array.
    ``columns``: candidate, list, every list evaluated, including one empty on every date.
    ``places``: lists x officers (sparse), an officer's shares of a place on the list, summed
    over the dates; ``tp``: the same over the dates the officer's label is 1.
    ``positives``: per officer, the labelled-positive officer-dates (recall's denominator).
    """

    officers: np.ndarray
    columns: pd.DataFrame
    places: sparse.csr_matrix
    tp: sparse.csr_matrix
    positives: np.ndarray


class CreditBuilder:
    """Collects the blocks and shares of one test block's lists (see ``ListCredit``)."""

    def __init__(self, officer_ids: np.ndarray | pd.Series) -> None:
        """``officer_ids``: one per test row; rows are later referred to by position."""
        # A hash table, not a sort of strings: a national test block is millions of rows of
        # about 150,000 officers, each converted to text and sorted once.
        codes, distinct = pd.factorize(officer_ids, use_na_sentinel=False)
        text, text_codes = np.unique(np.asarray(distinct).astype(str), return_inverse=True)
        self._officers, self._codes = text.astype(object), text_codes[codes]
        self._blocks: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._shares: list[tuple[int, int, float]] = []  # block, column, share
        self._columns: dict[tuple[str, str], int] = {}
        self._positives: list[np.ndarray] = []
        self._n_blocks = 0

    def add_positives(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """The test rows of one date (positions) and their labels: recall's denominator."""
        self._positives.append(np.asarray(rows)[np.asarray(labels) == 1])

    def add_ranking(
        self,
        *,
        candidate: str,
        rows: np.ndarray,
        labels: np.ndarray,
        scores: np.ndarray,
        sizes: Mapping[str, int],
        ranked: np.ndarray | None = None,
    ) -> None:
        """One candidate's top-k lists on one date: list name -> k, cut with shared ties.

        ``rows`` (positions of the test rows), ``labels`` and ``scores`` are aligned;
        ``ranked`` is ``np.sort(scores)`` if the caller has it.
        """
        ranked = np.sort(scores) if ranked is None else ranked
        cuts = {name: cut_at_k(ranked, k) for name, k in sizes.items()}
        columns = {name: self._column(candidate, name) for name in cuts}
        listed = [cut for cut in cuts.values() if cut.k]
        if not listed:
            return
        depth = max(cut.depth for cut in listed)
        # The officers at or above the deepest cut-off, best first (order within a tie is
        # irrelevant: a tie is always one block).
        top = np.flatnonzero(scores >= ranked[ranked.size - depth])
        top = top[np.argsort(-scores[top], kind="stable")]
        bounds = np.unique([0, *(c.n_above for c in listed), *(c.depth for c in listed)])
        first = self._n_blocks
        self._add_members(
            first + np.searchsorted(bounds, np.arange(depth), side="right") - 1,
            rows[top],
            labels[top],
        )
        self._n_blocks += bounds.size - 1
        for name, cut in cuts.items():
            if not cut.k:
                continue
            full = int(np.searchsorted(bounds, cut.n_above))  # blocks wholly above the tie
            self._shares += [(first + b, columns[name], 1.0) for b in range(full)]
            if cut.places:
                self._shares.append((first + full, columns[name], cut.share))

    def add_listed(
        self, *, candidate: str, list_name: str, rows: np.ndarray, labels: np.ndarray
    ) -> None:
        """A list drawn without shared ties (e.g. capped per unit): each listed row, once."""
        column = self._column(candidate, list_name)
        if len(rows) == 0:
            return
        self._add_members(np.full(len(rows), self._n_blocks), rows, labels)
        self._shares.append((self._n_blocks, column, 1.0))
        self._n_blocks += 1

    def _column(self, candidate: str, list_name: str) -> int:
        """The list's position among the columns, added at its first appearance."""
        return self._columns.setdefault((candidate, list_name), len(self._columns))

    def _add_members(self, blocks: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
        self._blocks.append(np.asarray(blocks, dtype=np.int64))
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._labels.append(np.asarray(labels, dtype=np.int8))

    def build(self) -> ListCredit:
        """Each officer's places on each list, summed over the dates collected."""
        n_officers, n_columns = self._officers.size, len(self._columns)
        shares = np.array(self._shares, dtype=float).reshape(-1, 3)  # block, column, share
        block_share = sparse.csr_matrix(
            (shares[:, 2], (shares[:, 1].astype(np.int64), shares[:, 0].astype(np.int64))),
            shape=(n_columns, self._n_blocks),
        )
        member_block = _concat(self._blocks, np.int64)
        member_officer = self._codes[_concat(self._rows, np.int64)]
        positive = _concat(self._labels, np.int8) == 1  # only positives add to TP
        members = sparse.csr_matrix(
            (np.ones(member_block.size), (member_block, member_officer)),
            shape=(self._n_blocks, n_officers),
        )
        member_tp = sparse.csr_matrix(
            (np.ones(int(positive.sum())), (member_block[positive], member_officer[positive])),
            shape=(self._n_blocks, n_officers),
        )
        positives = self._codes[_concat(self._positives, np.int64)]
        return ListCredit(
            officers=self._officers,
            columns=pd.DataFrame(list(self._columns), columns=COLUMNS),
            places=(block_share @ members).tocsr(),
            tp=(block_share @ member_tp).tocsr(),
            positives=np.bincount(positives, minlength=n_officers).astype(float),
        )


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)


def pool_credit(credits: Iterable[ListCredit]) -> ListCredit:
    """Several test blocks' credit as one: officers merged by ID, lists by candidate and
    name (in order of first appearance), places and TP added."""
    credits = list(credits)
    officers = (
        np.unique(np.concatenate([c.officers for c in credits]))
        if credits
        else np.zeros(0, dtype=object)
    )
    columns = (
        pd.concat([c.columns for c in credits], ignore_index=True).drop_duplicates(
            ignore_index=True
        )
        if credits
        else pd.DataFrame(columns=COLUMNS)
    )
    officer_index, column_index = pd.Index(officers), pd.MultiIndex.from_frame(columns)
    shape = (len(columns), officers.size)
    places, tp = sparse.csr_matrix(shape), sparse.csr_matrix(shape)
    positives = np.zeros(officers.size)
    for credit in credits:
        to_officer = officer_index.get_indexer(credit.officers)
        to_column = column_index.get_indexer(pd.MultiIndex.from_frame(credit.columns))
        places = places + _recoded(credit.places, to_column, to_officer, shape)
        tp = tp + _recoded(credit.tp, to_column, to_officer, shape)
        positives[to_officer] += credit.positives
    return ListCredit(officers=officers, columns=columns, places=places, tp=tp, positives=positives)


def _recoded(
    matrix: sparse.csr_matrix, rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]
) -> sparse.csr_matrix:
    """``matrix`` with row ``i`` moved to ``rows[i]`` and column ``j`` to ``columns[j]``."""
    coo = matrix.tocoo()
    return sparse.csr_matrix((coo.data, (rows[coo.row], columns[coo.col])), shape=shape)


@dataclass(frozen=True)
class ListReplicates:
    """Each list's places and true positives, pooled over test dates.

    Row 0 of ``places``, ``tp`` and ``positives`` is the point estimate (every officer counted
    once); rows 1.. are bootstrap replicates. ``columns`` (candidate, list) names the columns of
    ``places`` and ``tp``; ``positives`` (labelled-positive officer-dates) has one value a row.
    """

    columns: pd.DataFrame
    places: np.ndarray
    tp: np.ndarray
    positives: np.ndarray

    def column(self, candidate: str, list_name: str) -> int:
        """The position of one candidate's list among ``columns``."""
        match = np.flatnonzero(
            (self.columns["candidate"] == candidate).to_numpy()
            & (self.columns["list"] == list_name).to_numpy()
        )
        if match.size != 1:
            raise KeyError(f"no list {list_name!r} of candidate {candidate!r}")
        return int(match[0])

    def at_list(self, list_name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Candidates with a list ``list_name``, and their places and TP (rows x candidates)."""
        chosen = np.flatnonzero((self.columns["list"] == list_name).to_numpy())
        names = self.columns["candidate"].to_numpy()[chosen].tolist()
        return names, self.places[:, chosen], self.tp[:, chosen]


def _totals(credit: ListCredit, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Places and TP (draws x lists) and positives (draws) for officer ``weights``
    (officers x draws)."""
    places, tp = (credit.places @ weights).T, (credit.tp @ weights).T
    return np.asarray(places), np.asarray(tp), credit.positives @ weights


def weighted_totals(
    credit: ListCredit, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each list's places and true positives (draws x ``credit.columns``) and the labelled
    positives (draws) when officer ``i`` counts ``weights[:, i]`` times (``credit.officers``
    order). All-ones weights give the point estimate."""
    return _totals(credit, np.atleast_2d(np.asarray(weights, dtype=float)).T)


def bootstrap_lists(credit: ListCredit, *, samples: int, seed: int) -> ListReplicates:
    """The point estimate and ``samples`` Poisson bootstrap replicates of every list.

    Officers are drawn in the order of their IDs, so a seed gives the same replicates for the
    same officers and lists whatever order the rows came in.
    """
    rng = np.random.default_rng(seed)
    n_officers = credit.officers.size
    places, tp, positives = [], [], []
    weights = np.ones((n_officers, 1))
    remaining = samples
    while True:
        chunk = _totals(credit, weights)
        places.append(chunk[0])
        tp.append(chunk[1])
        positives.append(chunk[2])
        if remaining == 0:
            break
        draws = min(REPLICATE_CHUNK, remaining)
        # Poisson(1) by its inverse distribution function: several times faster than
        # Generator.poisson, the same distribution (officers x draws, as multiplied).
        uniform = rng.random((n_officers, draws))
        weights = np.searchsorted(POISSON_ONE_CDF, uniform, side="right").astype(float)
        remaining -= draws
    return ListReplicates(
        columns=credit.columns.reset_index(drop=True),
        places=np.vstack(places),
        tp=np.vstack(tp),
        positives=np.concatenate(positives),
    )


def defined_quantiles(replicates: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the ``tail`` and ``1 - tail`` quantiles of the defined (non-NaN) replicates;
    NaN for a column with none (e.g. a ratio to a rule that never has a true positive)."""
    low = np.full(replicates.shape[1], np.nan)
    high = np.full(replicates.shape[1], np.nan)
    for column in range(replicates.shape[1]):
        defined = replicates[:, column][~np.isnan(replicates[:, column])]
        if len(defined):
            low[column], high[column] = np.quantile(defined, [tail, 1 - tail])
    return low, high


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0 (an undefined replicate)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def list_intervals(
    replicates: ListReplicates, *, confidence: float, lists: Sequence[str] | None = None
) -> pd.DataFrame:
    """Precision and recall of every list (or of ``lists``), pooled over test dates, with
    bootstrap intervals: candidate, list, places, tp, fp, precision, precision_low,
    precision_high, recall, recall_low, recall_high. Precision is TP / places (NaN for a list
    empty on every date); recall is TP / labelled positives (NaN with none)."""
    chosen = np.arange(len(replicates.columns))
    if lists is not None:
        chosen = np.flatnonzero(replicates.columns["list"].isin(list(lists)).to_numpy())
    places, tp = replicates.places[:, chosen], replicates.tp[:, chosen]
    precision = ratio(tp, places)
    recall = ratio(tp, replicates.positives[:, None] * np.ones((1, chosen.size)))
    tail = (1 - confidence) / 2
    precision_low, precision_high = defined_quantiles(precision[1:], tail)
    recall_low, recall_high = defined_quantiles(recall[1:], tail)
    return (
        replicates.columns.iloc[chosen]
        .reset_index(drop=True)
        .assign(
            places=places[0],
            tp=tp[0],
            fp=places[0] - tp[0],
            precision=precision[0],
            precision_low=precision_low,
            precision_high=precision_high,
            recall=recall[0],
            recall_low=recall_low,
            recall_high=recall_high,
        )
    )
