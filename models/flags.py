"""The flag list a standards unit receives: top-k officers, reasons in words, provenance.

Pure: DataFrames in, DataFrame out. Every flag carries the model version and data snapshot it
came from and empty review columns where a human records the decision (with the version of the
decision the row is filled in against: 0); a flag is a prompt for human review, never a finding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

import pandas as pd

from ewp.core.config import ScoringConfig

REVIEW_COLUMNS: tuple[str, ...] = ("review_decision", "reviewer", "reviewed_on", "review_note")
# The version of the decision a row of flags.csv is filled in against: 0, undecided when the
# list was published (``ewp review import`` refuses to replace a decision recorded since).
REVIEW_VERSION = "review_version"


def flag_id(*, officer_id: str, as_of: str, model_version: str) -> str:
    """A stable identifier for one flag: the same officer, date and model give the same ID."""
    digest = hashlib.sha256(f"{officer_id}|{as_of}|{model_version}".encode()).hexdigest()
    return f"F{digest[:12]}"


# The columns that order the list, when the scored frame has them: the model's ranking score
# (``decision_function``: a rule's flags first, then its own continuation) and a seeded tie key
# (``ewp.models.evaluation.tie_break_keys``), so the published list is drawn exactly as the
# evaluation drew the list it measured. Without them: ``score``, then officer ID.
RANK_SCORE = "rank_score"
TIE_KEY = "tie_key"


def rank_officers(scored: pd.DataFrame) -> pd.DataFrame:
    """Scored officers in list order: by ``rank_score`` (else ``score``), highest first, ties
    by ``tie_key`` (else ``officer_id``). The row order of ``scored`` never matters."""
    by = RANK_SCORE if RANK_SCORE in scored.columns else "score"
    tie = TIE_KEY if TIE_KEY in scored.columns else "officer_id"
    keys = [by, tie] if tie == "officer_id" else [by, tie, "officer_id"]
    return scored.sort_values(keys, ascending=[False] + [True] * (len(keys) - 1), kind="stable")


def select_flags(
    scored: pd.DataFrame, *, scoring: ScoringConfig, suppressed: Collection[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the list from scored officers (``officer_id``, ``unit``, ``score``, optionally
    ``rank_score`` and ``tie_key``: see ``rank_officers``).

    Officers in ``suppressed`` (reviewed recently, nothing new since) are not listed; the rest
    are taken in list order, capped at ``max_per_unit`` per unit, then cut at ``top_k`` or at
    ``threshold`` (on ``score``, the escalation probability). Returns (the list with ``rank``
    1..n, the suppressed officers ranked above the last listed officer, i.e. who would have
    been on it).
    """
    ordered = rank_officers(scored).reset_index(drop=True)
    is_suppressed = ordered["officer_id"].isin(set(suppressed))
    eligible = ordered.loc[~is_suppressed]
    if scoring.max_per_unit is not None:
        eligible = eligible.loc[eligible.groupby("unit").cumcount() < scoring.max_per_unit]
    if scoring.selection == "threshold":
        listed = eligible.loc[eligible["score"] >= scoring.threshold]
    else:
        listed = eligible.head(scoring.top_k)
    last_position = listed.index.max() if len(listed) else -1
    held_back = ordered.loc[is_suppressed & (ordered.index < last_position)]
    if scoring.selection == "threshold":
        held_back = ordered.loc[is_suppressed & (ordered["score"] >= scoring.threshold)]
    listed = listed.drop(columns=[RANK_SCORE, TIE_KEY], errors="ignore").reset_index(drop=True)
    listed.insert(0, "rank", range(1, len(listed) + 1))
    held_back = held_back.drop(columns=[RANK_SCORE, TIE_KEY], errors="ignore")
    return listed, held_back.reset_index(drop=True)


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
    ``ewp.models.explain.top_reasons`` with sentences added.
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
