"""The flag list a standards unit receives: top-k officers, reasons in words, provenance.

Pure: DataFrames in, DataFrame out. Every flag carries the model version and data snapshot it
came from and empty review columns where a human records the decision (with the version of the
decision the row is filled in against: 0); a flag is a prompt for human review, never a finding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

import pandas as pd

from ewp.config import ScoringConfig

REVIEW_COLUMNS: tuple[str, ...] = ("review_decision", "reviewer", "reviewed_on", "review_note")
# The version of the decision a row of flags.csv is filled in against: 0, undecided when the
# list was published (``ewp review import`` refuses to replace a decision recorded since).
REVIEW_VERSION = "review_version"


def flag_id(*, officer_id: str, as_of: str, model_version: str) -> str:
    """A stable identifier for one flag: the same officer, date and model give the same ID."""
    digest = hashlib.sha256(f"{officer_id}|{as_of}|{model_version}".encode()).hexdigest()
    return f"F{digest[:12]}"


def select_flags(
    scored: pd.DataFrame, *, scoring: ScoringConfig, suppressed: Collection[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the list from scored officers (``officer_id``, ``unit``, ``score``, ...).

    Officers in ``suppressed`` (reviewed recently, nothing new since) are not listed; the rest
    are ranked by score (ties by officer_id), capped at ``max_per_unit`` per unit, then cut at
    ``top_k`` or at ``threshold``. Returns (the list with ``rank`` 1..n, the suppressed
    officers who score at least as high as the last listed officer, i.e. would have been on
    it).
    """
    ordered = scored.sort_values(["score", "officer_id"], ascending=[False, True], kind="stable")
    is_suppressed = ordered["officer_id"].isin(set(suppressed))
    eligible = ordered.loc[~is_suppressed]
    if scoring.max_per_unit is not None:
        eligible = eligible.loc[eligible.groupby("unit").cumcount() < scoring.max_per_unit]
    if scoring.selection == "threshold":
        listed = eligible.loc[eligible["score"] >= scoring.threshold]
    else:
        listed = eligible.head(scoring.top_k)
    listed = listed.reset_index(drop=True)
    listed.insert(0, "rank", range(1, len(listed) + 1))
    floor = listed["score"].min() if len(listed) else float("inf")
    held_back = ordered.loc[is_suppressed & (ordered["score"] >= floor)].reset_index(drop=True)
    return listed, held_back


def build_flag_list(
    *,
    flagged: pd.DataFrame,
    reasons: pd.DataFrame,
    model_version: str,
    data_fingerprint: str,
    reasons_per_flag: int,
) -> pd.DataFrame:
    """Assemble the published list.

    ``flagged`` has ``rank``, ``officer_id``, ``unit``, ``as_of``, ``score``; ``reasons`` has
    ``officer_id``, ``rank`` and ``sentence`` (the reason in words), e.g. from
    ``models.explain.top_reasons`` with sentences added.
    """
    out = flagged[["rank", "officer_id", "unit", "as_of", "score"]].copy()
    out["as_of"] = pd.to_datetime(out["as_of"]).dt.strftime("%Y-%m-%d")
    out["score"] = out["score"].round(6)
    out.insert(
        0,
        "flag_id",
        [
            flag_id(officer_id=o, as_of=a, model_version=model_version)
            for o, a in zip(out["officer_id"], out["as_of"], strict=True)
        ],
    )
    for rank in range(1, reasons_per_flag + 1):
        by_officer = dict(
            reasons.loc[reasons["rank"] == rank, ["officer_id", "sentence"]].itertuples(index=False)
        )
        out[f"reason_{rank}"] = [by_officer.get(officer, "") for officer in out["officer_id"]]
    out["model_version"] = model_version
    out["data_fingerprint"] = data_fingerprint
    for column in REVIEW_COLUMNS:
        out[column] = ""
    out[REVIEW_VERSION] = 0
    return out
