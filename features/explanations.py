"""What a reviewer reads beside a flag: peer context, reason sentences, history, list changes.

All pure: tables in, tables or text out. The time convention is the one of
``ewp.features.history``: at an as-of date ``t`` only what was known strictly before ``t`` may be
shown, so a notice received on ``t`` is left out and an outcome decided on ``t`` still reads
"open".

* ``peer_comparison``: for each reason, the share of the officer's unit peers on that date
  with a strictly lower value of the feature.
* ``reason_sentence``: the registry's sentence (``ewp.features.registry.render_reason``) plus that
  peer comparison when it says something.
* ``officer_timelines``: the notices behind each flag, as of the flag's date.
* ``list_changes``: who is new on the list, who stays and who dropped off since the last one;
  ``dropped_off_reasons``: why each officer who dropped off did.
* ``label_in_words``, ``rate_in_words`` and ``risk_note``: what a score means, how often such
  flags came true in back-testing, and why a reason that sounds reassuring still counts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from ewp.core.config import LabelConfig
from ewp.core.contract import CATEGORY_LABELS, ForceData
from ewp.features.registry import FeatureSpec, render_reason, window_phrase

TIMELINE_COLUMNS: tuple[str, ...] = (
    "officer_id",
    "notice_id",
    "received_on",
    "category",
    "source",
    "status",
    "finding",
    "sanction",
    "days_open",
)
CHANGES: tuple[str, ...] = ("new", "continuing", "dropped off")

# The peer comparison is added only for counts of recorded events (the sentence starts with the
# count, e.g. "4 notices received ..."), where "more than X% of officers" reads naturally.
COUNT_FAMILIES: frozenset[str] = frozenset(
    {"volume", "category", "source", "severity", "outcomes", "pending", "cases", "activity"}
)
# Below this share the comparison says nothing a reviewer needs ("more than 20% of officers").
MIN_INFORMATIVE_SHARE = 0.5


def peer_comparison(matrix: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """Each reason with how the officer compares with the unit's other serving officers.

    ``matrix`` is a feature matrix (``ewp.features.history.build_features``: ``officer_id``,
    ``unit``, ``as_of`` and feature columns), whose rows are the officers serving on each
    date. ``reasons`` has ``officer_id``, ``feature`` and ``value`` (e.g. the output of
    ``ewp.models.explain.top_reasons`` with ``row`` renamed to ``officer_id``), and an ``as_of``
    column when the matrix holds more than one date.

    Returns ``reasons`` (same rows, same order, fresh index) with two more columns:
    ``unit_peers``, the number of *other* officers serving in the same unit on the same date,
    and ``peer_share_below``, the share of those peers whose value of the feature is strictly
    lower than the reason's value (0 to 1; NaN when the officer has no peers). Raises
    ValueError when a feature is not in the matrix or an officer is not serving on the date.
    """
    dated = _with_as_of(matrix, reasons)
    unknown = sorted(set(dated["feature"]) - set(matrix.columns))
    if unknown:
        raise ValueError(f"features not in the feature matrix: {unknown}")
    roster = matrix[["officer_id", "as_of", "unit"]].assign(as_of=pd.to_datetime(matrix["as_of"]))
    located = dated.merge(
        roster, on=["officer_id", "as_of"], how="left", validate="many_to_one", indicator=True
    )
    missing = located.loc[located.pop("_merge") == "left_only", "officer_id"].unique().tolist()
    if missing:
        raise ValueError(f"officers not serving on the reason's as-of date: {sorted(missing)}")

    located["value"] = located["value"].astype("float64")
    located["reason_index"] = np.arange(len(located))
    peers = np.zeros(len(located), dtype="int64")
    below = np.zeros(len(located), dtype="int64")
    for feature, group in located.groupby("feature", sort=True):
        peer_values = roster.rename(columns={"officer_id": "peer_id"}).assign(
            peer_value=matrix[feature].to_numpy(dtype="float64")
        )
        pairs = group.merge(peer_values, on=["as_of", "unit"], how="inner")
        pairs = pairs.loc[pairs["peer_id"] != pairs["officer_id"]]
        is_below = (pairs["peer_value"] < pairs["value"]).groupby(pairs["reason_index"])
        index = is_below.size().index.to_numpy()
        peers[index] = is_below.size().to_numpy()
        below[index] = is_below.sum().to_numpy()

    out = reasons.reset_index(drop=True).copy()
    out["peer_share_below"] = np.divide(
        below, peers, out=np.full(len(out), np.nan), where=peers > 0
    )
    out["unit_peers"] = peers
    return out


def _with_as_of(matrix: pd.DataFrame, reasons: pd.DataFrame) -> pd.DataFrame:
    """The reasons' key columns with a datetime ``as_of``: their own, or the matrix's only one."""
    keys = reasons[["officer_id", "feature", "value"]].reset_index(drop=True)
    if "as_of" in reasons.columns:
        return keys.assign(as_of=pd.to_datetime(reasons["as_of"]).to_numpy())
    dates = pd.to_datetime(matrix["as_of"]).unique()
    if len(dates) != 1:
        raise ValueError(
            f"the feature matrix holds {len(dates)} as-of dates: give the reasons an as_of column"
        )
    return keys.assign(as_of=dates[0])


def reason_sentence(
    spec: FeatureSpec,
    value: float,
    peer_share_below: float | None,
    companion: float | None = None,
) -> str:
    """A reason in words, with the unit comparison when it is informative.

    The sentence is ``ewp.features.registry.render_reason``'s (``companion``: the officer's value of
    ``spec.companion``, the allegations behind a case count). The comparison is appended for
    counts (families in ``COUNT_FAMILIES`` whose sentence starts with the value) when the
    share is known and at least ``MIN_INFORMATIVE_SHARE``; the percentage is rounded down, so
    it never overstates: "4 notices received in the last 12 months, more than 97% of officers
    in the same unit"; a share of 1 reads "more than any other officer in the same unit".
    """
    sentence = render_reason(spec, value, companion)
    if peer_share_below is None or math.isnan(peer_share_below):
        return sentence
    is_count = spec.family in COUNT_FAMILIES and spec.reason.startswith("{value}")
    if not is_count or peer_share_below < MIN_INFORMATIVE_SHARE:
        return sentence
    if peer_share_below >= 1:
        return f"{sentence}, more than any other officer in the same unit"
    percent = math.floor(peer_share_below * 100 + 1e-9)
    return f"{sentence}, more than {percent}% of officers in the same unit"


def _words(code: object) -> str:
    """A vocabulary code as words ("conduct_matter" -> "conduct matter"); missing -> ""."""
    return "" if pd.isna(code) else str(code).replace("_", " ")


def officer_timelines(data: ForceData, officer_ids: Sequence[str], as_of: dt.date) -> pd.DataFrame:
    """The notices behind each flag, as a reviewer could have known them at ``as_of``.

    One row per notice against one of ``officer_ids`` received strictly before ``as_of``, with
    columns ``TIMELINE_COLUMNS``: ``received_on`` (datetime), ``category`` (the standard label),
    ``source``, ``finding`` and ``sanction`` in words, ``status`` "decided" when the outcome was
    decided before ``as_of`` and "open" otherwise (an outcome decided on or after ``as_of`` is
    not yet known, so its finding and sanction are blank), and ``days_open`` (``as_of`` minus
    ``received_on``, in days) for open notices only. Sorted by officer, date, notice.
    """
    t = pd.Timestamp(as_of)
    notices = data.notices_with_outcomes()
    known = notices.loc[
        notices["officer_id"].isin(list(officer_ids)) & (notices["received_on"] < t)
    ].sort_values(["officer_id", "received_on", "notice_id"], kind="stable")
    decided = (known["decided_on"] < t).fillna(False).to_numpy(dtype=bool)
    days_open = (t - known["received_on"]).dt.days.astype("Int64").where(~decided, pd.NA)
    return pd.DataFrame(
        {
            "officer_id": known["officer_id"].astype(str).to_numpy(),
            "notice_id": known["notice_id"].astype(str).to_numpy(),
            "received_on": known["received_on"].to_numpy(),
            "category": known["category"].map(CATEGORY_LABELS).to_numpy(),
            "source": known["source"].map(_words).to_numpy(),
            "status": np.where(decided, "decided", "open"),
            "finding": known["finding"].map(_words).where(decided, "").to_numpy(),
            "sanction": known["sanction"].map(_words).where(decided, "").to_numpy(),
            "days_open": days_open.array,
        },
        columns=list(TIMELINE_COLUMNS),
    )


def list_changes(previous: Sequence[str] | None, current: Sequence[str]) -> pd.DataFrame:
    """How this week's list differs from the last: ``officer_id`` and ``change``.

    ``change`` is "new" (not on the previous list), "continuing" (on both) or "dropped off"
    (on the previous list only). With no previous list every current officer is "new". Rows
    follow ``current`` order, then the dropped officers in ``previous`` order. Raises
    ValueError when either list names an officer twice.
    """
    before = [] if previous is None else list(previous)
    now = list(current)
    for name, ids in (("previous", before), ("current", now)):
        if len(set(ids)) != len(ids):
            raise ValueError(f"the {name} list names an officer more than once")
    was_listed = set(before)
    is_listed = set(now)
    rows = [(o, "continuing" if o in was_listed else "new") for o in now]
    rows += [(o, "dropped off") for o in before if o not in is_listed]
    return pd.DataFrame(rows, columns=["officer_id", "change"], dtype="object").astype(str)


def label_in_words(label: LabelConfig) -> str:
    """What the model predicts, in words a reviewer reads, e.g. "a notice for a serious matter
    (sexual misconduct, discrimination, ...), a notice assessed as potential gross misconduct or
    an allegation proven, within 12 months"."""
    parts = []
    if label.serious_categories:
        matters = ", ".join(CATEGORY_LABELS[c] for c in label.serious_categories)
        parts.append(f"a notice for a serious matter ({matters})")
    if label.gross_misconduct:
        parts.append("a notice assessed as potential gross misconduct")
    if label.proven_finding:
        parts.append("an allegation proven")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    return f"{listed}, within {window_phrase(label.horizon_days)}"


def rate_in_words(rate: float) -> str:
    """A share as "about 6 in 100" (or "about 4 in 1,000" below 1 in 100); "none" for 0."""
    if math.isnan(rate):
        raise ValueError("a rate must be a number, not NaN")
    if rate <= 0:
        return "none"
    if rate * 100 >= 0.995:
        return f"about {rate * 100:.0f} in 100"
    return f"about {max(rate * 1000, 1):.0f} in 1,000"


def officers_in_words(rate: float) -> str:
    """A share of officers: "about 6 in 100 officers", or "no officer" for 0."""
    return "no officer" if rate <= 0 else f"{rate_in_words(rate)} officers"


# Reasons that raise the score although they sound reassuring, and what to say about them.
_NOT_A_FINDING = (
    "That sounds reassuring, but in the force's past records, given the rest of an officer's "
    "history, it went with more later escalation, not less. It is not a finding."
)
_UNPROVEN = (
    "Notices that ended with no case to answer are not findings against the officer, and this "
    "reason is not one. The model counts them because, in the force's past records, officers "
    "with several such notices went on to a serious notice more often than officers with none: "
    "a run of allegations, even unproven ones, has been an early sign worth a supportive look."
)
_FALLING_RATE = f"A falling notice rate counted towards the score here. {_NOT_A_FINDING}"
_LONG_GAP = f"A long time since the last notice counted towards the score here. {_NOT_A_FINDING}"
_LONG_ACTIVITY_GAP = (
    f"A long time since the last such report counted towards the score here. {_NOT_A_FINDING}"
)
_FEWER = (
    f"Having fewer of these than the average officer counted towards the score here. "
    f"{_NOT_A_FINDING}"
)
# Families whose higher values sound worse: a reason from one with a low value needs a note.
HIGHER_SOUNDS_WORSE: frozenset[str] = COUNT_FAMILIES | {"peer"}


def risk_note(spec: FeatureSpec, value: float, *, typical: float) -> str | None:
    """Why a reason that sounds reassuring still raised the score, in plain words; None for a
    reason that needs no note.

    ``typical`` is the feature's mean over the serving officers. Notes go with: earlier
    notices with no case to answer ("7 earlier notices with no case to answer"), a falling
    notice rate, a last notice longer ago than is typical, and a count (or peer share) below
    the typical value (e.g. "0 earlier allegations proven"): a model can weigh a feature
    against the others so that less of it means more risk.
    """
    if spec.name == "findings_no_case_all" and value > 0:
        return _UNPROVEN
    if spec.name == "acceleration" and value < 0:
        return _FALLING_RATE
    if spec.name == "days_since_last_notice" and value > typical:
        return _LONG_GAP
    if spec.family == "activity" and spec.name.startswith("days_since_last_"):
        return _LONG_ACTIVITY_GAP if value > typical else None
    if spec.family in HIGHER_SOUNDS_WORSE and value < typical:
        return _FEWER
    return None


def dropped_off_reasons(
    *,
    dropped: Sequence[str],
    as_of: dt.date,
    officers: pd.DataFrame,
    serving: Collection[str],
    suppressed: pd.DataFrame,
    previous: pd.DataFrame,
    ranked: pd.DataFrame,
    falls: pd.DataFrame,
    specs: Mapping[str, FeatureSpec],
    model_version: str,
    listed: int,
) -> pd.DataFrame:
    """Why each officer on the previous list is not on this one, in words.

    In this order of precedence:

    * not serving on ``as_of``: "left the force on 2021-06-30" (``officers``' ``left_on``), or
      "no longer in the export";
    * held back after a review (``suppressed``: ``officer_id``, ``reason``): "suppressed after
      review: reviewed 2021-12-29 (supervisor conversation); no new notice since";
    * otherwise the score: "score fell from 0.412 to 0.198, now ranked 73 of 2,000 (the list
      holds 50)", with the reason that changed most (``falls``: ``officer_id``, ``feature``,
      ``before``, ``after``, the feature's value at the previous list date and now) in the
      registry's words: "biggest change: 3 cases still open then, 1 case still open now".
      A score that did not fall says others now score higher; a list drawn by another model
      than ``previous``'s says so, since the scores are then not comparable.

    ``previous`` has ``officer_id``, ``score`` and ``model_version`` of the previous list;
    ``ranked`` has ``officer_id``, ``score`` and ``rank`` of every serving officer now.
    Returns ``officer_id`` and ``why``, in ``dropped`` order.
    """
    left_on = officers.set_index("officer_id")["left_on"]
    held = dict(zip(suppressed["officer_id"], suppressed["reason"], strict=True))
    before = previous.set_index("officer_id")
    now = ranked.set_index("officer_id")
    change = falls.set_index("officer_id")
    rows = []
    for officer in dropped:
        if officer not in set(serving):
            day = left_on.get(officer)
            why = (
                "no longer in the export"
                if officer not in left_on.index
                else f"left the force on {day:%Y-%m-%d}"
                if pd.notna(day)
                else f"not serving on {as_of.isoformat()}"
            )
        elif officer in held:
            why = f"suppressed after review: {held[officer]}"
        else:
            why = _score_change(
                before.loc[officer],
                now.loc[officer],
                change.loc[officer] if officer in change.index else None,
                specs=specs,
                model_version=model_version,
                ranked=len(now),
                listed=listed,
            )
        rows.append((officer, why))
    return pd.DataFrame(rows, columns=["officer_id", "why"], dtype="object")


def _score_change(
    before: pd.Series,
    now: pd.Series,
    change: pd.Series | None,
    *,
    specs: Mapping[str, FeatureSpec],
    model_version: str,
    ranked: int,
    listed: int,
) -> str:
    """The score part of ``dropped_off_reasons``: how the score moved, and the biggest change."""
    position = f"now ranked {int(now['rank']):,} of {ranked:,} (the list holds {listed})"
    if str(before["model_version"]) != model_version:
        return f"the list is now drawn by another model ({model_version}); {position}"
    was, score = float(before["score"]), float(now["score"])
    if score >= was:
        text = f"score {score:.3f} (was {was:.3f}), but others now score higher; {position}"
    else:
        text = f"score fell from {was:.3f} to {score:.3f}, {position}"
    if change is not None:
        spec = specs[str(change["feature"])]
        then = render_reason(spec, float(change["before"]))
        text += f"; biggest change: {then} then, {render_reason(spec, float(change['after']))} now"
    return text
