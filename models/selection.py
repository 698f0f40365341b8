"""Who may become champion: eligibility, the combined gate, written overrides, and the
reference scores of the synthetic force's oracle.

Pure pieces of the train flow's selection step (``ewp.models.evaluation.select_champion`` applies
them): a candidate is eligible when its kind is interpretable (``ewp.models.candidates``) or the
config allows a black box, and it passes the gate, which combines the fairness gate (with any
written override) and a caller's own gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ewp.core.config import CandidateConfig
from ewp.models.candidates import is_interpretable
from ewp.models.evaluation import Gate, GateDecision, allow_all

# Reference scores of the synthetic force (not candidates; never selected): the oracle's true
# rate, and that rate as estimated from the history, the ceiling of any model that reads the
# history. See ewp.data.synthetic, "Ground truth".
ORACLE = "oracle_ground_truth"
HISTORY_CEILING = "ceiling_from_history"


def eligibility(candidates: Sequence[CandidateConfig], *, allow_black_box: bool) -> dict[str, bool]:
    """Per candidate name: may it be published (interpretable, or a black box allowed)?"""
    return {c.name: allow_black_box or is_interpretable(c.kind) for c in candidates}


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


def combined_gate(fairness: Mapping[str, GateDecision], extra: Gate | None = None) -> Gate:
    """The gate selection applies: a candidate passes when the fairness gate (``fairness``,
    by name; a name it lacks passes) and ``extra`` (default: no objection) both pass it; the
    reason joins theirs, fairness first."""
    other = extra or allow_all

    def gate(name: str) -> GateDecision:
        added = other(name)
        fair = fairness.get(name, GateDecision(passed=True))
        return GateDecision(
            passed=added.passed and fair.passed,
            reason="; ".join(r for r in (fair.reason, added.reason) if r),
        )

    return gate


def oracle_references(
    test: pd.DataFrame, ground_truth: pd.DataFrame | None
) -> dict[str, np.ndarray] | None:
    """The oracle's scores of the ``test`` rows (officer_id, as_of), from the synthetic force's
    ground truth (expected serious notices a year per officer and date), or None when there is
    no ground truth or it misses a row.

    A rate r of expected serious notices a year becomes the chance of at least one, 1 - e^-r
    (Poisson): r = 0.5 gives 0.393. ``HISTORY_CEILING`` is the same from the rate as estimated
    from the history, when the ground truth has it (exports written before it lack it).
    """
    if ground_truth is None:
        return None
    oracle = test[["officer_id", "as_of"]].merge(
        ground_truth, on=["officer_id", "as_of"], how="left"
    )
    if not oracle["escalation_rate"].notna().all():
        return None
    reference = {ORACLE: 1 - np.exp(-oracle["escalation_rate"].to_numpy())}
    if "escalation_rate_given_history" in oracle:
        reference[HISTORY_CEILING] = 1 - np.exp(-oracle["escalation_rate_given_history"].to_numpy())
    return reference
