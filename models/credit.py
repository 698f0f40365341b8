"""Who is on each list, with a fair share of a place for ties, and a bootstrap over officers.

A top-``k`` list whose cut-off falls inside a group of tied scores (a rule's flags, a count,
officers with no history) lists the officers above the tie and ``places`` of the ``n_tied``
tied officers. Rather than let row order or officer IDs choose (IDs in a real export follow file
order, not chance), every tied officer holds ``places / n_tied`` of a place: the chance of being
listed under random tie-breaking. A list's true positives are then the sum of its officers'
shares times their labels, which is exactly the expected value ``ewp.models.metrics.at_k`` reports,
so point estimates and bootstrap replicates are taken on the same lists.

``ListCredit`` stores this compactly for every candidate, list and test date. In each ranking,
the officers at or above the deepest cut-off are split into *blocks* at every cut-off: a run of
officers that every list includes wholly or not at all, or one tie group that some list cuts.
Each list gives each block a share (1, ``places / n_tied`` or nothing), so a tie of thousands
of officers at a score of 0 is stored once however many lists cut it.

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
    """Every candidate's lists on every test date, as blocks of officers and shares of a place.

    ``officers``: officer IDs (sorted, unique); the ``*_officer`` arrays index into it.
    ``member_block``, ``member_officer``, ``member_label``: one entry per officer and date in a
    block. ``shares``: block, candidate, list, share (of a place, per member of the block).
    ``columns``: candidate, list, every list evaluated, including one empty on every date.
    ``positive_officer``: one entry per labelled-positive officer-date (recall's denominator).
    """

    officers: np.ndarray
    member_block: np.ndarray
    member_officer: np.ndarray
    member_label: np.ndarray
    shares: pd.DataFrame
    columns: pd.DataFrame
    positive_officer: np.ndarray
    n_blocks: int


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
        self._shares: list[tuple[int, str, str, float]] = []
        self._columns: dict[tuple[str, str], None] = {}
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
        for name in cuts:
            self._columns[(candidate, name)] = None
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
            self._shares += [(first + b, candidate, name, 1.0) for b in range(full)]
            if cut.places:
                self._shares.append((first + full, candidate, name, cut.share))

    def add_listed(
        self, *, candidate: str, list_name: str, rows: np.ndarray, labels: np.ndarray
    ) -> None:
        """A list drawn without shared ties (e.g. capped per unit): each listed row, once."""
        self._columns[(candidate, list_name)] = None
        if len(rows) == 0:
            return
        self._add_members(np.full(len(rows), self._n_blocks), rows, labels)
        self._shares.append((self._n_blocks, candidate, list_name, 1.0))
        self._n_blocks += 1

    def _add_members(self, blocks: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> None:
        self._blocks.append(np.asarray(blocks, dtype=np.int64))
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._labels.append(np.asarray(labels, dtype=np.int8))

    def build(self) -> ListCredit:
        """The collected credit, officers referred to by their index in ``officers``."""
        rows = _concat(self._rows, np.int64)
        return ListCredit(
            officers=self._officers,
            member_block=_concat(self._blocks, np.int64),
            member_officer=self._codes[rows],
            member_label=_concat(self._labels, np.int8),
            shares=pd.DataFrame(self._shares, columns=["block", *COLUMNS, "share"]),
            columns=pd.DataFrame(list(self._columns), columns=COLUMNS),
            positive_officer=self._codes[_concat(self._positives, np.int64)],
            n_blocks=self._n_blocks,
        )


def _concat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype=dtype)


def pool_credit(credits: Iterable[ListCredit]) -> ListCredit:
    """Several test blocks' credit as one (blocks renumbered, officers merged by ID)."""
    credits = list(credits)
    officers = (
        np.unique(np.concatenate([c.officers for c in credits])) if credits else np.zeros(0, str)
    )
    index = pd.Index(officers)
    blocks, members, shares, positives, offset = [], [], [], [], 0
    for credit in credits:
        recode = index.get_indexer(credit.officers)
        blocks.append(credit.member_block + offset)
        members.append(recode[credit.member_officer])
        positives.append(recode[credit.positive_officer])
        shares.append(credit.shares.assign(block=credit.shares["block"] + offset))
        offset += credit.n_blocks
    columns = (
        pd.concat([c.columns for c in credits], ignore_index=True).drop_duplicates(
            ignore_index=True
        )
        if credits
        else pd.DataFrame(columns=COLUMNS)
    )
    return ListCredit(
        officers=officers,
        member_block=_concat(blocks, np.int64),
        member_officer=_concat(members, np.int64),
        member_label=_concat([c.member_label for c in credits], np.int8),
        shares=pd.concat(shares, ignore_index=True)
        if shares
        else pd.DataFrame(columns=["block", *COLUMNS, "share"]),
        columns=columns,
        positive_officer=_concat(positives, np.int64),
        n_blocks=offset,
    )


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


class _Totals:
    """The sparse matrices that turn officer weights into each list's places and TP."""

    def __init__(self, credit: ListCredit) -> None:
        n_officers, n_blocks = credit.officers.size, credit.n_blocks
        self.columns = credit.columns.reset_index(drop=True)
        shares = credit.shares
        share_column = pd.MultiIndex.from_frame(self.columns[COLUMNS]).get_indexer(
            pd.MultiIndex.from_frame(shares[COLUMNS])
        )
        block_share = sparse.csr_matrix(
            (shares["share"].to_numpy(dtype=float), (shares["block"].to_numpy(), share_column)),
            shape=(n_blocks, len(self.columns)),
        ).T.tocsr()
        where = (credit.member_block, credit.member_officer)
        members = sparse.csr_matrix(
            (np.ones(credit.member_block.size), where), shape=(n_blocks, n_officers)
        )
        positive = credit.member_label == 1  # only positives add to TP: store only them
        member_tp = sparse.csr_matrix(
            (
                np.ones(int(positive.sum())),
                (credit.member_block[positive], credit.member_officer[positive]),
            ),
            shape=(n_blocks, n_officers),
        )
        # (lists x blocks) @ (blocks x officers), once: each officer's places on each list,
        # summed over dates. An officer on a list on every weekly date, or a tie of thousands
        # cut on every date, is one entry per list, where blocks hold one per date.
        self.places = (block_share @ members).tocsr()
        self.tp = (block_share @ member_tp).tocsr()
        self.positives = np.bincount(credit.positive_officer, minlength=n_officers).astype(float)

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Places and TP (draws x lists) and positives (draws) for officer ``weights``
        (officers x draws)."""
        places, tp = (self.places @ weights).T, (self.tp @ weights).T
        return np.asarray(places), np.asarray(tp), self.positives @ weights


def weighted_totals(
    credit: ListCredit, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each list's places and true positives (draws x ``credit.columns``) and the labelled
    positives (draws) when officer ``i`` counts ``weights[:, i]`` times (``credit.officers``
    order). All-ones weights give the point estimate."""
    return _Totals(credit)(np.atleast_2d(np.asarray(weights, dtype=float)).T)


def bootstrap_lists(credit: ListCredit, *, samples: int, seed: int) -> ListReplicates:
    """The point estimate and ``samples`` Poisson bootstrap replicates of every list.

    Officers are drawn in the order of their IDs, so a seed gives the same replicates for the
    same officers and lists whatever order the rows came in.
    """
    totals = _Totals(credit)
    rng = np.random.default_rng(seed)
    n_officers = credit.officers.size
    places, tp, positives = [], [], []
    weights = np.ones((n_officers, 1))
    remaining = samples
    while True:
        chunk = totals(weights)
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
        columns=totals.columns,
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
