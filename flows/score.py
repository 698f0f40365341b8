"""The weekly ``score`` flow: the champion scores the serving cohort; the list is published.

Wiring only (``ewp demo`` runs this flow too, after the train flow, on the demo config):

* the champion model (``ewp-escalation@champion`` in the config's MLflow registry) scores
  every officer serving on the as-of date (default: the latest Monday on or before the
  export date, so a rerun for the same week gives the same list);
* officers reviewed within ``review.suppress_weeks`` with no new notice since are held back
  and listed as suppressed, with the reason;
* the list is drawn by ``scoring`` (top k or a threshold, optional cap per unit);
* reasons (with peer comparison) are taken from the champion's own features, by name, each
  with a note when it sounds reassuring but raised the score; the history behind each flag,
  the changes since the last published list (with why each officer dropped off) and what a
  score means (the label and back-tested hit rate the registry recorded) are assembled as
  data, then rendered; an export older than ``scoring.max_export_age_days`` is flagged;
* ``flags.csv``, ``flags.json``, ``reasons.csv``, ``timelines.csv`` and ``report.html`` are
  written to ``<home>/runs/<config>/weekly-<as-of>/`` and the flags recorded in the review
  store; ``score_flow`` adds the run's own ``quarantine.csv``, ``validation_summary.csv`` and
  ``manifest.json`` (what the list came from), and the report says how many records were
  rejected.

The run folder is built in a hidden staging folder and renamed into place only once every file
is written and the flags are in the review store (``ewp.core.atomic.staged_dir``): a run killed
part-way leaves no half-written report, and the next run for the week completes it. Recording
flags is an upsert, so a rerun adds no rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ewp.core.atomic import pause_point, staged_dir, write_csv, write_text
from ewp.core.config import Config
from ewp.core.contract import ForceData
from ewp.core.marking import mark_folder
from ewp.core.progress import step
from ewp.core.provenance import fingerprint_json
from ewp.data.validation import ValidationResult
from ewp.features.explanations import (
    dropped_off_reasons,
    label_in_words,
    list_changes,
    officer_timelines,
    peer_comparison,
    reason_sentence,
    risk_note,
)
from ewp.features.history import build_features
from ewp.features.registry import FeatureSpec, feature_specs
from ewp.flows.audit import AUDIT_HTML, audit_provenance, audit_weekly_list, champion_findings
from ewp.flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_date_manifest,
    export_fingerprint,
    prepare_export,
    protect_identifiers,
    review_url,
    run_logger,
    validate,
    write_validation_report,
)
from ewp.models.candidates import scores_and_probabilities
from ewp.models.evaluation import tie_break_keys
from ewp.models.explain import biggest_fall, deviation_contributions, model_features, top_reasons
from ewp.models.flags import build_flag_list, rank_officers, select_flags
from ewp.reports.weekly import (
    Rejections,
    ScoreMeaning,
    StaleExport,
    count_rejections,
    render_weekly_report,
    weekly_methods,
)
from ewp.stores.health import Health, health_summary, read_health
from ewp.stores.review import ReviewStore
from ewp.stores.tracking import (
    LABEL_TAG,
    LIST_TAG,
    LIST_TAG_PREFIX,
    ChampionForOtherLabelError,
    Tracker,
    champion_for_other_label,
    tracker_for,
)

TIMELINES_CSV = "timelines.csv"
MANIFEST_JSON = "manifest.json"


@dataclasses.dataclass(frozen=True)
class Published:
    """What a published list produced.

    ``new_flags`` counts the officers new to the list compared with the previous published
    week (the report's "new"), so a rerun of the week reports the same number.
    """

    run_dir: Path
    report: Path
    flags_csv: Path
    flagged: int
    suppressed: int
    new_flags: int
    # What the person running it must hear (e.g. a stale export), one sentence each.
    warnings: tuple[str, ...] = ()

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


def last_notice_dates(data: ForceData, as_of: dt.date) -> dict[str, dt.date]:
    """Each officer's latest notice received before ``as_of``."""
    known = data.notices.loc[data.notices["received_on"] < pd.Timestamp(as_of)]
    latest = known.groupby("officer_id")["received_on"].max()
    return {officer: day.date() for officer, day in latest.items()}


def _companion_value(values: pd.DataFrame, spec: FeatureSpec, officer_id: str) -> float | None:
    """The officer's value of the allegation count shown beside a case count, if any."""
    if spec.companion is None or spec.companion not in values.columns:
        return None
    return float(values.at[officer_id, spec.companion])


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
    rejections: Rejections | None = None,
    model_tags: Mapping[str, str] | None = None,
    stale_export: StaleExport | None = None,
    fairness_findings: Sequence[str] = (),
    health: Health | None = None,
) -> Published:
    """Score the cohort at ``as_of``, draw and explain the list, write it, record it.

    ``fairness_findings``: what the fairness gate found when the model was selected
    (``ewp.flows.audit.champion_findings``), shown in the report's methods.

    Writes into ``run_dir`` as given: the flows pass a staging folder (see the module
    docstring). ``rejections`` (``ewp.reports.weekly.count_rejections`` of the validation's
    quarantine) puts the count of rejected records in the report, pointing to the
    ``quarantine.csv`` the caller writes beside it; None leaves it out. ``model_tags`` are the
    registered version's tags: the report's "What a score means" reads the label and the
    back-tested hit rate from them (``score_meaning``; None: the config's label).
    ``stale_export`` (``check_export_age``) puts a banner on the report; ``health`` (the newest
    ``ewp monitor`` run's, ``ewp.stores.health``) a one-line summary, judged stale against
    ``as_of``. Test hooks (``ewp.core.atomic.pause_point``): ``list-written`` after the files,
    ``flags-recorded`` after the review store.
    """
    matrix, columns, scored = score_cohort(model, data, as_of=as_of, config=config)
    store = ReviewStore(review_url(config, home))
    try:
        flagged, suppressed = draw_list(store, scored, data=data, as_of=as_of, config=config)
        reasons = flag_reasons(
            model, matrix, flagged_ids=flagged["officer_id"], columns=columns, config=config
        )
        flags = build_flag_list(
            flagged=flagged,
            reasons=reasons,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            reasons_per_flag=config.scoring.reasons_per_flag,
        )
        earlier = store.flags_frame()
        earlier = earlier.loc[pd.to_datetime(earlier["as_of"]) < pd.Timestamp(as_of)]
        changes = changes_since(
            earlier,
            flags=flags,
            data=data,
            config=config,
            model=model,
            model_version=model_version,
            matrix=matrix,
            scored=scored,
            suppressed=suppressed,
            as_of=as_of,
        )
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
            methods=weekly_methods(config, features=columns)
            | {"fairness_findings": list(fairness_findings)},
            links={"Fairness audit of this list": AUDIT_HTML},
            rejections=rejections,
            meaning=score_meaning(config, model_tags),
            scores=scored["score"].tolist(),
            stale_export=stale_export,
            health=health_summary(health, today=as_of, max_age_days=config.monitoring.max_age_days),
            health_warning=health is not None and bool(health.breaches),
        )
        flags_csv, report = write_list(
            run_dir, flags=flags, reasons=reasons, timelines=timelines, html=html
        )
        pause_point("list-written")
        store.publish_flags(flags, actor="ewp score")
        pause_point("flags-recorded")
    finally:
        store.close()
    # "New" as the report counts it: on this list, not on the previous published week's.
    new_flags = int((changes["change"] == "new").sum())
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
        warnings=() if stale_export is None else (stale_export.warning,),
    )


def score_cohort(
    model: Any, data: ForceData, *, as_of: dt.date, config: Config
) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """The feature matrix of the cohort serving at ``as_of``, the model's own feature columns,
    and every officer's score (officer_id, unit, as_of, score, and the ``rank_score`` and
    ``tie_key`` that order the list: ``ewp.models.flags.rank_officers``)."""
    specs = {s.name for s in feature_specs(config.features)}
    # The champion's own features, by name: a model trained on a subset reads only those, and
    # each reason quotes the value of the feature it names (never a column by position).
    columns = model_features(model)
    unknown = sorted(set(columns) - specs)
    if unknown:
        raise ValueError(
            f"the model reads features this config does not build: {unknown}; "
            "retrain it (ewp train) with this config's features"
        )
    matrix = build_features(data, [as_of], config=config.features)
    # Ranked as the evaluation ranked the list it measured: by the model's ranking score (a
    # rule's flags first, then its own continuation), ties by the seeded key of the date.
    rank_score, probability = scores_and_probabilities(model, matrix[columns])
    scored = matrix[["officer_id", "unit", "as_of"]].assign(
        score=probability,
        rank_score=rank_score,
        tie_key=tie_break_keys(matrix["officer_id"].to_numpy(), seed=config.seed, as_of=as_of),
    )
    return matrix, columns, scored


def draw_list(
    store: ReviewStore, scored: pd.DataFrame, *, data: ForceData, as_of: dt.date, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The list drawn by ``config.scoring`` from the ``scored`` cohort, and the officers held
    back from it (reviewed within ``review.suppress_weeks`` with no new notice since)."""
    held = store.suppressed(
        candidates=rank_officers(scored),
        as_of=as_of,
        weeks=config.review.suppress_weeks,
        last_notice=last_notice_dates(data, as_of),
    )
    flagged, suppressed_listed = select_flags(
        scored, scoring=config.scoring, suppressed=set(held["officer_id"])
    )
    return flagged, held.loc[held["officer_id"].isin(suppressed_listed["officer_id"])]


def flag_reasons(
    model: Any,
    matrix: pd.DataFrame,
    *,
    flagged_ids: pd.Series,
    columns: list[str],
    config: Config,
) -> pd.DataFrame:
    """The reasons of each flagged officer (``ewp.models.explain.top_reasons``), with their peer
    comparison, sentence and note (when a reassuring-sounding value raised the score)."""
    specs = {s.name: s for s in feature_specs(config.features)}
    # Every feature of the flagged officers (a case count's reason also names the
    # allegations behind it, which the model may not read); the model's own for its terms.
    facts = matrix.set_index("officer_id").loc[flagged_ids]
    values = facts[columns]
    contributions = contributions_of(model, values, cohort=matrix[columns])
    reasons = top_reasons(contributions, values, n=config.scoring.reasons_per_flag).rename(
        columns={"row": "officer_id"}
    )
    reasons = peer_comparison(matrix, reasons)
    reasons["sentence"] = [
        reason_sentence(specs[f], v, p, _companion_value(facts, specs[f], officer))
        for f, v, p, officer in zip(
            reasons["feature"],
            reasons["value"],
            reasons["peer_share_below"],
            reasons["officer_id"],
            strict=True,
        )
    ]
    typical = matrix[columns].mean()
    reasons["note"] = [
        risk_note(specs[f], v, typical=float(typical[f])) or ""
        for f, v in zip(reasons["feature"], reasons["value"], strict=True)
    ]
    return reasons


def changes_since(
    earlier: pd.DataFrame,
    *,
    flags: pd.DataFrame,
    data: ForceData,
    config: Config,
    model: Any,
    model_version: str,
    matrix: pd.DataFrame,
    scored: pd.DataFrame,
    suppressed: pd.DataFrame,
    as_of: dt.date,
) -> pd.DataFrame:
    """The changes from the latest list published before this one (``earlier``: the stored
    flags of earlier weeks) to ``flags``, with why each officer dropped off
    (``why_dropped``); every officer is new when there is no earlier list."""
    previous = earlier.loc[earlier["as_of"] == earlier["as_of"].max()] if len(earlier) else None
    changes = list_changes(
        None if previous is None else previous["officer_id"].tolist(),
        flags["officer_id"].tolist(),
    )
    if previous is None:
        return changes
    why = why_dropped(
        dropped=changes.loc[changes["change"] == "dropped off", "officer_id"].tolist(),
        previous=previous,
        data=data,
        config=config,
        model=model,
        model_version=model_version,
        matrix=matrix,
        scored=scored,
        suppressed=suppressed,
        listed=len(flags),
        as_of=as_of,
    )
    return changes.merge(why, on="officer_id", how="left").fillna({"why": ""})


def write_list(
    run_dir: Path,
    *,
    flags: pd.DataFrame,
    reasons: pd.DataFrame,
    timelines: pd.DataFrame,
    html: str,
) -> tuple[Path, Path]:
    """Write the list's files into ``run_dir``, marked OFFICIAL-SENSITIVE and owner-only;
    return the paths of flags.csv and report.html."""
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
    return flags_csv, report


def contributions_of(model: Any, values: pd.DataFrame, *, cohort: pd.DataFrame) -> pd.DataFrame:
    """Each row's contributions: the model's own additive terms, or, for a model without them
    (rules, the black-box yardstick), how far each value stands out from the ``cohort``."""
    if hasattr(model, "contributions"):
        return model.contributions(values)
    return deviation_contributions(values, cohort)


def why_dropped(
    *,
    dropped: list[str],
    previous: pd.DataFrame,
    data: ForceData,
    config: Config,
    model: Any,
    model_version: str,
    matrix: pd.DataFrame,
    scored: pd.DataFrame,
    suppressed: pd.DataFrame,
    listed: int,
    as_of: dt.date,
) -> pd.DataFrame:
    """Why each officer of the ``previous`` list (stored flags) is not on this one
    (``ewp.features.explanations.dropped_off_reasons``): ``officer_id``, ``why``.

    For an officer still serving and not suppressed, the feature whose contribution fell most
    between the previous list's date and ``as_of`` is found with this week's model, from the
    same export (features at the earlier date use only what was known before it).
    """
    columns = model_features(model)
    now = matrix.set_index("officer_id")
    held = set(suppressed["officer_id"])
    compare = [o for o in dropped if o in now.index and o not in held]
    falls = pd.DataFrame(columns=["officer_id", "feature", "before", "after"])
    if compare:
        last = pd.Timestamp(previous["as_of"].iloc[0]).date()
        then = build_features(data, [last], config=config.features).set_index("officer_id")
        compare = [o for o in compare if o in then.index]
        before, after = then.loc[compare, columns], now.loc[compare, columns]
        fall = biggest_fall(
            contributions_of(model, before, cohort=matrix[columns]),
            contributions_of(model, after, cohort=matrix[columns]),
        )
        pairs = list(zip(fall["row"], fall["feature"], strict=True))
        falls = pd.DataFrame(
            {
                "officer_id": fall["row"],
                "feature": fall["feature"],
                "before": [before.at[o, f] for o, f in pairs],
                "after": [after.at[o, f] for o, f in pairs],
            }
        )
    ranked = scored.sort_values(["score", "officer_id"], ascending=[False, True], kind="stable")
    return dropped_off_reasons(
        dropped=dropped,
        as_of=as_of,
        officers=data.officers,
        serving=set(now.index),
        suppressed=suppressed,
        previous=previous,
        ranked=ranked.assign(rank=range(1, len(ranked) + 1)),
        falls=falls,
        specs={s.name: s for s in feature_specs(config.features)},
        model_version=model_version,
        listed=listed,
    )


def check_export_age(
    config: Config, *, extracted_on: dt.date, today: dt.date
) -> StaleExport | None:
    """A ``StaleExport`` when the force's export is older than ``scoring.max_export_age_days``
    on ``today`` (the day of the run), else None. The synthetic force (no ``data.dir`` or
    ``data.ingest``) is never stale: it is generated on demand and its dates are made up.
    Worked example: taken 2021-12-31, limit 35 days: a run on 2022-02-04 (35 days on) is not
    stale, one on 2022-02-05 (36 days) is."""
    limit = config.scoring.max_export_age_days
    synthetic = config.data.dir is None and config.data.ingest is None
    age = (today - extracted_on).days
    if limit is None or synthetic or age <= limit:
        return None
    return StaleExport(extracted_on=extracted_on.isoformat(), max_age_days=limit, age_days=age)


@ewp_flow(name="ewp-score")
def score_flow(
    config: Config, home: Path, as_of: dt.date | None = None, today: dt.date | None = None
) -> Published:
    """Score the serving cohort with the registry's champion and publish the weekly list.

    ``today`` (default: the system date) is the day of the run, against which the export's
    age is checked (``check_export_age``)."""
    export_dir = prepare_export(config, home)
    data_fingerprint = export_fingerprint(export_dir)
    validated = validate(export_dir, config)
    data = validated.data
    protect_identifiers(data, home)  # from here on, log lines carry pseudonyms only
    extracted_on = validated.export_date.extracted_on
    day = as_of or config.scoring.as_of or latest_monday(extracted_on)
    stale = check_export_age(config, extracted_on=extracted_on, today=today or dt.date.today())
    if stale is not None:
        # Logged for the run's record; the command prints it once, with the list it concerns
        # (Published.warnings), and the report carries it as a banner.
        run_logger().info("%s", stale.warning)
    with step("Loading the champion from the model registry"):
        champion = load_champion(tracker_for(config, home), config=config)
    with step(f"Scoring every serving officer; the list of {day}"):
        return publish_week(
            config=config,
            home=home,
            validated=validated,
            data_fingerprint=data_fingerprint,
            champion=champion,
            day=day,
            stale=stale,
        )


def publish_week(
    *,
    config: Config,
    home: Path,
    validated: ValidationResult,
    data_fingerprint: str,
    champion: tuple[Any, str, dict[str, str]],
    day: dt.date,
    stale: StaleExport | None,
) -> Published:
    """Publish the list of ``day`` with ``champion`` (``load_champion``'s model, version label
    and tags) into ``<home>/runs/<config>/weekly-<day>/`` (``ewp score``; ``ewp monitor
    --backfill`` at past dates): staged, with the run's quarantine and manifest."""
    model, model_version, tags = champion
    run_dir = home / "runs" / config.name / f"weekly-{day.isoformat()}"
    with staged_dir(run_dir) as staging:
        # The run keeps its own quarantine: what was left out, and why.
        write_validation_report(validated, staging)
        published = publish_list(
            data=validated.data,
            config=config,
            home=home,
            model=model,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            as_of=day,
            extracted_on=validated.export_date.extracted_on,
            run_dir=staging,
            rejections=count_rejections(validated.quarantine),
            model_tags=tags,
            stale_export=stale,
            fairness_findings=champion_findings(tags),
            health=read_health(home / "runs" / config.name),
        )
        manifest = run_manifest(
            config=config,
            model_version=model_version,
            data_fingerprint=data_fingerprint,
            as_of=day,
            validation=validated,
            published=published,
            stale_export=stale,
        )
        write_text(staging / MANIFEST_JSON, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        mark_folder(staging)
    return published.moved_to(run_dir)


def run_manifest(
    *,
    config: Config,
    model_version: str,
    data_fingerprint: str,
    as_of: dt.date,
    validation: ValidationResult,
    published: Published,
    stale_export: StaleExport | None,
) -> dict[str, Any]:
    """What a weekly run folder came from and holds, for ``manifest.json``: no clock, so a
    rerun of the week writes the same bytes (``stale_export`` says whether the export was older
    than the configured maximum on the day of the run, not by how much)."""
    totals = validation.summary[["read", "accepted", "quarantined"]].sum()
    return {
        "config": config.name,
        "config_fingerprint": fingerprint_json(config.model_dump(mode="json")),
        "data_fingerprint": data_fingerprint,
        "model_version": model_version,
        "as_of": as_of.isoformat(),
        **export_date_manifest(validation.export_date),
        "records": {key: int(value) for key, value in totals.items()},
        "flagged": published.flagged,
        "suppressed": published.suppressed,
        "new": published.new_flags,
        "max_export_age_days": config.scoring.max_export_age_days,
        "stale_export": stale_export is not None,
    }


@ewp_task(**IO_TASK)
def load_champion(tracker: Tracker, *, config: Config) -> tuple[Any, str, dict[str, str]]:
    """The champion model from the MLflow registry, its version label for the list, and its
    version tags (what ``ewp train`` recorded: see ``score_meaning``).

    Raises ``NoChampionError`` (not retried), naming the registered model, if there is none,
    and ``ChampionForOtherLabelError`` if the champion was trained for another label than
    ``config``'s: its list would answer another question.
    """
    champion = tracker.champion()
    tags = dict(champion.tags) if champion else {}
    foreign = champion_for_other_label(tags, label=label_in_words(config.label))
    if champion is not None and foreign:
        raise ChampionForOtherLabelError(
            f"the champion in this store (version {champion.version}) {foreign}: its list "
            f"would answer another question. Give config {config.name!r} a store of its own "
            "(store: in the config) and train it there, or promote a version trained for its "
            "label (ewp models promote)"
        )
    model = tracker.load_champion()
    version = f"{tags.get('model_id', 'unknown')} (v{champion.version if champion else '?'})"
    return model, version, tags


def _tag_number(tags: Mapping[str, str], key: str) -> float | None:
    value = tags.get(key)
    return None if value is None else float(value)


def score_meaning(config: Config, tags: Mapping[str, str] | None) -> ScoreMeaning:
    """What a score means, from the registered version's tags
    (``ewp.flows.train.weekly_list_tags``).

    The label comes from the tags (what the model was trained to predict), else from the
    config. The back-tested hit rate is given only when it was measured at this config's list
    size; otherwise a note says why it is missing (a model registered before ewp recorded it,
    a list drawn by threshold, a list size the evaluation did not measure), and the report
    still publishes. ``tags`` None: a model that was never registered (e.g. the benchmark's).
    """
    size = config.scoring.top_k if config.scoring.selection == "top_k" else None
    if tags is None:
        return ScoreMeaning(
            label=label_in_words(config.label),
            list_size=size,
            notes=("This model is not a registered version, so no back-tested hit rate was "
                   "recorded with it.",),
        )  # fmt: skip
    label = tags.get(LABEL_TAG) or label_in_words(config.label)
    notes: list[str] = []
    if LABEL_TAG not in tags:
        notes.append(
            "The label is taken from this configuration: the model was registered without it."
        )
    precision = _tag_number(tags, f"{LIST_TAG_PREFIX}precision")
    recorded = tags.get(LIST_TAG)
    why = ""
    if size is None:
        why = "the list is drawn by a score threshold, not a fixed number of officers"
    elif recorded is None:
        why = "the model was registered before ewp recorded it; retrain (ewp train) to add it"
    elif recorded != f"top_{size}":
        why = (
            f"the model was evaluated for a list of the {recorded.replace('_', ' ')}, not the "
            f"top {size}; retrain to measure it"
        )
    elif precision is None:
        why = f"the evaluation recorded no hit rate for a list of the top {size}; retrain"
    if why:
        notes.append(f"No back-tested hit rate is given for this list: {why}.")
        return ScoreMeaning(label=label, list_size=size, notes=tuple(notes))
    return ScoreMeaning(
        label=label,
        list_size=size,
        precision=precision,
        rule_description=tags.get(f"{LIST_TAG_PREFIX}rule_description"),
        rule_precision=_tag_number(tags, f"{LIST_TAG_PREFIX}rule_precision"),
        test_dates=int(tags[f"{LIST_TAG_PREFIX}test_dates"]),
        test_period=tags.get(f"{LIST_TAG_PREFIX}test_period"),
        notes=tuple(notes),
    )
