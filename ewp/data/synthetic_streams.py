"""The synthetic force's optional streams: postings with moves between units, and use-of-force
reports whose rate follows assignment far more than latent risk.

Opt-in (``synthetic.streams: true`` in a config, ``ewp generate --streams``): the default
synthetic force writes no stream, so its outputs stay as they were. ``generate_streams`` is
drawn *after* the force from its own random stream (``seed`` and ``STREAMS_SEED_SALT``), so the
officers, notices, outcomes and ground truth are the same with or without streams.

The model
=========

Postings
    Each officer's service (``joined_on`` to ``left_on``, or the export) is cut by moves at a
    Poisson rate of one every ``YEARS_PER_MOVE`` (5) years, at most ``MAX_MOVES`` (4), placed
    uniformly in the service. The last posting is the officers table's ``unit`` (the roster is
    the unit at the export); each earlier one is drawn from the units in proportion to their
    size. A posting ends the day before the next starts; the last ends on ``left_on`` or is
    still running (blank). The notices were simulated with the roster unit throughout: earlier
    postings do not move an officer's notice rate, so unit-as-of-date peer features can only
    add noise here, never signal (a real force may differ; see docs/streams.md).

Use-of-force reports (kind ``use_of_force``)
    While posted to unit ``u``, officer ``i`` files reports as a Poisson process (from the
    force's first simulated year) at

        USE_OF_FORCE_RATE × assignment_u × risk_i ** RISK_LINK   reports per year

    * ``assignment_u`` is lognormal with mean 1 (σ = ``ASSIGNMENT_SIGMA`` = 0.7) for the
      boroughs, and set for the specialist units: public order ×3, firearms ×2.5, roads ×0.6,
      specialist crime ×0.15. Drawn per unit once.
    * ``risk_i`` is the officer's latent risk: their mean ``escalation_rate`` in the ground
      truth, divided by the force mean (1 for an officer with no ground-truth row). With
      ``RISK_LINK`` = 0.3, an officer at 10× the mean risk files 10^0.3 ≈ 2× the reports.
    So assignment spreads report rates far more than risk does: across officers, the standard
    deviation of the log rate from assignment is about 0.7 (more with the specialist units),
    from risk about 0.3 × the spread of log risk. ``stream_figures`` measures both.
    Each report is known 0–13 days after the day it happened (uniform), at the latest on the
    officer's last day; reports known on or after the export date are not in the export.
    ``severity`` is the force level 0–6 with probabilities ``SEVERITY_SHARES``; ``weapon`` is
    yes at severity 5 or 6; ``injury`` is yes with probability 0.12 (0.25 at severity 5 or 6).

Nothing here was tuned against a model's result; the parameters are stated once, above.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ewp.data.io import write_export
from ewp.data.synthetic import SyntheticForce

STREAMS_SEED_SALT = 20_260_420
YEARS_PER_MOVE = 5.0
MAX_MOVES = 4
USE_OF_FORCE_RATE = 1.2  # reports per officer-year at assignment 1 and mean risk
ASSIGNMENT_SIGMA = 0.7
SPECIALIST_ASSIGNMENT: dict[str, float] = {
    "Territorial Support Group": 3.0,
    "Specialist Firearms Command": 2.5,
    "Roads and Transport Policing": 0.6,
    "Specialist Crime": 0.15,
}
RISK_LINK = 0.3
MAX_KNOWLEDGE_LAG_DAYS = 13
SEVERITY_SHARES: tuple[float, ...] = (0.05, 0.10, 0.20, 0.35, 0.15, 0.12, 0.03)  # levels 0-6
INJURY_PROBABILITY = 0.12
INJURY_PROBABILITY_WITH_WEAPON = 0.25
_DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class SyntheticStreams:
    """The two contract streams (``ewp.core.contract``): ``postings`` and ``activity``, and each
    unit's ``assignment`` multiplier (for ``stream_figures``; no model reads it)."""

    postings: pd.DataFrame
    activity: pd.DataFrame
    assignment: pd.Series


def generate_streams(force: SyntheticForce, *, seed: int) -> SyntheticStreams:
    """Postings and use-of-force reports for ``force`` (module docstring); deterministic for
    a ``seed``, and drawn from their own random stream so the force itself is unchanged."""
    rng = np.random.default_rng([seed, STREAMS_SEED_SALT])
    officers = force.officers
    units = np.array(sorted(officers["unit"].unique()), dtype=object)
    assignment = pd.Series(
        [
            SPECIALIST_ASSIGNMENT.get(unit, 0.0)
            or rng.lognormal(-(ASSIGNMENT_SIGMA**2) / 2, ASSIGNMENT_SIGMA)
            for unit in units
        ],
        index=units,
    )
    postings = _postings(rng, officers, units, force.extracted_on)
    activity = _use_of_force(rng, force, postings, assignment)
    return SyntheticStreams(postings=postings, activity=activity, assignment=assignment)


def write_force(
    force: SyntheticForce, out_dir: Path, *, streams: SyntheticStreams | None
) -> dict[str, Path]:
    """Write the force's contract tables, and its streams if given, with ``write_export``."""
    return write_export(
        officers=force.officers,
        notices=force.notices,
        outcomes=force.outcomes,
        out_dir=out_dir,
        postings=None if streams is None else streams.postings,
        activity=None if streams is None else streams.activity,
    )


def _postings(
    rng: np.random.Generator, officers: pd.DataFrame, units: np.ndarray, extracted_on
) -> pd.DataFrame:
    """Each officer's postings, in officer order then start date."""
    extracted = np.datetime64(extracted_on, "D")
    joined = officers["joined_on"].to_numpy(dtype="datetime64[D]")
    left = officers["left_on"].to_numpy(dtype="datetime64[D]")
    service_end = np.where(np.isnat(left), extracted - _DAY, left)
    days = (service_end - joined).astype("int64")
    moves = np.minimum(rng.poisson(np.maximum(days, 0) / 365.25 / YEARS_PER_MOVE), MAX_MOVES)
    moves = np.where(days > 1, np.minimum(moves, np.maximum(days - 1, 0)), 0)
    officer = np.repeat(np.arange(len(officers)), moves + 1)
    first = np.cumsum(moves + 1) - (moves + 1)  # each officer's first posting
    within = np.arange(len(officer)) - first[officer]
    # Move days: sorted uniform offsets in (0, days) for each officer's later postings.
    offset = np.zeros(len(officer), dtype="int64")
    later = within > 0
    offset[later] = 1 + (rng.random(int(later.sum())) * (days[officer[later]] - 1)).astype("int64")
    order = np.lexsort((offset, officer))
    offset = offset[order]
    start = joined[officer] + offset * _DAY
    last = within == moves[officer]
    end = np.empty(len(officer), dtype="datetime64[D]")
    end[~last] = start[1:][~last[:-1]] - _DAY
    end[last] = left[officer[last]]
    shares = officers["unit"].value_counts(normalize=True).reindex(units).to_numpy()
    unit = rng.choice(units, size=len(officer), p=shares)
    unit[last] = officers["unit"].to_numpy()[officer[last]]
    frame = pd.DataFrame(
        {
            "officer_id": officers["officer_id"].to_numpy()[officer],
            "unit": unit.astype(str),
            "start_on": start.astype("datetime64[us]"),
            "end_on": end.astype("datetime64[us]"),
        }
    )
    # A move on the joining day itself is no posting: drop empty ones (end before start).
    return frame.loc[~(frame["end_on"] < frame["start_on"])].reset_index(drop=True)


def _use_of_force(
    rng: np.random.Generator,
    force: SyntheticForce,
    postings: pd.DataFrame,
    assignment: pd.Series,
) -> pd.DataFrame:
    """Use-of-force reports while posted, from the first simulated year to the export."""
    truth = force.ground_truth
    mean_risk = truth.groupby("officer_id")["escalation_rate"].mean()
    risk = (mean_risk / mean_risk.mean()).reindex(postings["officer_id"]).fillna(1.0)
    first_day = truth["as_of"].min().to_datetime64().astype("datetime64[D]")
    extracted = np.datetime64(force.extracted_on, "D")
    start = np.maximum(postings["start_on"].to_numpy(dtype="datetime64[D]"), first_day)
    end = postings["end_on"].to_numpy(dtype="datetime64[D]")
    end = np.where(np.isnat(end), extracted - _DAY, end)
    days = np.maximum((end - start).astype("int64") + 1, 0)
    rate = (
        USE_OF_FORCE_RATE
        * assignment.reindex(postings["unit"]).to_numpy()
        * risk.to_numpy() ** RISK_LINK
    )
    counts = rng.poisson(rate * days / 365.25)
    posting = np.repeat(np.arange(len(postings)), counts)
    happened = start[posting] + (rng.random(len(posting)) * days[posting]).astype("int64") * _DAY
    lag = rng.integers(0, MAX_KNOWLEDGE_LAG_DAYS + 1, len(posting)) * _DAY
    known = np.minimum(happened + lag, end[posting])  # filed by the last day of service
    severity = rng.choice(len(SEVERITY_SHARES), size=len(posting), p=SEVERITY_SHARES)
    weapon = severity >= 5
    injury = rng.random(len(posting)) < np.where(
        weapon, INJURY_PROBABILITY_WITH_WEAPON, INJURY_PROBABILITY
    )
    frame = pd.DataFrame(
        {
            "officer_id": postings["officer_id"].to_numpy()[posting],
            "known_on": known.astype("datetime64[us]"),
            "kind": "use_of_force",
            "severity": pd.array(severity, dtype="Int64"),
            "injury": pd.array(injury, dtype="boolean"),
            "weapon": pd.array(weapon, dtype="boolean"),
        }
    )
    frame = frame.loc[frame["known_on"] < pd.Timestamp(force.extracted_on)]
    frame = frame.sort_values(["known_on", "officer_id"], kind="stable").reset_index(drop=True)
    frame.insert(0, "event_id", [f"UOF{i:07d}" for i in range(len(frame))])
    return frame


def stream_figures(force: SyntheticForce, streams: SyntheticStreams) -> pd.DataFrame:
    """The generator's own figures (``figure``, ``value``): postings and moves per officer,
    reports per officer-year, and how far assignment and latent risk each spread officers'
    report rates (standard deviation of the log multiplier across serving officers at the
    export, roster unit), and the rank correlation of an officer's reports with their risk."""
    officers = force.officers
    postings, activity = streams.postings, streams.activity
    truth = force.ground_truth
    mean_risk = truth.groupby("officer_id")["escalation_rate"].mean()
    risk = (mean_risk / mean_risk.mean()).reindex(officers["officer_id"]).fillna(1.0)
    log_assignment = np.log(streams.assignment.reindex(officers["unit"]).to_numpy())
    first = truth["as_of"].min()
    extracted = pd.Timestamp(force.extracted_on)
    service = (
        officers["left_on"].fillna(extracted).clip(upper=extracted)
        - officers["joined_on"].clip(lower=first)
    ).dt.days.clip(lower=0) / 365.25
    reports = activity["officer_id"].value_counts().reindex(officers["officer_id"], fill_value=0)
    per_year = reports.to_numpy() / np.maximum(service.to_numpy(), 1e-9)
    exposed = service.to_numpy() >= 1
    return pd.DataFrame(
        {
            "figure": [
                "postings per officer",
                "officers with a move",
                "use-of-force reports",
                "reports per officer-year",
                "sd of log rate from assignment",
                "sd of log rate from risk",
                "rank correlation: reports per year vs risk (1+ years served)",
                "rank correlation: reports per year vs assignment (1+ years served)",
            ],
            "value": [
                len(postings) / len(officers),
                float((postings["officer_id"].value_counts() > 1).sum() / len(officers)),
                float(len(activity)),
                len(activity) / float(service.sum()),
                float(np.std(log_assignment)),
                float(np.std(RISK_LINK * np.log(risk.to_numpy()))),
                float(
                    pd.Series(per_year[exposed]).corr(
                        pd.Series(risk.to_numpy()[exposed]), method="spearman"
                    )
                ),
                float(
                    pd.Series(per_year[exposed]).corr(
                        pd.Series(log_assignment[exposed]), method="spearman"
                    )
                ),
            ],
        }
    )
