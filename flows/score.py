"""The weekly ``score`` flow: the champion scores the serving cohort; the list is published.

Wiring only. ``publish_list`` is shared with the demo so both end with the same outputs:

* the champion model (``ewp-escalation@champion`` in MLflow; the demo passes its own model)
  scores every officer serving on the as-of date (default: the latest Monday on or before the
  export date, so a rerun for the same week gives the same list);
* officers reviewed within ``review.suppress_weeks`` with no new notice since are held back
  and listed as suppressed, with the reason;
* the list is drawn by ``scoring`` (top k or a threshold, optional cap per unit);
* reasons (with peer comparison), the history behind each flag and the changes since the last
  report are assembled as data, then rendered;
* ``flags.csv``, ``flags.json``, ``reasons.csv``, ``timelines.csv`` and ``report.html`` are
  written to ``<home>/runs/<config>/weekly-<as-of>/`` and the flags recorded in the review
  store.

The run folder is built in a hidden staging folder and renamed into place only once every file
is written and the flags are in the review store (``ewp.atomic.staged_dir``): a run killed
part-way leaves no half-written report, and the next run for the week completes it. Recording
flags is an upsert, so a rerun adds no rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ewp.atomic import pause_point, staged_dir, write_csv, write_text
from ewp.config import Config
from ewp.contract import ForceData
from ewp.flags import build_flag_list, select_flags
from ewp.marking import mark_folder
from ewp.review import ReviewStore, default_url
from ewp.tracking import Tracker
from features.explanations import list_changes, officer_timelines, peer_comparison, reason_sentence
from features.history import build_features, feature_columns
from features.registry import feature_specs
from flows.audit import (
    AUDIT_HTML,
    audit_frame,
    audit_provenance,
    champion_findings,
    run_audit,
    weekly_rolling_audit,
    write_audit,
)
from flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_date,
    export_fingerprint,
    prepare_export,
    protect_identifiers,
    run_logger,
    validate,
)
from flows.train import tracker_for
from models.explain import deviation_contributions, top_reasons
from reports.weekly import render_weekly_report

LIMITATIONS = (
    "Allegations themselves are biased: Black, Asian and Mixed officers receive more "
    "allegations than White officers. See the fairness audit before acting on a flag.",
    "Escalation is rare, so even the best list holds more officers who will not escalate than "
    "officers who will. A flag is a reason to look, not a finding.",
    "Rank and unit are as recorded in the latest export, not at the time of each notice.",
    "The officers at highest risk change from year to year; a past flag is not a label.",
)
CHALLENGE = (
    "Every flag is reviewed by a person before anything happens; the model never decides.",
    "The reasons listed with each flag are the facts the score rests on; if one is wrong, "
    "tell the standards unit and the record will be corrected and the officer re-scored.",
    "Officers and staff associations may ask for the model card, the feature list and the "
    "fairness audit behind any list.",
)


TIMELINES_CSV = "timelines.csv"


@dataclasses.dataclass(frozen=True)
class Published:
    """What a published list produced."""

    run_dir: Path
    report: Path
    flags_csv: Path
    flagged: int
    suppressed: int
    new_flags: int

    def moved_to(self, run_dir: Path) -> Published:
        """The same outputs, after their folder was renamed to ``run_dir``."""
        return dataclasses.replace(
            self,
            run_dir=run_dir,
            report=run_dir / self.report.relative_to(self.run_dir),
            flags_csv=run_dir / self.flags_csv.relative_to(self.run_dir),
        )


def latest_monday(day: dt.date) -> dt.date:
    """The Monday on or before ``day`` (weekly lists are dated Mondays)."""
    return day - dt.timedelta(days=day.weekday())


def review_url(config: Config, home: Path) -> str:
    """The review store's URL: the config's, or the SQLite file under the data home."""
    return config.review.database_url or default_url(home)


def methods(config: Config) -> dict[str, Any]:
    """The methods section: features, rules compared, limitations, how to challenge, review."""
    rules = {
        c.name: str(c.params)
        for c in config.evaluation.candidates
        if c.kind in {"threshold_rule", "peer_rule", "count_ranker"}
    }
    return {
        "features": list(feature_specs(config.features)),
        "rules": rules,
        "limitations": list(LIMITATIONS),
        "challenge": list(CHALLENGE),
        "decisions": list(config.review.decisions),
        "review_command": "ewp review decide {flag_id} --decision DECISION --reviewer NAME",
        "decisions_csv": "flags.csv: fill in review_decision, reviewer, reviewed_on and "
        "review_note, then run ewp review import flags.csv",
    }


def last_notice_dates(data: ForceData, as_of: dt.date) -> dict[str, dt.date]:
    """Each officer's latest notice received before ``as_of``."""
    known = data.notices.loc[data.notices["received_on"] < pd.Timestamp(as_of)]
    latest = known.groupby("officer_id")["received_on"].max()
    return {officer: day.date() for officer, day in latest.items()}


@ewp_task(**IO_TASK)
def publish_list(
    *,
    data: ForceData,
    config: Config,
    home: Path,
    model: Any,
    model_version: str,
    data_fingerprint: str,
    as_of: dt.date,
    extracted_on: dt.date,
    run_dir: Path,
    fairness_findings: Sequence[str] = (),
) -> Published:
    """Score the cohort at ``as_of``, draw and explain the list, write it, record it.

    ``fairness_findings``: what the fairness gate found when the model was selected
    (``flows.audit.champion_findings``), shown in the report's methods.

    Writes into ``run_dir`` as given: the flows pass a staging folder (see the module
    docstring). Test hooks (``ewp.atomic.pause_point``): ``list-written`` after the files,
    ``flags-recorded`` after the review store.
    """
    columns = feature_columns(config.features)
    specs = {s.name: s for s in feature_specs(config.features)}
    matrix = build_features(data, [as_of], config=config.features)
    scored = matrix[["officer_id", "unit", "as_of"]].assign(
        score=model.predict_proba(matrix[columns])[:, 1]
    )
    store = ReviewStore(review_url(config, home))
    try:
        held = store.suppressed(
            candidates=scored.sort_values(["score", "officer_id"], ascending=[False, True]),
            as_of=as_of,
            weeks=config.review.suppress_weeks,
            last_notice=last_notice_dates(data, as_of),
        )
        flagged, suppressed_listed = select_flags(
            scored, scoring=config.scoring, suppressed=set(held["officer_id"])
        )
        suppressed = held.loc[held["officer_id"].isin(suppressed_listed["officer_id"])]
        values = matrix.set_index("officer_id").loc[flagged["officer_id"], columns]
        if hasattr(model, "contributions"):
            contributions = model.contributions(values)
        else:
            contributions = deviation_contributions(values, matrix[columns])
        reasons = top_reasons(contributions, values, n=config.scoring.reasons_per_flag).rename(
            columns={"row": "officer_id"}
        )
        reasons = peer_comparison(matrix, reasons)
        reasons["sentence"] = [
            reason_sentence(specs[f], v, p)
            for f, v, p in zip(
                reasons["feature"], reasons["value"], reasons["peer_share_below"], strict=True
            )
        ]
        flags = build_flag_list(
            flagged=flagged,
            reasons=reasons,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            reasons_per_flag=config.scoring.reasons_per_flag,
        )
        earlier = store.flags_frame()
        earlier = earlier.loc[pd.to_datetime(earlier["as_of"]) < pd.Timestamp(as_of)]
        previous = None
        if len(earlier):
            last_date = earlier["as_of"].max()
            previous = earlier.loc[earlier["as_of"] == last_date, "officer_id"].tolist()
        changes = list_changes(previous, flags["officer_id"].tolist())
        timelines = officer_timelines(data, flags["officer_id"].tolist(), as_of)
        provenance = audit_provenance(
            config,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            extracted_on=extracted_on.isoformat(),
        )
        audit_weekly_list(
            data=data,
            matrix=matrix,
            flagged_ids=flags["officer_id"],
            config=config,
            run_dir=run_dir,
            as_of=as_of,
            provenance=provenance,
            earlier_lists=earlier[["as_of", "officer_id"]],
        )
        html = render_weekly_report(
            as_of=as_of.isoformat(),
            flags=flags,
            reasons=reasons,
            timelines=timelines,
            changes=changes,
            suppressed=suppressed,
            provenance=provenance,
            methods=methods(config) | {"fairness_findings": list(fairness_findings)},
            links={"Fairness audit of this list": AUDIT_HTML},
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        flags_csv = write_csv(flags, run_dir / "flags.csv", float_format="%.6f")
        write_text(
            run_dir / "flags.json",
            json.dumps(flags.to_dict(orient="records"), indent=2, sort_keys=True) + "\n",
        )
        write_csv(reasons, run_dir / "reasons.csv", float_format="%.6f")
        # The history behind each flag as data, so the review workspace (``ewp web``) can draw
        # an officer card without reading the whole export again.
        write_csv(timelines, run_dir / TIMELINES_CSV, date_format="%Y-%m-%d")
        report = write_text(run_dir / "report.html", html)
        mark_folder(run_dir)
        pause_point("list-written")
        new_flags = store.publish_flags(flags, actor="ewp score")
        pause_point("flags-recorded")
    finally:
        store.close()
    run_logger().info(
        "Published %d flags (%d new), %d suppressed", len(flags), new_flags, len(suppressed)
    )
    return Published(
        run_dir=run_dir,
        report=report,
        flags_csv=flags_csv,
        flagged=len(flags),
        suppressed=len(suppressed),
        new_flags=new_flags,
    )


def audit_weekly_list(
    *,
    data: ForceData,
    matrix: pd.DataFrame,
    flagged_ids: pd.Series,
    config: Config,
    run_dir: Path,
    as_of: dt.date,
    provenance: dict[str, str],
    earlier_lists: pd.DataFrame | None = None,
) -> Path:
    """Audit a weekly list: who is flagged, by group, against the serving cohort. Outcomes are
    not known yet, so flag rates only (and where the disparity comes from). With the lists
    published before (``earlier_lists``: as_of, officer_id), the last weeks' lists are also
    audited together (``flows.audit.weekly_rolling_audit``)."""
    frame = audit_frame(
        data,
        matrix,
        flagged=matrix["officer_id"].isin(set(flagged_ids)),
        labels=pd.Series(float("nan"), index=matrix.index),
        config=config,
    )
    result, sources = run_audit(frame, config=config)
    this_week = pd.DataFrame({"as_of": as_of, "officer_id": flagged_ids.astype(str).to_numpy()})
    lists = pd.concat([earlier_lists, this_week]) if earlier_lists is not None else this_week
    return write_audit(
        run_dir=run_dir,
        title=f"Fairness audit of the list of {as_of.isoformat()}",
        scope=f"weekly list of {as_of.isoformat()}: flagged officers against every serving "
        "officer; outcomes are not known yet, so flag rates only",
        result=result,
        sources=sources,
        tradeoff=None,
        config=config,
        provenance=provenance,
        rolling=weekly_rolling_audit(data, lists, as_of=as_of, config=config),
    )


@ewp_flow(name="ewp-score")
def score_flow(config: Config, home: Path, as_of: dt.date | None = None) -> Published:
    """Score the serving cohort with the registry's champion and publish the weekly list."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    data = validate(export_dir, config).data
    protect_identifiers(data, home)  # from here on, log lines carry pseudonyms only
    extracted_on = export_date(data, config.data.extracted_on)
    day = as_of or config.scoring.as_of or latest_monday(extracted_on)
    tracker = tracker_for(config, home)
    model, model_version = load_champion(tracker)
    champion = tracker.champion()
    findings = champion_findings(champion.tags) if champion else []
    run_dir = home / "runs" / config.name / f"weekly-{day.isoformat()}"
    with staged_dir(run_dir) as staging:
        published = publish_list(
            data=data,
            config=config,
            home=home,
            model=model,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            as_of=day,
            extracted_on=extracted_on,
            run_dir=staging,
            fairness_findings=findings,
        )
    return published.moved_to(run_dir)


@ewp_task(**IO_TASK)
def load_champion(tracker: Tracker) -> tuple[Any, str]:
    """The champion model from the MLflow registry, and its version label for the list.

    Raises ``NoChampionError`` (not retried), naming the registered model, if there is none.
    """
    model = tracker.load_champion()
    champion = tracker.champion()
    tags = champion.tags if champion else {}
    return model, f"{tags.get('model_id', 'unknown')} (v{champion.version if champion else '?'})"
