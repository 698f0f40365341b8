"""The fairness audit, wired: for a weekly list and for every candidate in training.

Pure pieces: ``ewp.models.fairness`` (metrics, intervals, verdicts, gate) and ``ewp.reports.audit``
(rendering). This module builds the audit's input frame from feature rows and writes the
outputs; ``ewp audit RUN`` re-runs the audit of a published weekly list.

Per officer and date the frame carries ``flagged`` (on the list), ``label`` (escalated within
the horizon, or NaN for a weekly list whose outcome is not known yet), the protected attributes
as of the date (audit only), and, for "where the disparity comes from", notices received in the
12 months before the date (``notices_365d``) and decided notices and those with a case to
answer among all decided before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from ewp.core.atomic import write_csv, write_text
from ewp.core.config import Config
from ewp.core.contract import ForceData
from ewp.core.marking import mark_folder
from ewp.core.provenance import fingerprint_json
from ewp.features.history import serving_cohort
from ewp.models.evaluation import GateDecision
from ewp.models.fairness import (
    COMPARISON_COLUMNS,
    AuditResult,
    RollingAudit,
    attributes_as_of,
    audit,
    band_breaches,
    choose_references,
    collapse_rows,
    compare_with_rule,
    disparity_sources,
    fairness_gate,
    gate_rows,
    not_audited,
    rolling_audit,
)
from ewp.reports.audit import UNGATED_COLUMNS, GateSummary, audit_tables, render_audit_report

AUDIT_HTML = "audit.html"
# The audit frame's counts (``audit_frame``): summed when rows are merged (``collapse_rows``).
AUDIT_COUNTS = ("notices", "decided", "case_to_answer")


def audit_frame(
    data: ForceData, rows: pd.DataFrame, *, flagged: pd.Series, labels: pd.Series, config: Config
) -> pd.DataFrame:
    """The audit's input for feature-matrix ``rows`` (officer_id, as_of and features)."""
    frame = pd.DataFrame(
        {
            "officer_id": officer_categories(rows["officer_id"]),
            "as_of": pd.to_datetime(rows["as_of"]).to_numpy(),
            "flagged": flagged.to_numpy(dtype=bool),
            "label": labels.to_numpy(dtype="float64"),
            "notices": rows["notices_365d"].to_numpy(dtype="float64"),
            "decided": (
                rows["findings_case_to_answer_all"] + rows["findings_no_case_all"]
            ).to_numpy(dtype="float64"),
            "case_to_answer": rows["findings_case_to_answer_all"].to_numpy(dtype="float64"),
        }
    )
    attributes = attributes_as_of(
        data.officers, frame, age_band_edges=config.fairness.age_band_edges
    )
    return pd.concat([frame, attributes.reset_index(drop=True)], axis=1)


def officer_categories(officer_ids: pd.Series) -> pd.Categorical:
    """Officer IDs as text in a categorical (categories sorted): the audit groups by officer
    once per candidate and attribute, and a category code is coded once
    (``ewp.models.fairness._clusters``). Each distinct ID is converted to text once, not each
    of a national block's millions of officer-dates."""
    codes, distinct = pd.factorize(officer_ids, use_na_sentinel=False)
    as_text = pd.Categorical(np.asarray(distinct).astype(str))
    return pd.Categorical.from_codes(as_text.codes[codes], dtype=as_text.dtype)


def run_audit(
    frame: pd.DataFrame,
    *,
    config: Config,
    references: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[AuditResult, pd.DataFrame]:
    """The audit and the disparity sources of one frame (several dates pool by officer), both
    against the same reference groups (``references``, or chosen from this frame)."""
    if references is None:
        references = choose_references(frame, config=config.fairness)
    result = audit(frame, config=config.fairness, seed=config.seed, references=references)
    sources = disparity_sources(
        frame, config=config.fairness, seed=config.seed, references=references
    )
    return result, sources


def audit_provenance(
    config: Config, *, model_version: str, data_fingerprint: str, extracted_on: str
) -> dict[str, str]:
    """What an audit report names as its source: model, data snapshot, config, export date."""
    return {
        "model_version": model_version,
        "data_fingerprint": data_fingerprint,
        "config_name": config.name,
        "config_fingerprint": fingerprint_json(config.model_dump(mode="json")),
        "extracted_on": extracted_on,
    }


def write_audit(
    *,
    run_dir: Path,
    title: str,
    scope: str,
    result: AuditResult,
    sources: pd.DataFrame | None,
    tradeoff: pd.DataFrame | None,
    config: Config,
    provenance: Mapping[str, str],
    gate: GateSummary | None = None,
    rolling: RollingAudit | None = None,
) -> Path:
    """Write ``audit.html`` and the audit CSVs into ``run_dir``, mark the folder
    OFFICIAL-SENSITIVE and owner-only (``ewp.core.marking``); return the HTML path. With a
    ``gate`` (a model selection) also ``audit_breaches.csv``; with ``rolling`` (several weeks'
    lists) ``audit_rolling_by_group.csv`` and ``audit_rolling_trend.csv``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, table in audit_tables(result, sources).items():
        write_csv(table, run_dir / name, float_format="%.6f")
    if tradeoff is not None:
        write_csv(tradeoff, run_dir / "audit_tradeoff.csv", float_format="%.6f")
    if gate is not None:
        write_csv(gate.breaches, run_dir / "audit_breaches.csv", float_format="%.6f")
    if rolling is not None:
        write_csv(
            rolling.pooled.by_group, run_dir / "audit_rolling_by_group.csv", float_format="%.6f"
        )
        write_csv(rolling.trend, run_dir / "audit_rolling_trend.csv", float_format="%.6f")
    html = render_audit_report(
        title=title,
        scope=scope,
        audit=result,
        sources=sources,
        tradeoff=tradeoff,
        config=config.fairness,
        provenance=provenance,
        gate=gate,
        rolling=rolling,
    )
    path = write_text(run_dir / AUDIT_HTML, html)
    mark_folder(run_dir)
    return path


@dataclass(frozen=True)
class CandidateAudits:
    """Every candidate's audit on the same rows, against shared reference groups.

    ``audits``: candidate -> its audit; ``comparisons``: candidate -> its
    comparison with the rule (``ewp.models.fairness.compare_with_rule``; empty without a rule);
    ``references``: per attribute, the reference group and how it was chosen.
    """

    audits: dict[str, AuditResult]
    comparisons: dict[str, pd.DataFrame]
    references: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class AuditRows:
    """A test block's audit input with every candidate's list, merged (``collapse_rows``).

    ``frame``: officer_id, the audited attributes, label, the counts of ``AUDIT_COUNTS`` and
    ``rows``, one row per officer, attributes, label and flags of every list; ``flagged``:
    per candidate, which of those rows its list flags. Built once per test block where the
    block's rows are at hand (a national block is 8 million officer-dates), audited later
    for any of its candidates: a partition finer than one candidate needs gives that
    candidate's audit to the bit (each officer's sums are the same).
    """

    frame: pd.DataFrame
    flagged: dict[str, np.ndarray]

    def only(self, candidates: Sequence[str]) -> AuditRows:
        """The same rows with the lists of ``candidates`` only."""
        return AuditRows(self.frame, {name: self.flagged[name] for name in candidates})

    @staticmethod
    def concat(parts: Sequence[AuditRows]) -> AuditRows:
        """The parts of a test block's dates (each with every candidate's list) as one. An
        officer's rows from different parts stay separate rows: the audit sums an officer's
        rows, so the numbers are those of the block merged whole."""
        if len(parts) == 1:
            return parts[0]
        frame = pd.concat([part.frame for part in parts], ignore_index=True)
        frame["officer_id"] = union_categoricals(
            [part.frame["officer_id"] for part in parts], sort_categories=True
        )
        names = parts[0].flagged
        flagged = {name: np.concatenate([part.flagged[name] for part in parts]) for name in names}
        return AuditRows(frame, flagged)


def audit_rows(
    *, data: ForceData, rows: pd.DataFrame, labels: pd.Series, lists: pd.DataFrame, config: Config
) -> AuditRows:
    """The audit input of test rows (officer_id, as_of and ``AUDIT_COLUMNS``, labelled) and
    every candidate's list on them.

    ``lists`` has candidate, test_as_of and officer_ids for the audited list size; an officer
    is flagged on a date if on that candidate's list that day. Lists may be short or empty (a
    rule flags whom it flags): every candidate in ``lists`` is kept.
    """
    # The rows and their attributes are the same for every candidate: built once (a national
    # test block is millions of rows); only who is flagged changes.
    unflagged = pd.Series(False, index=rows.index)
    base = audit_frame(data, rows, flagged=unflagged, labels=labels, config=config)
    # Each row as one integer, officer code by date code, so a list is matched by integers.
    officers = base["officer_id"].cat
    date_codes, dates = pd.factorize(_nanoseconds(base["as_of"]))
    keys = officers.codes.to_numpy().astype("int64") * len(dates) + date_codes
    flagged: dict[str, np.ndarray] = {}
    for candidate in sorted(lists["candidate"].astype(str).unique()):
        pairs = lists.loc[lists["candidate"] == candidate].explode("officer_ids")
        pairs = pairs.dropna(subset=["officer_ids"])
        officer = officers.categories.get_indexer(pairs["officer_ids"].astype(str).to_numpy())
        date = pd.Index(dates).get_indexer(_nanoseconds(pairs["test_as_of"]))
        found = (officer >= 0) & (date >= 0)
        flagged[candidate] = np.isin(keys, officer[found] * len(dates) + date[found])
    # Every candidate is audited on the same rows: merged once per officer, attributes, label
    # and flags (``collapse_rows``, the same results), a national block shrinks 8 million
    # officer-dates to about one row per officer.
    frame, flagged = collapse_rows(
        base.drop(columns="flagged"),
        keys=["officer_id", *config.fairness.attributes, "label"],
        sums=AUDIT_COUNTS,
        flagged=flagged,
    )
    return AuditRows(frame, flagged)


def audit_candidates(
    rows: AuditRows,
    *,
    config: Config,
    rule: str | None = None,
    references: Mapping[str, tuple[str, str]] | None = None,
) -> CandidateAudits:
    """Audit every candidate of ``rows``. The reference groups are shared (``references``, or
    chosen over every candidate's lists, see ``ewp.models.fairness.choose_references``), and
    with a ``rule`` every candidate is compared with it on the same resampled officers. Where
    a disparity comes from is asked of the selected candidate only (``candidate_sources``): no
    decision reads it, and each of its bootstraps resamples every officer's counts.
    """
    base, flagged = rows.frame, rows.flagged
    if references is None:
        columns = {f"list:{name}": on_list for name, on_list in flagged.items()}
        references = choose_references(
            pd.concat([base, pd.DataFrame(columns, index=base.index)], axis=1),
            config=config.fairness,
            flagged=list(columns),
        )
    # The candidates' audits are independent (each draws from its own seeded generator), so
    # they run side by side on the configured number of workers: the same tables, in order.
    with ThreadPoolExecutor(max_workers=config.evaluation.max_workers) as pool:
        compared = (
            pool.submit(
                compare_with_rule,
                base,
                flagged=flagged,
                rule=rule,
                references=references,
                config=config.fairness,
                seed=config.seed,
            )
            if rule is not None and rule in flagged
            else None
        )
        audited = pool.map(
            lambda on_list: audit(
                base.assign(flagged=on_list),
                config=config.fairness,
                seed=config.seed,
                references=references,
            ),
            flagged.values(),
        )
        audits = dict(zip(flagged, audited, strict=True))
        comparisons = compared.result() if compared is not None else {}
    return CandidateAudits(audits=audits, comparisons=comparisons, references=dict(references))


def candidate_sources(
    rows: AuditRows,
    candidate: str,
    *,
    config: Config,
    references: Mapping[str, tuple[str, str]],
) -> pd.DataFrame:
    """Where ``candidate``'s flag-rate disparities on ``rows`` come from
    (``ewp.models.fairness.disparity_sources``), against the ``references`` of its audit. Its
    own seeded generator: the same table whenever it is asked for."""
    return disparity_sources(
        rows.frame.assign(flagged=rows.flagged[candidate]),
        config=config.fairness,
        seed=config.seed,
        references=references,
    )


def _nanoseconds(dates: pd.Series) -> np.ndarray:
    """Dates as datetime64[ns], so dates of different resolutions compare equal."""
    return pd.to_datetime(dates).to_numpy().astype("datetime64[ns]")


def gate_decisions(
    candidates: CandidateAudits, *, config: Config, rule: str
) -> dict[str, GateDecision]:
    """The fairness gate's decision on every audited candidate
    (``ewp.models.fairness.fairness_gate``): relative to ``rule`` (``evaluation.headline_rule``) or
    absolute, as configured."""
    relative = config.fairness.gate == "relative_to_rule"
    return {
        name: fairness_gate(
            result,
            config=config.fairness,
            comparison=candidates.comparisons.get(name) if relative else None,
            rule=rule,
        )
        for name, result in candidates.audits.items()
    }


def gate_summary(
    candidates: CandidateAudits,
    *,
    options: Sequence[str],
    config: Config,
    rule: str,
    selection: pd.DataFrame,
    champion: str | None,
) -> GateSummary:
    """What the gate decided across the audited ``options`` (the configured candidates, not
    reference scores such as the synthetic force's oracle), and every group outside the band
    for any of them (the rule included), for the audit page, the model card and MLflow."""
    passed = selection.set_index("candidate")["gate_passed"]
    results = {name: result for name, result in candidates.audits.items() if name in set(options)}
    any_audit = next(iter(results.values()), None)
    missing = not_audited(any_audit, config.fairness.attributes) if any_audit else []
    ungated = [a for a in config.fairness.ungated_attributes if a not in missing]
    return GateSummary(
        mode=config.fairness.gate,
        rule=rule,
        champion=champion,
        passed={name: bool(passed.get(name, False)) for name in results},
        breaches=band_breaches(results, metrics=config.fairness.gate_metrics),
        not_audited=missing,
        ungated=ungated,
        ungated_against=_ungated_against(candidates, ungated, champion=champion, config=config),
    )


def _ungated_against(
    candidates: CandidateAudits, ungated: Sequence[str], *, champion: str | None, config: Config
) -> pd.DataFrame:
    """The champion's rows on the ``ungated`` attributes that would have blocked it had they
    been gated (``gate_rows``), with each attribute's reference group: for the findings."""
    if champion is None or champion not in candidates.audits or not ungated:
        return pd.DataFrame(columns=UNGATED_COLUMNS)
    _, against, _ = gate_rows(
        candidates.audits[champion],
        config=config.fairness,
        comparison=candidates.comparisons.get(champion),
        attributes=ungated,
    )
    references = {name: group for name, (group, _) in candidates.references.items()}
    return against.assign(
        reference=against["attribute"].map(references),
        rule_ratio=against.get("rule_ratio", np.nan),
    )[list(UNGATED_COLUMNS)].reset_index(drop=True)


def comparison_table(candidates: CandidateAudits) -> pd.DataFrame:
    """Every candidate's comparison with the rule in one table (a ``candidate`` column first)."""
    frames = [
        table.assign(candidate=name)[["candidate", *COMPARISON_COLUMNS]]
        for name, table in sorted(candidates.comparisons.items())
    ]
    if not frames:
        return pd.DataFrame(columns=["candidate", *COMPARISON_COLUMNS])
    return pd.concat(frames, ignore_index=True)


# MLflow keeps a tag's value up to a few thousand characters: the findings are cut there, the
# whole text is in the model card and audit.html.
FINDINGS_TAG = "fairness_findings"
FINDINGS_TAG_CHARACTERS = 4000


def findings_tag(findings: Sequence[str]) -> str:
    """The gate's findings as one tag value: one line each, cut to fit MLflow's tag limit."""
    text = "\n".join(findings)
    if len(text) <= FINDINGS_TAG_CHARACTERS:
        return text
    more = " … (cut: the model card and audit.html have every line)"
    return text[: FINDINGS_TAG_CHARACTERS - len(more)] + more


def champion_findings(tags: Mapping[str, str]) -> list[str]:
    """The findings recorded with a registered model (its ``fairness_findings`` tag), one per
    line; empty for a model registered before they were recorded."""
    return [line for line in tags.get(FINDINGS_TAG, "").split("\n") if line]


def rolling_frame(data: ForceData, lists: pd.DataFrame, *, config: Config) -> pd.DataFrame:
    """The rolling audit's input (``ewp.models.fairness.rolling_audit``): every officer serving on
    each list date of ``lists`` (``as_of``, ``officer_id``: the published flags), flagged if on
    that date's list, with the attributes as of that date. Outcomes are not known: no label."""
    dates = sorted(set(pd.to_datetime(lists["as_of"]).dt.date))
    cohort = serving_cohort(data, dates, config=config.features)
    as_of = pd.to_datetime(cohort["as_of"])
    published = pd.MultiIndex.from_arrays(
        [lists["officer_id"].astype(str).to_numpy(), pd.to_datetime(lists["as_of"]).to_numpy()]
    )
    serving = pd.MultiIndex.from_arrays(
        [cohort["officer_id"].astype(str).to_numpy(), as_of.to_numpy()]
    )
    frame = pd.DataFrame(
        {
            "officer_id": cohort["officer_id"].astype(str).to_numpy(),
            "as_of": as_of.to_numpy(),
            "flagged": serving.isin(published),
            "label": np.nan,
        }
    )
    attributes = attributes_as_of(
        data.officers, frame, age_band_edges=config.fairness.age_band_edges
    )
    return pd.concat([frame, attributes], axis=1)


def weekly_rolling_audit(
    data: ForceData, lists: pd.DataFrame, *, as_of: dt.date, config: Config
) -> RollingAudit | None:
    """The rolling audit of the weekly lists published in the ``fairness.rolling_weeks`` weeks
    up to ``as_of`` (``lists``: as_of, officer_id; this week's included), or None while fewer
    than ``fairness.rolling_min_weeks`` weeks of lists exist. Worked example: 12 weeks up to
    2024-12-30 covers lists dated 2024-10-14 to 2024-12-30."""
    fairness = config.fairness
    first = as_of - dt.timedelta(weeks=fairness.rolling_weeks - 1)
    dates = pd.to_datetime(lists["as_of"]).dt.date
    in_window = (dates >= first) & (dates <= as_of)
    if dates.loc[in_window].nunique() < fairness.rolling_min_weeks:
        return None
    frame = rolling_frame(data, lists.loc[in_window], config=config)
    return rolling_audit(frame, config=fairness, seed=config.seed)


def tradeoff_table(
    *,
    audits: Mapping[str, AuditResult],
    selection: pd.DataFrame,
    feature_sets: Mapping[str, str],
    config: Config,
) -> pd.DataFrame:
    """Precision against disparity across candidates, one row each: mean precision at the
    selection list and the gated ratios (e.g. ``flag_rate_ratio:ethnicity=Black``)."""
    rows = []
    precision = selection.set_index("candidate")["mean_precision"]
    for name, result in sorted(audits.items()):
        row: dict[str, object] = {
            "candidate": name,
            "feature_set": feature_sets.get(name, "reference"),
            "precision": float(precision.get(name, float("nan"))),
        }
        gated = result.by_group.loc[
            result.by_group["metric"].isin(config.fairness.gate_metrics)
            & result.by_group["attribute"].isin(["ethnicity", "gender"])
            & (result.by_group["verdict"] != "reference")
        ]
        for item in gated.itertuples(index=False):
            row[f"{item.metric}_ratio:{item.attribute}={item.group}"] = item.ratio
        rows.append(row)
    return pd.DataFrame(rows)


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
    audited together (``weekly_rolling_audit``)."""
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
