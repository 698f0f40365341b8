"""The ``train`` flow: temporal evaluation of the candidate grid, selection, MLflow registry.

Wiring only; the logic lives in ``ewp.core.timechop`` (splits), ``ewp.models.evaluation`` (fitting,
metrics, the equal-volume headline, selection and promotion), ``ewp.models.selection``
(eligibility, the combined gate, the oracle's scores), ``ewp.features.labelled`` (labelled rows of
the feature matrix) and ``ewp.stores.tracking``. ``train_flow`` runs these named steps in order:

1. ``read_export``: validate the export and protect its officers' identifiers;
   ``checked_splits``: the splits, once their labels are all known by the export date.
2. ``evaluate_grid``: index the force's events once (``ewp.features.matrix``: each step builds
   the rows of the feature matrix at the dates it reads, cheaper than a cache on disk); for
   each split (test date + test block), in parallel on the configured task runner (threads,
   or a Dask cluster: ``runtime`` in the config), label the training rows with what was known
   at the test date, read only the negative subsample it trains on, fit every candidate
   (``fit_split``), score every date of the block, in as many parts as there are workers
   (``score_split``); pool the metrics and bootstrap them over officers, and beside it audit
   every candidate's list on the latest test block.
3. ``audit_and_select``: gate every candidate for fairness on that audit (with written
   overrides and the caller's gate), compare every candidate with each rule at the rule's own
   flag volume and select a champion by the documented rule at the list the weekly run
   publishes.
4. Log one MLflow run per candidate x split (metrics only); then ``publish_champion``: refit the
   selected candidate on the latest fully observed window, write its model card, register it
   as ``ewp-escalation`` and move the ``champion`` alias only if it beats the current champion
   (``write_unregistered`` when nothing is registered).
5. The tables and ``evaluation.html`` (``ewp.reports.evaluation``) go under
   ``<home>/runs/<config>/train-<export date>/`` (``TrainOutputs``; built in a staging folder
   and renamed into place when complete, so a killed run leaves no half-written set).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from ewp.core.atomic import staged_dir, write_csv, write_text
from ewp.core.config import FLAG_RULE_KINDS, CandidateConfig, Config
from ewp.core.contract import ForceData
from ewp.core.marking import mark_folder
from ewp.core.progress import step, track
from ewp.core.provenance import fingerprint_json
from ewp.core.timechop import Split, SplitError, make_splits
from ewp.data.io import read_ground_truth
from ewp.data.validation import ValidationResult
from ewp.features.explanations import label_in_words, officers_in_words
from ewp.features.history import feature_columns
from ewp.features.labelled import LabelledDates, observed_label_blocks
from ewp.features.matrix import FeatureMatrix
from ewp.features.registry import feature_specs
from ewp.flows.audit import (
    FINDINGS_TAG,
    AuditRows,
    CandidateAudits,
    audit_candidates,
    audit_provenance,
    audit_rows,
    candidate_sources,
    comparison_table,
    findings_tag,
    gate_decisions,
    gate_summary,
    tradeoff_table,
    write_audit,
)
from ewp.flows.common import (
    IO_TASK,
    ewp_flow,
    ewp_task,
    export_fingerprint,
    final_split,
    prepare_export,
    protect_identifiers,
    results_in_order,
    run_logger,
    validate,
)
from ewp.models.candidates import build_candidate, candidate_identity, is_interpretable
from ewp.models.evaluation import (
    FittedCandidate,
    Gate,
    GateDecision,
    PooledEvaluation,
    PromotionDecision,
    Selection,
    SplitEvaluation,
    by_split,
    candidate_features,
    curve_sizes,
    evaluate_fitted,
    fit_candidates,
    pool_evaluations,
    promotion_decision,
    rule_fills,
    select_champion,
    short_rule_lists,
    stability,
    summarise,
)
from ewp.models.explain import ModelTerms, model_terms
from ewp.models.metrics import k_for_fraction
from ewp.models.sampling import NegativeSubsampler, sample_summary
from ewp.models.selection import combined_gate, eligibility, gate_with_overrides, oracle_references
from ewp.reports.audit import GateSummary, audit_tables, breach_findings
from ewp.reports.evaluation import EvaluationTables, render_evaluation_report
from ewp.reports.model_card import render_model_card
from ewp.stores.pseudonym import Pseudonymiser
from ewp.stores.tracking import (
    CONFIG_TAG,
    LABEL_TAG,
    LIST_TAG,
    LIST_TAG_PREFIX,
    TRAINING_WINDOW_TAG,
    ChampionInfo,
    Tracker,
    champion_for_other_label,
    tracker_for,
)

EVALUATION_HTML = "evaluation.html"
CURRENT_CHAMPION = "current_champion"


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_dir: Path
    metrics: pd.DataFrame
    summary: pd.DataFrame
    headline: pd.DataFrame
    headline_by_rule: pd.DataFrame
    selection: pd.DataFrame
    champion: str | None
    model_id: str | None
    version: str | None
    promoted: bool
    promotion_reason: str
    # The selected candidate's fairness audit on the latest test block (None: no selection).
    audit_by_group: pd.DataFrame | None = None
    audit_report: Path | None = None
    # Rules that flag fewer officers than a list holds, and how their lists go on.
    short_rule_lists: pd.DataFrame | None = None
    # Precision and recall at k per candidate, pooled over test dates, with intervals.
    precision_curve: pd.DataFrame | None = None
    evaluation_report: Path | None = None
    # The fairness gate's findings in words (ewp.reports.audit.breach_findings): groups outside
    # the band for which options, the current rule included.
    fairness_findings: tuple[str, ...] = ()


def evaluation_fingerprint(config: Config, data_fingerprint: str) -> str:
    """Two evaluations with the same fingerprint measured candidates on the same footing."""
    return fingerprint_json(
        {
            "data": data_fingerprint,
            "seed": config.seed,
            "features": config.features.model_dump(mode="json"),
            "label": config.label.model_dump(mode="json"),
            "evaluation": config.evaluation.model_dump(mode="json", exclude={"candidates"}),
        }
    )


def candidate_spec(candidate: CandidateConfig, *, features: Sequence[str]) -> str:
    """What the registry remembers about a champion, as JSON: its kind, params, feature set
    and the feature list itself (``features``, in the order the model reads them), so a later
    run re-evaluates the same model even if the config's feature sets have changed."""
    return json.dumps(
        {
            "kind": candidate.kind,
            "params": candidate.params,
            "feature_set": candidate.feature_set,
            "features": list(features),
        },
        sort_keys=True,
    )


@dataclasses.dataclass(frozen=True)
class ChampionInGrid:
    """The grid to evaluate with the current champion in it.

    ``candidates`` is the config's grid, plus the champion (named ``CURRENT_CHAMPION``) if the
    grid lacks it; ``feature_sets`` the config's named subsets, plus the champion's recorded
    feature list under ``CURRENT_CHAMPION`` if it needs one; ``name`` the candidate that is
    the champion in this run (None: no champion, or one that cannot be re-evaluated, said in
    ``note``).
    """

    candidates: tuple[CandidateConfig, ...]
    feature_sets: dict[str, tuple[str, ...]]
    name: str | None
    note: str = ""


def with_current_champion(
    candidates: tuple[CandidateConfig, ...],
    champion: ChampionInfo | None,
    *,
    features: Sequence[str],
    feature_sets: Mapping[str, Sequence[str]],
) -> ChampionInGrid:
    """The grid with the current champion in it, found by what it is, not by its name.

    A grid candidate is the champion when its kind and params match the recorded spec and it
    reads the recorded feature list (``features`` are the matrix's columns, ``feature_sets``
    the config's subsets). A spec registered before feature lists were recorded names only
    kind and params (and perhaps the feature set): the candidate with the same feature set
    name ("all" when none) matches. A champion whose features the matrix no longer has cannot
    be re-evaluated: ``name`` is None and ``note`` says why.
    """
    sets = {name: tuple(subset) for name, subset in feature_sets.items()}
    if champion is None or "candidate_spec" not in champion.tags:
        return ChampionInGrid(candidates, sets, None)
    spec = json.loads(champion.tags["candidate_spec"])
    recorded = spec.get("features")
    feature_set = spec.get("feature_set", "all")
    for candidate in candidates:
        if candidate.kind != spec["kind"] or candidate.params != spec["params"]:
            continue
        if recorded is None:
            if candidate.feature_set == feature_set:
                return ChampionInGrid(candidates, sets, candidate.name)
        elif candidate_features(candidate, features=features, feature_sets=sets) == recorded:
            return ChampionInGrid(candidates, sets, candidate.name)
    if recorded is None:
        recorded = list(features) if feature_set == "all" else list(sets.get(feature_set, ()))
    missing = sorted(set(recorded) - set(features))
    if missing or not recorded:
        return ChampionInGrid(
            candidates,
            sets,
            None,
            note=f"the current champion (version {champion.version}) reads features this "
            f"config does not build ({', '.join(missing) or feature_set}), so it cannot be "
            "re-evaluated",
        )
    if recorded == list(features):
        extra_set = "all"
    else:
        extra_set = CURRENT_CHAMPION
        sets[CURRENT_CHAMPION] = tuple(recorded)
    extra = CandidateConfig(
        name=CURRENT_CHAMPION, kind=spec["kind"], params=spec["params"], feature_set=extra_set
    )
    return ChampionInGrid((*candidates, extra), sets, CURRENT_CHAMPION)


def weekly_list_tags(
    *, config: Config, summary: pd.DataFrame, metrics: pd.DataFrame, champion: str
) -> dict[str, str]:
    """What the weekly report says a score means, from this evaluation, as version tags.

    ``label``: the label in words. At the list the scoring config publishes (``top_<k>``, which
    the evaluation always measures, when the list is drawn by top k): ``weekly_list`` (its
    name), ``weekly_list.precision`` (the champion's share of flagged officers who went on to
    the label, pooled over the test dates), ``weekly_list.flagged`` and
    ``weekly_list.test_dates``, the test period, and the headline rule's precision at the same
    list size (``weekly_list.rule_precision``) with the rule in words. Without that list, only
    ``label`` and ``weekly_list`` (the list asked for): the report then says the hit rate is
    not known.
    """
    list_name = f"top_{config.scoring.top_k}"
    tags = {LABEL_TAG: label_in_words(config.label), LIST_TAG: list_name}
    rows = summary.loc[summary["list"] == list_name].set_index("candidate")
    if config.scoring.selection != "top_k" or champion not in rows.index:
        return tags
    dates = pd.to_datetime(metrics.loc[metrics["list"] == list_name, "test_as_of"])
    own = rows.loc[champion]
    tags |= {
        f"{LIST_TAG_PREFIX}precision": f"{float(own['precision']):.6f}",
        f"{LIST_TAG_PREFIX}flagged": f"{float(own['k']):.0f}",
        f"{LIST_TAG_PREFIX}test_dates": f"{int(own['test_dates'])}",
        f"{LIST_TAG_PREFIX}test_period": f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}",
    }
    rule = config.evaluation.headline_rule
    if rule in rows.index:
        described = build_candidate(
            next(c for c in config.evaluation.candidates if c.name == rule), seed=config.seed
        ).describe()
        tags |= {
            f"{LIST_TAG_PREFIX}rule": rule,
            f"{LIST_TAG_PREFIX}rule_description": described,
            f"{LIST_TAG_PREFIX}rule_precision": f"{float(rows.loc[rule, 'precision']):.6f}",
        }
    return tags


def version_description(
    *,
    candidate: CandidateConfig,
    features: Sequence[str],
    training_window: tuple[dt.date, dt.date],
    extracted_on: dt.date,
    selection: str,
    weekly_tags: Mapping[str, str],
) -> str:
    """The registered version's description, as the MLflow UI shows it: what the model is,
    what it was trained on, why it was selected and how often its flags came true."""
    feature_set = (
        "all features" if candidate.feature_set == "all" else f"feature set {candidate.feature_set}"
    )
    text = (
        f"{candidate.name} ({candidate.kind}; {feature_set}: {len(features)} features). "
        f"Trained on as-of dates {training_window[0]} to {training_window[1]} of the export "
        f"taken on {extracted_on}. Selected on {selection}."
    )
    precision = weekly_tags.get(f"{LIST_TAG_PREFIX}precision")
    if precision is not None:
        text += (
            f" In back-testing, {officers_in_words(float(precision))} on a list of the "
            f"{weekly_tags[LIST_TAG].replace('_', ' ')} went on to have {weekly_tags[LABEL_TAG]}."
        )
    return text + " A flag is a prompt for a human review, never a finding."


@dataclasses.dataclass(frozen=True)
class SplitResult:
    """The evaluation and audit input of a split's test dates (``score_split``)."""

    evaluation: SplitEvaluation
    audit: AuditRows


def training_sample(
    data: ForceData,
    matrix: FeatureMatrix,
    dates: tuple[dt.date, ...],
    *,
    config: Config,
    observed_until: dt.date,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows a model trains on: labelled rows at ``dates`` (findings known by
    ``observed_until``), negatives subsampled (``ewp.models.sampling``); rows, labels, weights.
    Labels come from the identifiers alone, a block of dates at a time, each block subsampled
    as it is labelled (one stream of draws: the same rows as subsampling the whole window), so
    only the kept rows' features are read and the window is never held whole."""
    ev = config.evaluation
    sampler = NegativeSubsampler(
        rate=ev.negative_sample_rate, positive_rate=ev.positive_sample_rate, seed=config.seed
    )
    kept_rows, kept_labels, kept_weights = [], [], []
    for observed, y in observed_label_blocks(
        data, matrix, dates, label=config.label, observed_until=observed_until
    ):
        kept, weights = sampler.draw(y)
        kept_rows.append(observed[kept])
        kept_labels.append(y[kept])
        kept_weights.append(weights)
    rows = np.concatenate(kept_rows)
    return matrix.read(dates, rows=rows), np.concatenate(kept_labels), np.concatenate(kept_weights)


@ewp_task(cache_policy=NO_CACHE)
def index_matrix(*, data: ForceData, config: Config) -> FeatureMatrix:
    """The feature matrix, its rows built on demand from the force's events indexed once."""
    return FeatureMatrix.index(data, config=config.features)


@ewp_task(cache_policy=NO_CACHE)
def fit_split(
    *,
    data: ForceData,
    matrix: FeatureMatrix,
    split: Split,
    config: Config,
    candidates: tuple[CandidateConfig, ...],
    feature_sets: Mapping[str, Sequence[str]],
) -> dict[str, FittedCandidate]:
    """Train every candidate for one split (``feature_sets``: the named subsets the candidates
    may use)."""
    train, train_y, weights = training_sample(
        data, matrix, split.train_as_of, config=config, observed_until=split.findings_known_by
    )
    run_logger().info(
        "Split %s: %s",
        split.test_as_of,
        sample_summary(train_y, rate=config.evaluation.negative_sample_rate),
    )
    return fit_candidates(
        train=train,
        train_labels=train_y,
        train_weights=weights,
        features=feature_columns(config.features),
        candidates=candidates,
        seed=config.seed,
        feature_sets=feature_sets,
    )


@ewp_task(cache_policy=NO_CACHE)
def score_split(
    *,
    data: ForceData,
    matrix: FeatureMatrix,
    split: Split,
    dates: tuple[dt.date, ...],
    fitted: dict[str, FittedCandidate],
    config: Config,
    extracted_on: dt.date,
    ground_truth: pd.DataFrame | None,
    curve: tuple[int, ...] = (),
) -> SplitResult:
    """Evaluate a split's ``fitted`` candidates on ``dates`` of its test block (all or a part),
    at the configured list sizes, the published list (``config.scoring``) and the ``curve``
    sizes. The dates' audit input, every candidate's selection list on them, is built here
    too, while their rows are at hand."""
    # The test dates as identifiers, each date's features built as it is scored; the counts
    # the audit reads of them are kept as they pass, at their positions in ``test.ids``.
    test = LabelledDates.read(data, matrix, dates, label=config.label, observed_until=extracted_on)
    counts: dict[str, np.ndarray] = {}

    def rows_keeping_audit_counts(positions: np.ndarray) -> pd.DataFrame:
        rows = test.rows(positions)
        for name in AUDIT_COUNT_COLUMNS:
            values = rows[name].to_numpy()
            if name not in counts:
                counts[name] = np.empty(len(test.ids), dtype=values.dtype)
            counts[name][positions] = values
        return rows

    evaluation = evaluate_fitted(
        fitted,
        test=test.ids,
        test_labels=test.labels,
        test_rows=rows_keeping_audit_counts,
        seed=config.seed,
        sizes=config.evaluation.list_sizes,
        fractions=config.evaluation.list_fractions,
        reference=oracle_references(test.ids, ground_truth),
        curve_sizes=curve,
        published=config.scoring,
        kept_lists=(config.selection_list(),),
    )
    run_logger().info(
        "Split %s: %d test rows over %d dates from %s",
        split.test_as_of,
        len(test.ids),
        len(dates),
        dates[0],
    )
    return SplitResult(
        evaluation=dataclasses.replace(
            evaluation, metrics=evaluation.metrics.assign(split=split.test_as_of.isoformat())
        ),
        audit=audit_rows(
            data=data,
            rows=(
                test.ids[["officer_id", "as_of"]].assign(**counts)
                if counts
                else test.columns(AUDIT_COLUMNS)  # no labelled row: the columns, empty
            ),
            labels=pd.Series(test.labels),
            lists=evaluation.lists.loc[evaluation.lists["list"] == config.selection_list()],
            config=config,
        ),
    )


def block_parts(dates: Sequence[dt.date], parts: int) -> list[tuple[dt.date, ...]]:
    """A test block's dates in ``parts`` runs of consecutive dates, as even as they go (none
    empty), scored as separate tasks so the workers stay busy to the last split. Example:
    five dates in two parts: (d1, d2, d3) and (d4, d5)."""
    return [
        tuple(part) for part in np.array_split(np.array(dates, dtype=object), parts) if len(part)
    ]


def precision_curve_sizes(config: Config, matrix: FeatureMatrix, first_test: dt.date) -> tuple:
    """The list sizes of the precision-at-k curve (``ewp.models.evaluation.curve_sizes``), for the
    cohort at the first test date: around the published list and the configured sizes."""
    cohort = len(matrix.read([first_test], columns=["as_of"]))
    ev, scoring = config.evaluation, config.scoring
    anchors = [*ev.list_sizes, *(k_for_fraction(cohort, f) for f in ev.list_fractions)]
    if scoring.selection == "top_k":
        anchors.append(scoring.top_k)
    return tuple(curve_sizes(cohort=cohort, anchors=anchors))


@ewp_task(**IO_TASK)
def current_champion(tracker: Tracker) -> ChampionInfo | None:
    """The registry's current champion, or None (retried if the store is briefly busy)."""
    return tracker.champion()


@ewp_task(**IO_TASK)
def log_evaluation(
    *, tracker: Tracker, metrics: pd.DataFrame, candidates: tuple[CandidateConfig, ...], tags: dict
) -> None:
    """One MLflow run per candidate x split: params, pooled metrics at each list size."""
    kinds = {c.name: c for c in candidates}
    groups = metrics.groupby(["split", "candidate"], sort=True)
    for (split, name), group in track(groups, "Logging the evaluation to MLflow", groups.ngroups):
        pooled = summarise(group)
        flat = {
            f"{row.list}.{field}": float(getattr(row, field))
            for row in pooled.itertuples(index=False)
            for field in ("k", "tp", "fp", "precision")
        }
        flat["average_precision"] = float(pooled["average_precision"].mean())
        flat["brier"] = float(pooled["brier"].mean())
        candidate = kinds.get(name)
        tracker.log_evaluation_run(
            run_name=f"{name} @ {split}",
            params={
                "candidate": name,
                "kind": candidate.kind if candidate else "reference",
                "test_date": split,
                **(candidate.params if candidate else {}),
            },
            metrics=flat,
            tags={**tags, "stage": "evaluation"},
        )


def evaluation_splits(config: Config) -> list[Split]:
    """The config's temporal splits: one per test date, each with its block of test dates."""
    ev = config.evaluation
    return make_splits(
        test_dates=ev.test_dates,
        label_horizon_days=config.label.horizon_days,
        training_history_days=ev.training_history_days,
        cadence=config.training.cadence,
        data_start=config.training.as_of_start,
        test_block_days=ev.test_block_days,
    )


@ewp_task(cache_policy=NO_CACHE)
def final_sample(
    *, data: ForceData, matrix: FeatureMatrix, split: Split, config: Config
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The final window's training rows, labels and weights (``training_sample``): drawn
    while the splits run, as they do not depend on which candidate is selected."""
    return training_sample(
        data, matrix, split.train_as_of, config=config, observed_until=split.findings_known_by
    )


@ewp_task(cache_policy=NO_CACHE)
def fit_final(
    *,
    sample: tuple[pd.DataFrame, np.ndarray, np.ndarray],
    config: Config,
    candidate: CandidateConfig,
    columns: list[str],
    split: Split,
) -> tuple[object, pd.DataFrame]:
    """Refit the selected candidate on its feature ``columns`` over the final window
    (``sample``, from ``final_sample``); return it and a few example rows."""
    with step(f"Training {candidate.name} on the latest {len(split.train_as_of)} as-of dates"):
        train, train_y, weights = sample
        model = build_candidate(candidate, seed=config.seed).fit(
            train[columns], train_y.astype("int64"), sample_weight=weights
        )
    return model, train[columns].head(5)


# What the fairness audit reads of the matrix (see ewp.flows.audit.audit_frame): identifiers
# and counts.
AUDIT_COUNT_COLUMNS = ["notices_365d", "findings_case_to_answer_all", "findings_no_case_all"]
AUDIT_COLUMNS = ["officer_id", "as_of", *AUDIT_COUNT_COLUMNS]


def audit_by_split(
    *,
    splits: list[Split],
    audits: Sequence[AuditRows],
    chosen: str,
    config: Config,
    references: Mapping[str, tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """The selected model's audit on every test block (``audits``, one per split): by-group
    rows with a ``split`` column, so a reviewer sees whether a disparity is steady or comes
    and goes (against the ``references`` of the selection's audit, so the blocks compare with
    the same groups)."""

    def block_audit(split: Split, rows: AuditRows) -> pd.DataFrame:
        (result,) = audit_candidates(
            rows.only([chosen]), config=config, references=references
        ).audits.values()
        return result.by_group.assign(split=split.test_as_of.isoformat())

    # The blocks' audits are independent: side by side on the configured workers, in order.
    with ThreadPoolExecutor(max_workers=config.evaluation.max_workers) as pool:
        frames = pool.map(block_audit, splits, audits)
        described = f"Auditing {chosen} on each test date"
        return pd.concat(list(track(frames, described, len(splits))), ignore_index=True)


def write_tables(run_dir: Path, tables: dict[str, pd.DataFrame], texts: dict[str, str]) -> None:
    """Write the evaluation tables and texts into the run folder, marked OFFICIAL-SENSITIVE
    and owner-only (``ewp.core.marking``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        write_csv(table, run_dir / name, float_format="%.6f")
    for name, text in texts.items():
        write_text(run_dir / name, text)
    mark_folder(run_dir)


@dataclasses.dataclass(frozen=True)
class TrainInputs:
    """The validated export a training run reads: its folder, data snapshot and export date,
    and the run's pseudonymiser (log lines carry pseudonyms from here on)."""

    export_dir: Path
    data_fingerprint: str
    validated: ValidationResult
    privacy: Pseudonymiser

    @property
    def data(self) -> ForceData:
        """The accepted records."""
        return self.validated.data

    @property
    def extracted_on(self) -> dt.date:
        """The day the export was taken."""
        return self.validated.export_date.extracted_on


def read_export(config: Config, home: Path) -> TrainInputs:
    """Step 1: prepare the export (a force's folder, an ingest or the synthetic force),
    fingerprint it, validate it and protect its officers' identifiers."""
    export_dir = prepare_export(config, home)
    validated = validate(export_dir, config)
    return TrainInputs(
        export_dir=export_dir,
        data_fingerprint=export_fingerprint(export_dir),
        validated=validated,
        privacy=protect_identifiers(validated.data, home),
    )


def checked_splits(config: Config, extracted_on: dt.date) -> list[Split]:
    """The config's splits, once their last test date's labels are all known by the export
    date (else ``SplitError`` naming ``evaluation.test_dates``)."""
    splits = evaluation_splits(config)
    last_test = splits[-1].test_block[-1]
    labelled_until = last_test + dt.timedelta(days=config.label.horizon_days)
    if labelled_until > extracted_on:
        raise SplitError(
            f"evaluation.test_dates: the last test as-of date {last_test} needs labels until "
            f"{labelled_until}, after the export date {extracted_on}; use earlier test dates or "
            "a shorter test_block_days"
        )
    return splits


@dataclasses.dataclass(frozen=True)
class GridEvaluation:
    """Step 2's result: every candidate evaluated on every split, pooled.

    ``matrix`` builds the feature rows of any date the run reads (the published model's
    window, ``final``, included when publishing, and its training rows ``final_sample``);
    ``curve`` the precision-at-k sizes;
    ``audits`` each split's audit input, in the order of ``splits``; ``audited`` every
    candidate's fairness audit on the latest test block, compared with the headline rule.
    """

    splits: list[Split]
    final: Split | None
    final_sample: tuple[pd.DataFrame, np.ndarray, np.ndarray] | None
    matrix: FeatureMatrix
    pooled: PooledEvaluation
    audits: list[AuditRows]
    audited: CandidateAudits
    curve: tuple[int, ...]
    equal_volume: pd.DataFrame
    short_rules: pd.DataFrame


def evaluate_grid(
    *,
    config: Config,
    home: Path,
    inputs: TrainInputs,
    splits: list[Split],
    grid: ChampionInGrid,
    publish: bool,
) -> GridEvaluation:
    """Step 2: index the force's events once, evaluate every candidate of ``grid`` on each
    split in parallel (``fit_split``, ``score_split``), and pool the splits with bootstrap
    intervals, auditing every candidate on the latest test block beside the pooling."""
    ev, data, extracted_on = config.evaluation, inputs.data, inputs.extracted_on
    candidates = grid.candidates
    final = final_split(config, extracted_on) if publish else None
    matrix = index_matrix(data=data, config=config)
    ground_truth = read_ground_truth(inputs.export_dir)
    if ground_truth is not None:
        ground_truth = ground_truth.assign(as_of=pd.to_datetime(ground_truth["as_of"]))
    curve = precision_curve_sizes(config, matrix, splits[0].test_block[0])
    # Every split's training first, then its test block in as many parts as there are
    # workers: a part waits for its split's models, never for another split's.
    fits = [
        fit_split.submit(
            data=data,
            matrix=matrix,
            split=split,
            config=config,
            candidates=candidates,
            feature_sets=grid.feature_sets,
        )
        for split in splits
    ]
    # The published model's training rows are drawn beside the fits (a worker is free while
    # the last split is fitted), whichever candidate is selected.
    final_rows = (
        final_sample.submit(data=data, matrix=matrix, split=final, config=config)
        if final is not None
        else None
    )
    parts = [
        (number, dates)
        for number, split in enumerate(splits)
        for dates in block_parts(split.test_block, ev.max_workers)
    ]
    futures = [
        score_split.submit(
            data=data,
            matrix=matrix,
            split=splits[number],
            dates=dates,
            fitted=fits[number],
            config=config,
            extracted_on=extracted_on,
            ground_truth=ground_truth,
            curve=curve,
        )
        for number, dates in parts
    ]
    results = results_in_order(
        futures,
        description=f"Evaluating {len(candidates)} candidates at "
        f"{len(splits)} test date{'s' if len(splits) > 1 else ''}",
    )
    audits = [
        AuditRows.concat(
            [result.audit for (of, _), result in zip(parts, results, strict=True) if of == n]
        )
        for n in range(len(splits))
    ]
    # Every candidate's list on the latest test block is compared with the force's current
    # rule's (the relative gate's baseline), against reference groups they share. The audit
    # needs no pooled number, so it runs beside the pooling.
    with (
        step(f"Pooling the splits; auditing the fairness of {len(candidates)} candidates"),
        ThreadPoolExecutor(max_workers=1) as beside,
    ):
        audited = beside.submit(audit_candidates, audits[-1], config=config, rule=ev.headline_rule)
        pooled = pool_evaluations(
            [result.evaluation for result in results],
            rules=[c.name for c in candidates if c.kind == "threshold_rule"],
            samples=ev.bootstrap_samples,
            confidence=ev.confidence,
            seed=config.seed,
        )
        return GridEvaluation(
            splits=splits,
            final=final,
            final_sample=final_rows.result() if final_rows is not None else None,
            matrix=matrix,
            pooled=pooled,
            audits=audits,
            audited=audited.result(),
            curve=curve,
            equal_volume=pooled.headline(ev.headline_rule),
            short_rules=short_rule_lists(
                pooled.metrics, fills=rule_fills(candidates, seed=config.seed)
            ),
        )


@dataclasses.dataclass(frozen=True)
class ChampionSelection:
    """Step 3's result: the fairness audit of every candidate, the gate's decisions (before
    and after written overrides), the selection, where the selected candidate's disparities
    come from (``sources``, none without one), and what the gate found, in tables and words."""

    audited: CandidateAudits
    objections: dict[str, GateDecision]
    fairness: dict[str, GateDecision]
    selection: Selection
    sources: pd.DataFrame | None
    tradeoff: pd.DataFrame
    gate: GateSummary
    findings: list[str]


def audit_and_select(
    *,
    config: Config,
    evaluated: GridEvaluation,
    candidates: tuple[CandidateConfig, ...],
    gate: Gate | None,
) -> ChampionSelection:
    """Step 3: gate every candidate on its audit on the latest test block (with any
    written override, and ``gate``), select the champion by the documented rule and ask
    where its disparities come from."""
    ev, selection_list = config.evaluation, config.selection_list()
    audited = evaluated.audited
    objections = gate_decisions(audited, config=config, rule=ev.headline_rule)
    fairness = gate_with_overrides(objections, config.fairness.overrides)
    selection = select_champion(
        evaluated.pooled.metrics,
        list_name=selection_list,
        eligible=eligibility(candidates, allow_black_box=ev.allow_black_box_champion),
        gate=combined_gate(fairness, gate),
        intervals=evaluated.pooled.intervals,
    )
    summary = gate_summary(
        audited,
        options=[c.name for c in candidates],
        config=config,
        rule=ev.headline_rule,
        selection=selection.table,
        champion=selection.champion,
    )
    return ChampionSelection(
        audited=audited,
        objections=objections,
        fairness=fairness,
        selection=selection,
        sources=(
            candidate_sources(
                evaluated.audits[-1],
                selection.champion,
                config=config,
                references=audited.references,
            )
            if selection.champion is not None
            else None
        ),
        tradeoff=tradeoff_table(
            audits=audited.audits,
            selection=selection.table,
            feature_sets={c.name: c.feature_set for c in candidates},
            config=config,
        ),
        gate=summary,
        findings=breach_findings(summary, config.fairness),
    )


@dataclasses.dataclass(frozen=True)
class TrainOutputs:
    """Everything the run folder and the registry are written from (steps 1 to 3)."""

    config: Config
    inputs: TrainInputs
    evaluated: GridEvaluation
    selected: ChampionSelection
    candidates: tuple[CandidateConfig, ...]
    run_dir: Path

    def provenance(self, model_version: str) -> dict[str, str]:
        """What the evaluation and audit reports name as their source."""
        return audit_provenance(
            self.config,
            model_version=model_version,
            data_fingerprint=self.inputs.data_fingerprint,
            extracted_on=self.inputs.extracted_on.isoformat(),
        )

    def tables(self) -> dict[str, pd.DataFrame]:
        """The run folder's evaluation tables, by file name."""
        pooled, selection = self.evaluated.pooled, self.selected.selection
        lists = pooled.lists
        return {
            "metrics.csv": pooled.metrics,
            "summary.csv": pooled.summary,
            "headline.csv": self.evaluated.equal_volume,
            "headline_by_rule.csv": pooled.headline_by_rule,
            "selection.csv": selection.table,
            "stability.csv": stability(lists.loc[lists["list"] == self.config.selection_list()]),
            "precision_at_k.csv": pooled.curve(self.evaluated.curve),
            "calibration.csv": pooled.calibration,
            "score_distribution.csv": pooled.distribution,
            "audit_tradeoff.csv": self.selected.tradeoff,
            "short_rule_lists.csv": self.evaluated.short_rules,
            "audit_comparison.csv": comparison_table(self.selected.audited),
        }

    def report(self, model_version: str, decision: str) -> dict[str, str]:
        """evaluation.html, as a text for ``write_tables``."""
        config, ev = self.config, self.config.evaluation
        pooled, selection_list = self.evaluated.pooled, self.config.selection_list()
        html = render_evaluation_report(
            title=f"Evaluation of the candidate models: {config.name}",
            provenance={
                **self.provenance(model_version),
                "test_dates": ", ".join(d.isoformat() for d in ev.test_dates),
            },
            tables=EvaluationTables(
                selection=self.selected.selection.table,
                summary=pooled.summary,
                headline_by_rule=pooled.headline_by_rule,
                curve=pooled.curve(self.evaluated.curve),
                by_split=by_split(pooled.metrics, list_name=selection_list),
                calibration=pooled.calibration,
                distribution=pooled.distribution,
                short_rule_lists=self.evaluated.short_rules,
                metrics=pooled.metrics,
            ),
            champion=self.selected.selection.champion,
            decision=decision,
            selection_list=selection_list,
            published_list=config.scoring.list_name,
            headline_rule=ev.headline_rule,
            rules=[c.name for c in self.candidates if c.kind in FLAG_RULE_KINDS],
            confidence=ev.confidence,
            bootstrap_samples=ev.bootstrap_samples,
        )
        return {EVALUATION_HTML: html}

    def write_selection_audit(self, model_version: str, folder: Path) -> Path:
        """The selected candidate's audit.html and CSVs (latest test block) in ``folder`` (the
        run folder's staging); returns the report's path in ``run_dir``."""
        champion = str(self.selected.selection.champion)
        selected_audit = self.selected.audited.audits[champion]
        block = self.evaluated.splits[-1].test_block
        written = write_audit(
            run_dir=folder,
            title=f"Fairness audit of {champion}",
            scope=f"model selection: lists at {self.config.selection_list()} on the test dates "
            f"{block[0]} to {block[-1]}",
            result=selected_audit,
            sources=self.selected.sources,
            tradeoff=self.selected.tradeoff,
            gate=self.selected.gate,
            config=self.config,
            provenance=self.provenance(model_version),
        )
        return self.run_dir / written.name

    def result(self, **registered: Any) -> TrainResult:
        """The run's ``TrainResult``; ``registered``: champion, model_id, version, promoted,
        promotion_reason, audit_by_group, audit_report."""
        pooled = self.evaluated.pooled
        return TrainResult(
            fairness_findings=tuple(self.selected.findings),
            run_dir=self.run_dir,
            metrics=pooled.metrics,
            summary=pooled.summary,
            headline=self.evaluated.equal_volume,
            headline_by_rule=pooled.headline_by_rule,
            selection=self.selected.selection.table,
            short_rule_lists=self.evaluated.short_rules,
            precision_curve=pooled.curve(self.evaluated.curve),
            evaluation_report=self.run_dir / EVALUATION_HTML,
            **registered,
        )


def write_unregistered(outputs: TrainOutputs, tables: dict[str, pd.DataFrame]) -> TrainResult:
    """Step 4 without registering: no eligible candidate, or an evaluation only
    (``publish`` false). The run folder still gets every table, the report and (with a
    selected candidate) its audit."""
    champion = outputs.selected.selection.champion
    audit_report = None
    if champion is None:
        run_logger().warning("No eligible candidate: nothing registered")
    unregistered = f"{champion} (evaluated, not registered)"
    reason = (
        "no candidate was eligible" if champion is None else "evaluation only: nothing registered"
    )
    with staged_dir(outputs.run_dir) as staging:
        write_tables(
            staging,
            tables,
            outputs.report("none" if champion is None else unregistered, reason),
        )
        if champion is not None:
            audit_report = outputs.write_selection_audit(unregistered, staging)
    return outputs.result(
        champion=champion,
        model_id=None,
        version=None,
        promoted=False,
        promotion_reason="no eligible candidate" if champion is None else reason,
        audit_by_group=outputs.selected.audited.audits[champion].by_group if champion else None,
        audit_report=audit_report,
    )


def champion_card(
    outputs: TrainOutputs,
    *,
    chosen: CandidateConfig,
    model_id: str,
    terms: ModelTerms,
) -> str:
    """The model card of the selected candidate, scrubbed of officer identifiers (it is shared
    beyond the data home)."""
    config, selected = outputs.config, outputs.selected
    selection, split = selected.selection, outputs.evaluated.final
    assert split is not None  # publishing: the final window was built
    card = render_model_card(
        model_id=model_id,
        candidate=chosen.name,
        kind=chosen.kind,
        params=chosen.params,
        interpretable=is_interpretable(chosen.kind),
        training_window=(split.train_as_of[0].isoformat(), split.train_as_of[-1].isoformat()),
        data_fingerprint=outputs.inputs.data_fingerprint,
        extracted_on=outputs.inputs.validated.export_date.describe(),
        label_description=label_description(config),
        features=feature_specs(config.features),
        headline=outputs.evaluated.equal_volume,
        summary=outputs.evaluated.pooled.summary,
        selection=selection.table,
        selection_metric=selection.metric,
        rule_name=config.evaluation.headline_rule,
        gate_notes=[
            f"{name}: {reason}"
            for name, reason in zip(
                selection.table["candidate"], selection.table["gate_reason"], strict=True
            )
            if reason
        ],
        override_reason=None
        if selected.objections[chosen.name].passed
        else config.fairness.overrides.get(chosen.name),
        terms=terms,
        fairness_findings=selected.findings,
    )
    return outputs.inputs.privacy.scrub(card)


def register_version(
    outputs: TrainOutputs,
    *,
    tracker: Tracker,
    chosen: CandidateConfig,
    features: list[str],
    model: object,
    example: pd.DataFrame | None,
    model_id: str,
    card: str,
    terms: ModelTerms,
    tags: Mapping[str, str],
) -> str | None:
    """Log the selected candidate's refit to MLflow with its card and tables, and register it
    as a version of ``ewp-escalation``; returns the version."""
    config, selected = outputs.config, outputs.selected
    selection, evaluated = selected.selection, outputs.evaluated
    split = evaluated.final
    assert split is not None  # publishing: the final window was built
    scores = selection.table.set_index("candidate")["mean_precision"]
    summary = evaluated.pooled.summary
    weekly_tags = weekly_list_tags(
        config=config, summary=summary, metrics=evaluated.pooled.metrics, champion=chosen.name
    )
    gate_tags = {
        "fairness_gate": selected.fairness[chosen.name].reason or "passed",
        FINDINGS_TAG: findings_tag(selected.findings),
    }
    logged = tracker.log_training_run(
        run_name=model_id,
        model=model,
        example_features=example,
        params={"candidate": chosen.name, "kind": chosen.kind, **chosen.params},
        metrics={
            f"selection.{selection.metric}": float(scores[chosen.name]),
            **{
                f"headline.{column}": float(value)
                for column, value in evaluated.equal_volume.set_index("candidate")
                .loc[chosen.name, ["tp", "fp", "precision", "tp_ratio", "fp_change"]]
                .items()
            },
        },
        tags={**tags, "model_id": model_id, "stage": "champion-candidate", **gate_tags},
        texts={
            "model_card.md": card,
            "config.yaml": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=True),
        },
        tables={
            "summary.csv": summary,
            "headline.csv": evaluated.equal_volume,
            "headline_by_rule.csv": evaluated.pooled.headline_by_rule,
            "audit_tradeoff.csv": selected.tradeoff,
            "features.csv": terms.table,
            "audit_breaches.csv": selected.gate.breaches,
            **audit_tables(selected.audited.audits[chosen.name], selected.sources),
        },
        register=True,
        version_description=version_description(
            candidate=chosen,
            features=features,
            training_window=(split.train_as_of[0], split.train_as_of[-1]),
            extracted_on=outputs.inputs.extracted_on,
            selection=f"{selection.metric} = {float(scores[chosen.name]):.4f}",
            weekly_tags=weekly_tags,
        ),
        version_tags={
            **tags,
            "model_id": model_id,
            CONFIG_TAG: outputs.config.name,
            "candidate": chosen.name,
            "kind": chosen.kind,
            "candidate_spec": candidate_spec(chosen, features=features),
            "selection_metric": selection.metric,
            "selection_score": f"{float(scores[chosen.name]):.6f}",
            TRAINING_WINDOW_TAG: f"{split.train_as_of[0]} to {split.train_as_of[-1]}",
            **weekly_tags,
            **gate_tags,
        },
    )
    return logged.version


def publish_champion(
    outputs: TrainOutputs,
    tables: dict[str, pd.DataFrame],
    *,
    tracker: Tracker,
    current: ChampionInfo | None,
    grid: ChampionInGrid,
    tags: Mapping[str, str],
) -> TrainResult:
    """Step 4: refit the selected candidate on the latest window (or load it, if it already
    is the champion), write the run folder with its model card, register the new version and
    move the champion alias if it beats the current champion."""
    config, selected = outputs.config, outputs.selected
    selection = selected.selection
    chosen = next(c for c in outputs.candidates if c.name == selection.champion)
    split = outputs.evaluated.final
    assert split is not None  # publishing: the final window was built
    # The chosen candidate's own features: two candidates that differ only in their feature
    # set are different models, with different IDs.
    features = candidate_features(
        chosen, features=feature_columns(config.features), feature_sets=grid.feature_sets
    )
    model_id = candidate_identity(
        candidate=chosen,
        features=features,
        training_window=(split.train_as_of[0].isoformat(), split.train_as_of[-1].isoformat()),
        seed=config.seed,
        data_fingerprint=outputs.inputs.data_fingerprint,
    )
    scores = selection.table.set_index("candidate")["mean_precision"]
    already_champion = current is not None and current.tags.get("model_id") == model_id
    decision = promotion_decision(
        metric=selection.metric,
        candidate_score=float(scores[chosen.name]),
        champion_score=float(scores[grid.name]) if grid.name else None,
        same_model=already_champion,
    )
    if grid.note and not already_champion:
        # Not "no champion yet": there is one, it just cannot be compared. A person decides.
        decision = PromotionDecision(
            False,
            f"{grid.note}; the champion alias stays: promote the new version with "
            "ewp models promote if it should serve",
        )
    # The model the card describes: this run's refit, or the champion itself on a rerun.
    if already_champion:
        assert current is not None
        model, example = tracker.load_model(current.model_uri), None
    else:
        sample = outputs.evaluated.final_sample
        assert sample is not None  # publishing: the final window's rows were drawn
        model, example = fit_final(
            sample=sample, config=config, candidate=chosen, columns=features, split=split
        )
    terms = model_terms(model)
    card = champion_card(outputs, chosen=chosen, model_id=model_id, terms=terms)
    with staged_dir(outputs.run_dir) as staging:
        outcome = "champion alias moves" if decision.promote else "champion alias unchanged"
        write_tables(
            staging,
            tables,
            {"model_card.md": card, **outputs.report(model_id, f"{outcome}: {decision.reason}")},
        )
        audit_report = outputs.write_selection_audit(model_id, staging)
    version = None
    if not already_champion:  # a rerun on the same data and config registers nothing new
        version = register_version(
            outputs,
            tracker=tracker,
            chosen=chosen,
            features=features,
            model=model,
            example=example,
            model_id=model_id,
            card=card,
            terms=terms,
            tags=tags,
        )
        if decision.promote and version is not None:
            tracker.set_champion(version=version, reason=decision.reason, promoted_by="ewp train")
    run_logger().info("Champion decision: %s", decision.reason)
    return outputs.result(
        champion=chosen.name,
        model_id=model_id,
        version=version,
        promoted=decision.promote,
        promotion_reason=decision.reason,
        audit_by_group=selected.audited.audits[chosen.name].by_group,
        audit_report=audit_report,
    )


@ewp_flow(name="ewp-train")
def train_flow(
    config: Config, home: Path, gate: Gate | None = None, publish: bool = True
) -> TrainResult:
    """Evaluate the candidate grid over time, select a champion and (``publish``) log it to
    the MLflow registry, moving the champion alias if it beats the current one. ``gate``
    (default: no objection) may veto candidates, e.g. for fairness. The steps of the module
    docstring, in order."""
    logger = run_logger()
    inputs = read_export(config, home)
    splits = checked_splits(config, inputs.extracted_on)
    tracker = tracker_for(config, home, inputs.privacy)
    stored = current_champion(tracker)
    foreign = stored and champion_for_other_label(stored.tags, label=label_in_words(config.label))
    # A champion for another label answers another question (another config's, sharing this
    # store): it is neither re-evaluated nor displaced here (publish_champion keeps the alias
    # where the grid carries a note), and this run registers a version of its own.
    current = None if foreign else stored
    grid = with_current_champion(
        config.evaluation.candidates,
        current,
        features=feature_columns(config.features),
        feature_sets=config.evaluation.feature_sets,
    )
    if stored and foreign:
        grid = dataclasses.replace(
            grid,
            note=f"the current champion (version {stored.version}) {foreign}, so it is "
            "not compared with this run's candidates; configs with different labels need "
            "stores of their own (store: in the config)",
        )
    if grid.note:
        logger.warning("%s", grid.note)
    evaluated = evaluate_grid(
        config=config, home=home, inputs=inputs, splits=splits, grid=grid, publish=publish
    )
    selected = audit_and_select(
        config=config, evaluated=evaluated, candidates=grid.candidates, gate=gate
    )
    for line in selected.findings:
        logger.info("Fairness: %s", line)
    tags = {
        "data_fingerprint": inputs.data_fingerprint,
        "evaluation_fingerprint": evaluation_fingerprint(config, inputs.data_fingerprint),
        "export_date": inputs.validated.export_date.describe(),
    }
    log_evaluation(
        tracker=tracker, metrics=evaluated.pooled.metrics, candidates=grid.candidates, tags=tags
    )
    outputs = TrainOutputs(
        config=config,
        inputs=inputs,
        evaluated=evaluated,
        selected=selected,
        candidates=grid.candidates,
        run_dir=home / "runs" / config.name / f"train-{inputs.extracted_on.isoformat()}",
    )
    tables = outputs.tables()
    champion = selected.selection.champion
    if champion is not None:
        tables["audit_by_split.csv"] = audit_by_split(
            splits=splits,
            audits=evaluated.audits,
            chosen=champion,
            config=config,
            references=selected.audited.references,
        )
    if champion is None or not publish:
        return write_unregistered(outputs, tables)
    return publish_champion(outputs, tables, tracker=tracker, current=current, grid=grid, tags=tags)


def task_runner(config: Config) -> TaskRunner:
    """The configured task runner (``runtime``): a thread pool of ``evaluation.max_workers``,
    a local Dask cluster of that many workers, or the Dask cluster at ``dask_address``."""
    workers = config.evaluation.max_workers
    if config.runtime.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise RuntimeError(
            "runtime.task_runner is 'dask' but prefect-dask is not installed: "
            "pip install -e '.[dask]'"
        ) from exc
    if config.runtime.dask_address is not None:
        return DaskTaskRunner(address=config.runtime.dask_address)
    # Worker threads in this process: tasks share memory (no copies of the data), and numpy
    # and scikit-learn release the GIL in their heavy loops.
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "processes": False,
            "threads_per_worker": 1,
            "dashboard_address": None,
        }
    )


def run_train(
    config: Config, home: Path, *, gate: Gate | None = None, publish: bool = True
) -> TrainResult:
    """Run ``train_flow`` on the configured task runner (splits evaluated in parallel)."""
    return train_flow.with_options(task_runner=task_runner(config))(config, home, gate, publish)


def label_description(config: Config) -> str:
    """The label in words, for the model card."""
    parts = ["a notice in a serious category (" + ", ".join(config.label.serious_categories) + ")"]
    if config.label.gross_misconduct:
        parts.append("a notice assessed as potential gross misconduct")
    if config.label.proven_finding:
        parts.append("a notice later proven (counted only once the finding is decided)")
    return f"Within {config.label.horizon_days} days of the as-of date: " + "; or ".join(parts)
