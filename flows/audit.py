"""The fairness audit, wired: for a weekly list and for every candidate in training.

Pure pieces: ``models.fairness`` (metrics, intervals, verdicts, gate) and ``reports.audit``
(rendering). This module builds the audit's input frame from feature rows and writes the
outputs; ``ewp audit RUN`` re-runs the audit of a published weekly list.

Per officer and date the frame carries ``flagged`` (on the list), ``label`` (escalated within
the horizon, or NaN for a weekly list whose outcome is not known yet), the protected attributes
as of the date (audit only), and, for "where the disparity comes from", notices received in the
12 months before the date (``notices_365d``) and decided notices and those with a case to
answer among all decided before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ewp.atomic import write_csv, write_text
from ewp.config import Config
from ewp.contract import ForceData
from ewp.marking import mark_folder
from ewp.provenance import fingerprint_json
from models.evaluation import GateDecision
from models.fairness import AuditResult, attributes_as_of, audit, disparity_sources
from reports.audit import audit_tables, render_audit_report

AUDIT_HTML = "audit.html"


def audit_frame(
    data: ForceData, rows: pd.DataFrame, *, flagged: pd.Series, labels: pd.Series, config: Config
) -> pd.DataFrame:
    """The audit's input for feature-matrix ``rows`` (officer_id, as_of and features)."""
    frame = pd.DataFrame(
        {
            "officer_id": rows["officer_id"].to_numpy(),
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


def run_audit(frame: pd.DataFrame, *, config: Config) -> tuple[AuditResult, pd.DataFrame]:
    """The audit and the disparity sources of one frame (several dates pool by officer)."""
    result = audit(frame, config=config.fairness, seed=config.seed)
    sources = disparity_sources(frame, config=config.fairness, seed=config.seed)
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
) -> Path:
    """Write ``audit.html`` and the audit CSVs into ``run_dir``, mark the folder
    OFFICIAL-SENSITIVE and owner-only (``ewp.marking``); return the HTML path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, table in audit_tables(result, sources).items():
        write_csv(table, run_dir / name, float_format="%.6f")
    if tradeoff is not None:
        write_csv(tradeoff, run_dir / "audit_tradeoff.csv", float_format="%.6f")
    html = render_audit_report(
        title=title,
        scope=scope,
        audit=result,
        sources=sources,
        tradeoff=tradeoff,
        config=config.fairness,
        provenance=provenance,
    )
    path = write_text(run_dir / AUDIT_HTML, html)
    mark_folder(run_dir)
    return path


def audit_candidates(
    *,
    data: ForceData,
    rows: pd.DataFrame,
    labels: pd.Series,
    lists: pd.DataFrame,
    config: Config,
) -> dict[str, tuple[AuditResult, pd.DataFrame]]:
    """Audit every candidate's lists on ``rows`` (test rows with features, labelled).

    ``lists`` has candidate, test_as_of and officer_ids for the audited list size; an officer
    is flagged on a date if on that candidate's list that day.
    """
    flagged_pairs = lists.explode("officer_ids").dropna(subset=["officer_ids"])
    keys = pd.MultiIndex.from_arrays(
        [rows["officer_id"].to_numpy(), pd.to_datetime(rows["as_of"]).to_numpy()]
    )
    # The rows and their attributes are the same for every candidate: built once (a national
    # test block is millions of rows); only who is flagged changes.
    unflagged = pd.Series(False, index=rows.index)
    base = audit_frame(data, rows, flagged=unflagged, labels=labels, config=config)
    out = {}
    for candidate, pairs in flagged_pairs.groupby("candidate", sort=True):
        on_list = pd.MultiIndex.from_arrays(
            [pairs["officer_ids"].to_numpy(), pd.to_datetime(pairs["test_as_of"]).to_numpy()]
        )
        frame = base.assign(flagged=keys.isin(on_list))
        out[str(candidate)] = run_audit(frame, config=config)
    return out


def gate_with_overrides(
    decisions: Mapping[str, GateDecision], overrides: Mapping[str, str]
) -> dict[str, GateDecision]:
    """Apply written overrides: a blocked candidate with a reason in ``overrides`` passes, and
    both the gate's objection and the override reason are kept in the decision's text."""
    out = {}
    for name, decision in decisions.items():
        if not decision.passed and name in overrides:
            out[name] = GateDecision(
                passed=True,
                reason=f"OVERRIDDEN: {overrides[name]} (the gate said: {decision.reason})",
            )
        else:
            out[name] = decision
    return out


def tradeoff_table(
    *,
    audits: Mapping[str, tuple[AuditResult, pd.DataFrame]],
    selection: pd.DataFrame,
    feature_sets: Mapping[str, str],
    config: Config,
) -> pd.DataFrame:
    """Precision against disparity across candidates, one row each: mean precision at the
    selection list and the gated ratios (e.g. ``flag_rate_ratio:ethnicity=Black``)."""
    rows = []
    precision = selection.set_index("candidate")["mean_precision"]
    for name, (result, _) in sorted(audits.items()):
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
