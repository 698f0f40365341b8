"""A synthetic police force: officers, misconduct notices and outcomes, with a known truth.

``generate_force`` simulates one force month by month and returns the three contract tables
(``ewp.core.contract``) plus a ground-truth table that no model may read. ``calibration_report``
compares the result with the Met figures in ``shared/domain.md``. Everything is vectorised over
officers with numpy; the only Python loop is over months. One ``np.random.default_rng(seed)``
drives every draw, so the same arguments give identical tables.

The model of the force
======================

Workforce
    ``officers`` serve on 1 January of ``start_year``, with tenure drawn from a truncated
    exponential (up to 30 years). Each month officers leave with an annual hazard of 7% as
    probationers (first two years), 4% afterwards and 40% once they reach 30 years' service or
    age 60: about 6% a year in all. A dismissal (see Outcomes) ends service on its
    ``decided_on``. Joiners arrive each month so that the headcount stays at ``officers``; all
    officers ever employed are in the officers table. Joining age is 18–45 (mode ~23);
    ``birth_year`` = joining year − joining age. Ethnicity (Met-like shares, see
    ``ETHNICITY_SHARES``) and gender (30% women) are drawn independently of everything else.
    Rank is drawn at the end from the officer's final tenure (promotion needs years): about 79%
    constables among serving officers. Each officer stays in one of 32 units.

Merit-based notices (what an officer actually did)
    Officer *i* receives notices as a Poisson process whose yearly intensity in month *m* is

        intensity = BASE_RATE × propensity_i × unit multiplier × probation multiplier
                    × min(1 + EXCITATION_JUMP × excitation_i(m), EXCITATION_CAP)

    * ``propensity`` is lognormal with mean 1 (σ = PROPENSITY_SIGMA, clipped at
      PROPENSITY_CAP): a few officers account for many notices. It is drawn independently of
      ethnicity and gender.
    * Unit multipliers: the 28 boroughs vary a little around 1 (lognormal, σ = 0.12); the
      Territorial Support Group (public order) is markedly higher, firearms and roads policing
      somewhat higher, specialist crime lower. Probationers' intensity is ×1.3.
    * Self-excitation (Hawkes-like): ``excitation`` is the sum over the officer's past merit
      notices of exp(−age in months / EXCITATION_DECAY_MONTHS); a notice multiplies the
      intensity by up to 1 + EXCITATION_JUMP = 2.7 and the effect fades with a 9-month time
      constant. The cap keeps the process stable for the highest-propensity officers.
    * Escalation ladder: the probability that a notice is in a serious category
      (``SERIOUS_CATEGORIES``) is logistic in the officer's number of prior merit notices
      (capped at 5) and log propensity: ~23% of first notices, ~45% of third ones, ~65% from
      the sixth on. Gross misconduct is more likely for serious categories and later rungs.
      Source shares depend on whether the category is serious.
    * Cases: in each unit and month, notices of officers serving the whole month may be joined
      into one case of 2–3 officers (same ``case_id``, ``received_on``, ``incident_on`` and
      source; each keeps its own category). About 15% of notices share a case.

    A second, small merit stream models *special cases*: grave one-off matters (an off-duty
    criminal offence, theft, a drink-driving conviction) raised as conduct matters at a constant
    SPECIAL_CASE_RATE per officer-year, independent of propensity and history. They are gross
    misconduct, 80% in serious categories, decided fast (accelerated hearing), 90% proven and
    then 85% dismissed: they are the main route to dismissal. Without them dismissals would
    fall almost only on repeat officers, against domain.md (few repeat officers dismissed, yet
    30–50 dismissals a year). They neither self-excite nor move the ladder.

Meritless notices (reporting bias)
    ``reporting_bias={"Black": 0.81, ...}`` adds, after the merit simulation, a Poisson stream of
    allegations without merit against each named group at ``bias × r_White`` per serving
    officer-year (placed uniformly in each officer's service), where ``r_White`` is the White
    officers' merit notice rate measured in the first pass. Since propensity is independent of
    ethnicity, the group's total rate is then ≈ (1 + bias) × the White rate. These notices are
    minor-heavy, end in no case to answer (73%), withdrawal (22%) or an unproven case to answer
    (5%), do not self-excite, do not move the ladder and do not enter the ground truth. They
    are drawn last, so the rest of the force (officers, merit notices, ground truth) is the same
    for a seed whatever the bias. With every bias at 0 there is no disparity by construction.

Outcomes
    Each notice's outcome is drawn when it is received.

    * Merit notices reach a case to answer with a probability logistic in the category's base
      rate (``CASE_TO_ANSWER_BASE``: lower for sexual misconduct and discrimination, as in
      domain.md) and in log propensity (more misconduct, more evidence); 62% of those are
      proven. Otherwise the notice is withdrawn (15%) or found no case to answer.
    * Sanctions for proven notices follow the contract's ladder, by severity; a proven gross
      misconduct notice ends in dismissal with probability 4%, a proven special case with 85%.
      Everything not proven has sanction "none".
    * Decision delay is a two-component mixture. A single lognormal cannot have mean 400 days
      and 20% over 730: with mean m, P(X > 730) = P(Z > (ln(730/m) + σ²/2)/σ), and the
      threshold's minimum over σ is √(2·ln(730/400)) = 1.10, so at most P(Z > 1.10) ≈ 14% lie
      over 730 days. The mixture: a *fast* component 31 + lognormal(median 125, σ 0.7) days,
      mean 31 + 125·e^(0.7²/2) ≈ 191 d, P(> 730 d) = P(Z > ln(699/125)/0.7 = 2.46) ≈ 0.7%;
      a *slow* one (investigation and hearing) 31 + lognormal(median 920, σ 0.35) days, mean
      31 + 920·e^(0.35²/2) ≈ 1009 d, P(> 730 d) = P(Z > ln(699/920)/0.35 = −0.78) ≈ 78%. With
      25% slow: mean ≈ 0.75·191 + 0.25·1009 ≈ 396 d, share over 730 d ≈ 0.75·0.007 +
      0.25·0.78 ≈ 0.20. Cases to answer are slow with probability 0.66, other findings with
      0.085 (about a quarter slow at the generated finding mix); special cases are all fast.
      The 31-day floor also puts every dismissal in a later month than its notice.
    * A notice decided on or after ``extracted_on`` has no outcome row: it is still open.

Ground truth
    For each officer serving on the first day of each month, ``escalation_rate`` is the
    expected number of merit-based serious notices per year at that moment: the intensity above
    times the ladder's serious-category probability for the officer's next notice, plus the
    serious part of the special-case rate. It carries no protected attribute; models must
    never read it.

    ``escalation_rate_given_history`` is the same rate as the best possible estimate from what
    was known before that first day: its posterior mean given the officer's merit notices
    (their dates, categories and, once decided, whether there was a case to answer), exposure
    and excitation, under the generator's own parameters. It marks the ceiling of any model
    that reads the history (see ``_PropensityPosterior``): no model can know, as this estimate
    does, which notices had merit or what the generator's parameters are, so ranking by it is
    at least as good, in expectation, as a model's ranking of the same quantity. The gap
    between it and ``escalation_rate`` is what the history cannot tell.

Known gap
    domain.md's "under 1% of repeat-allegation officers dismissed" is not met: about 3% of
    officers with 2+ notices in ten years are dismissed. A dismissal needs a notice, so any
    dismissed officer with one other notice in ten years is a repeat officer; at 30–50
    dismissals a year, special cases alone (independent of history) give ~2%. Reaching the
    bound would need dismissals to avoid officers with a record, which nothing in domain.md
    supports. ``calibration_report`` shows the row as out of tolerance.

Everything that can be calibrated is calibrated only against domain.md, see
``CALIBRATION_TARGETS`` and ``calibration_report``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import ndtr

from ewp.core.config import SyntheticConfig
from ewp.core.contract import (
    CASE_TO_ANSWER_FINDINGS,
    CATEGORIES,
    FINDINGS,
    SANCTIONS,
    SERIOUS_CATEGORIES,
    SEVERITIES,
    SOURCES,
)

# ---------------------------------------------------------------------------------------------
# Vocabularies of the officers table
# ---------------------------------------------------------------------------------------------
# Approximate Met officer strength by ethnicity (Home Office police workforce statistics,
# early 2020s, rounded): about 82% White, 7% Asian, 4% Black, 4% Mixed, 3% Other.
ETHNICITY_SHARES: dict[str, float] = {
    "White": 0.82,
    "Black": 0.04,
    "Asian": 0.07,
    "Mixed": 0.04,
    "Other": 0.03,
}
REFERENCE_ETHNICITY = "White"
# About 30% of Met officers are women.
GENDER_SHARES: dict[str, float] = {"Male": 0.70, "Female": 0.30}
RANKS: tuple[str, ...] = ("Constable", "Sergeant", "Inspector", "Chief Inspector", "Superintendent")

BOROUGH_COUNT = 28
# Specialist units: (share of officers, multiplier on the base notice rate).
SPECIALIST_UNITS: dict[str, tuple[float, float]] = {
    "Territorial Support Group": (0.025, 1.6),  # public order: most contested contact
    "Specialist Firearms Command": (0.020, 1.25),
    "Roads and Transport Policing": (0.030, 1.1),
    "Specialist Crime": (0.025, 0.8),  # investigative, little public-order contact
}
BOROUGH_RATE_SIGMA = 0.12

# ---------------------------------------------------------------------------------------------
# Model parameters (see the module docstring)
# ---------------------------------------------------------------------------------------------
DAYS_PER_YEAR = 365.25
BASE_RATE = 0.026  # merit notices per officer-year at propensity 1, before excitation
PROPENSITY_SIGMA = 0.8
PROPENSITY_CAP = 10.0
PROBATION_YEARS = 2.0
PROBATION_MULTIPLIER = 1.3
EXCITATION_DECAY_MONTHS = 9.0
EXCITATION_JUMP = 1.7
EXCITATION_CAP = 4.0
POSTERIOR_GRID_POINTS = 64  # propensity values on which escalation_rate_given_history is computed

# Annual leaving hazards.
LEAVING_HAZARD_PROBATIONER = 0.07
LEAVING_HAZARD_SERVING = 0.04
LEAVING_HAZARD_PENSIONABLE = 0.40
PENSIONABLE_SERVICE_YEARS = 30.0
PENSIONABLE_AGE = 60
INITIAL_TENURE_RATE = 0.045  # per year: truncated-exponential tenure of the starting force
MAX_INITIAL_TENURE_YEARS = 30.0
MIN_JOINING_AGE, MAX_JOINING_AGE = 18, 45

# Escalation ladder: logit P(serious) = intercept + per_prior × min(prior, cap) + per_log_z × ln z
LADDER_INTERCEPT = -1.5
LADDER_PER_PRIOR_NOTICE = 0.45
LADDER_PER_LOG_PROPENSITY = 0.4
LADDER_PRIOR_CAP = 5
# logit P(gross misconduct) = intercept + serious + per_prior × min(prior, cap)
GROSS_INTERCEPT = -2.3
GROSS_IF_SERIOUS = 1.6
GROSS_PER_PRIOR_NOTICE = 0.25

SERIOUS_CATEGORY_WEIGHTS: dict[str, float] = {
    "sexual_misconduct": 0.18,
    "discrimination": 0.20,
    "violence_use_of_force": 0.22,
    "domestic_abuse": 0.06,
    "dishonesty_fraud": 0.12,
    "corruption_abuse_of_position": 0.10,
    "improper_disclosure": 0.12,
}
MINOR_CATEGORY_WEIGHTS: dict[str, float] = {
    "neglect_of_duty": 0.40,
    "discreditable_conduct": 0.40,
    "other": 0.20,
}
# Source shares (public, internal, conduct_matter).
SOURCE_SHARES_MINOR = (0.60, 0.25, 0.15)
SOURCE_SHARES_SERIOUS = (0.35, 0.30, 0.35)
SOURCE_SHARES_MERITLESS = (0.55, 0.35, 0.10)
SHARED_CASE_PROBABILITY = 0.15  # chance a notice joins the previous one in its unit and month
MAX_OFFICERS_PER_CASE = 3
MISSING_INCIDENT_SHARE = 0.08
INCIDENT_LAG_MEAN_DAYS = 45.0

# Case-to-answer probability for merit notices, by category, before the propensity effect.
CASE_TO_ANSWER_BASE: dict[str, float] = {
    **dict.fromkeys(CATEGORIES, 0.35),
    "sexual_misconduct": 0.19,
    "discrimination": 0.22,
}
CASE_TO_ANSWER_PER_LOG_PROPENSITY = 0.4
PROVEN_GIVEN_CASE_TO_ANSWER = 0.62
WITHDRAWN_GIVEN_NO_CASE = 0.15
# Sanction mix for proven notices, over contract.SANCTIONS (none ... dismissal).
SANCTION_SHARES_MISCONDUCT = (0.0, 0.25, 0.40, 0.30, 0.05, 0.0, 0.0)
SANCTION_SHARES_GROSS = (0.0, 0.0, 0.07, 0.25, 0.54, 0.10, 0.04)
SANCTION_SHARES_SPECIAL_CASE = (0.0, 0.0, 0.0, 0.0, 0.10, 0.05, 0.85)

SPECIAL_CASE_RATE = 0.0015  # grave one-off matters per officer-year
SPECIAL_CASE_WEIGHTS: dict[str, float] = {
    "dishonesty_fraud": 0.30,  # theft, fraud
    "discreditable_conduct": 0.20,  # e.g. drink-driving, drugs
    "domestic_abuse": 0.15,
    "corruption_abuse_of_position": 0.15,
    "sexual_misconduct": 0.10,
    "violence_use_of_force": 0.10,
}
SPECIAL_CASE_PROVEN = 0.90
SPECIAL_CASE_SERIOUS_RATE = SPECIAL_CASE_RATE * sum(
    weight for name, weight in SPECIAL_CASE_WEIGHTS.items() if name in SERIOUS_CATEGORIES
)

_SERIOUS_CODES = np.array([CATEGORIES.index(name) for name in SERIOUS_CATEGORIES])

# Meritless notices: categories and findings.
MERITLESS_CATEGORY_WEIGHTS: dict[str, float] = {
    "discreditable_conduct": 0.40,
    "neglect_of_duty": 0.28,
    "other": 0.17,
    "discrimination": 0.05,
    "violence_use_of_force": 0.10,
}
MERITLESS_FINDING_SHARES = (0.22, 0.73, 0.05, 0.0)  # over contract.FINDINGS
MERITLESS_GROSS_SHARE = 0.03

# Decision delay mixture (days); arithmetic in the module docstring.
DELAY_FLOOR_DAYS = 31  # > any month's remaining days: dismissals land in a later month
FAST_DELAY_MEDIAN_DAYS, FAST_DELAY_SIGMA = 125.0, 0.7
SLOW_DELAY_MEDIAN_DAYS, SLOW_DELAY_SIGMA = 920.0, 0.35
SLOW_GIVEN_CASE_TO_ANSWER = 0.66
SLOW_GIVEN_NO_CASE = 0.085

_NOT_YET = np.iinfo(np.int64).max // 4  # a day number meaning "has not happened"
_MONTH_CASE_KEY_SPAN = 10**7  # case keys: first day of month × span + leader's position
_DATE_DTYPE = "datetime64[us]"  # what pandas 3's pd.to_datetime gives when reading a file


# ---------------------------------------------------------------------------------------------
# Calibration targets (domain.md, Met 2013–2022)
# ---------------------------------------------------------------------------------------------
RELATIVE_TOLERANCE = 0.15
CALIBRATION_TARGETS: dict[str, float] = {
    # domain.md: ~9,000 facing allegations, 1,809 (20%) had 2+ cases.
    "share_accused_with_2plus_notices": 0.20,
    # domain.md: "no case to answer" for 55–60% of allegations (midpoint).
    "no_case_to_answer_rate": 0.575,
    # domain.md: "case to answer" rate 33% overall.
    "case_to_answer_rate": 0.33,
    # domain.md: 29% for sexual misconduct.
    "case_to_answer_rate_sexual_misconduct": 0.29,
    # domain.md: 20% for equality and diversity (our category "discrimination").
    "case_to_answer_rate_discrimination": 0.20,
    # domain.md: time to finalise an allegation, mean ~400 days.
    "mean_days_to_decision": 400.0,
    # domain.md: ~20% take over 2 years.
    "share_decisions_over_730_days": 0.20,
    # domain.md: allegations brought vs White officers, Black +81%, Asian +55%, Mixed +41%.
    "disparity_ratio_black": 1.81,
    "disparity_ratio_asian": 1.55,
    "disparity_ratio_mixed": 1.41,
    # domain.md: 30–50 officers dismissed per year (Met, ~34,000 officers): midpoint 40.
    "dismissals_per_year_per_34000_officers": 40.0,
    # domain.md: dismissal among repeat-allegation officers under 1% (an upper bound).
    "share_repeat_officers_dismissed": 0.01,
}
# Rows whose acceptance is not ±RELATIVE_TOLERANCE: the dismissals figure is a range in
# domain.md (30–50 = 40 ± 25%); the repeat-officer dismissal figure is an upper bound.
_TOLERANCES: dict[str, float] = {"dismissals_per_year_per_34000_officers": 0.25}
_UPPER_BOUNDS: frozenset[str] = frozenset({"share_repeat_officers_dismissed"})
DOMAIN_WINDOW_YEARS = 10  # domain.md's repeat figures cover ten years (2013–2022)
# Delay metrics use notices received at least this long before extraction: by the delay model
# under 0.2% of them are still open (slow component: P(delay > 6 y) ≈ 0.7%, × 25% slow).
DELAY_COHORT_MIN_AGE_DAYS = 6 * 365
PIPELINE_WARMUP_YEARS = 2  # the force starts with no open cases; dismissals need time to flow
MET_OFFICERS = 34_000


@dataclass(frozen=True)
class SyntheticForce:
    """A generated force: the three contract tables, the oracle and the extraction date.

    ``ground_truth`` (``officer_id``, ``as_of``, ``escalation_rate``,
    ``escalation_rate_given_history``) is for evaluation only; no model may read it.
    """

    officers: pd.DataFrame
    notices: pd.DataFrame
    outcomes: pd.DataFrame
    ground_truth: pd.DataFrame
    extracted_on: dt.date


# ---------------------------------------------------------------------------------------------
# Simulation state
# ---------------------------------------------------------------------------------------------
@dataclass
class _Units:
    names: tuple[str, ...]
    shares: np.ndarray
    rate_multipliers: np.ndarray


class _Roster:
    """Every officer employed so far, as parallel arrays indexed by officer number."""

    def __init__(self, capacity: int) -> None:
        self.size = 0
        self.joined_day = np.zeros(capacity, dtype=np.int64)
        self.left_day = np.full(capacity, _NOT_YET, dtype=np.int64)
        self.dismissal_day = np.full(capacity, _NOT_YET, dtype=np.int64)
        self.birth_year = np.zeros(capacity, dtype=np.int64)
        self.propensity = np.zeros(capacity)
        self.unit = np.zeros(capacity, dtype=np.int64)
        self.ethnicity = np.zeros(capacity, dtype=np.int64)
        self.gender = np.zeros(capacity, dtype=np.int64)
        self.excitation = np.zeros(capacity)
        self.merit_notices = np.zeros(capacity, dtype=np.int64)

    def hire(
        self,
        rng: np.random.Generator,
        units: _Units,
        joined_day: np.ndarray,
        joining_age: np.ndarray,
    ) -> np.ndarray:
        """Add officers who join on ``joined_day``; returns their officer numbers."""
        count = len(joined_day)
        self._reserve(self.size + count)
        new = np.arange(self.size, self.size + count)
        self.size += count
        joined_year = joined_day.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
        self.joined_day[new] = joined_day
        self.birth_year[new] = joined_year - joining_age
        self.propensity[new] = np.minimum(
            rng.lognormal(-(PROPENSITY_SIGMA**2) / 2, PROPENSITY_SIGMA, count), PROPENSITY_CAP
        )
        self.unit[new] = rng.choice(len(units.names), size=count, p=units.shares)
        self.ethnicity[new] = rng.choice(
            len(ETHNICITY_SHARES), size=count, p=list(ETHNICITY_SHARES.values())
        )
        self.gender[new] = rng.choice(
            len(GENDER_SHARES), size=count, p=list(GENDER_SHARES.values())
        )
        return new

    def _reserve(self, needed: int) -> None:
        capacity = len(self.joined_day)
        if needed <= capacity:
            return
        extra = max(needed, 2 * capacity) - capacity
        fills = {"left_day": _NOT_YET, "dismissal_day": _NOT_YET}
        for name, values in list(vars(self).items()):
            if isinstance(values, np.ndarray):
                padding = np.full(extra, fills.get(name, 0), dtype=values.dtype)
                setattr(self, name, np.concatenate([values, padding]))


@dataclass
class _Notices:
    """Generated notices with their outcomes, as parallel arrays (days are day numbers)."""

    officer: np.ndarray
    received_day: np.ndarray
    incident_day: np.ndarray  # _NOT_YET where unknown
    category: np.ndarray  # index into CATEGORIES
    source: np.ndarray  # index into SOURCES
    severity: np.ndarray  # index into SEVERITIES
    finding: np.ndarray  # index into FINDINGS
    sanction: np.ndarray  # index into SANCTIONS
    decided_day: np.ndarray
    case_group: np.ndarray  # notices sharing a non-negative group share a case; -1: own case

    @classmethod
    def concat(cls, parts: list[_Notices]) -> _Notices:
        names = cls.__dataclass_fields__
        if not parts:
            return cls(**{name: np.zeros(0, dtype=np.int64) for name in names})
        return cls(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in names})


class _PropensityPosterior:
    """Each officer's posterior over the latent propensity, on a grid, from the history so far.

    Propensity z enters the intensity as a factor, so with ``a`` = the intensity without z
    (base rate × unit × probation × excitation) the likelihood of a month with ``n`` merit
    notices in ``y`` years of service is ∝ z^n · exp(−z · a · y). Each notice also tells
    something through its category (the ladder's serious-category probability depends on
    ln z) and, once decided, through whether there was a case to answer (also logistic in
    ln z). The log posterior over POSTERIOR_GRID_POINTS values of z is updated with these
    terms as the months pass; decisions are applied from their ``decided_on``, since that is
    when they become known.

    Worked example (unit multiplier 1, past probation, no excitation): three years of service
    are an exposure of 3 × BASE_RATE = 0.078 at z = 1. With no notice in them the posterior
    mean of z is 0.94 (prior mean 1) and the posterior mean of z × P(serious at rung 0) is
    0.189, so ``escalation_rate_given_history`` = 0.026 × 0.189 + the serious special-case
    rate 0.0012 = 0.0061 a year. With two minor notices in those years (rungs 0 and 1,
    likelihood z² · (1 − P(serious | 0, z)) · (1 − P(serious | 1, z)) · e^(−0.078 z)) the
    posterior mean of z is 2.56 and of z × P(serious at rung 2) 1.198: 0.0324 a year. (By
    quadrature; the grid gives 0.1889 and 1.2002.) The ground truth ``escalation_rate`` uses
    the officer's true z instead, whatever the history says.
    """

    def __init__(self, capacity: int) -> None:
        # Grid: log-spaced from 4 standard deviations below the log mean to the cap. Each point
        # carries the prior mass of its cell (cells meet at geometric midpoints); the last cell
        # reaches to infinity, which is the mass the cap clips to PROPENSITY_CAP.
        log_mean = -(PROPENSITY_SIGMA**2) / 2
        self.grid = np.geomspace(
            np.exp(log_mean - 4 * PROPENSITY_SIGMA), PROPENSITY_CAP, POSTERIOR_GRID_POINTS
        )
        edges = np.sqrt(self.grid[1:] * self.grid[:-1])
        cdf = np.concatenate([[0.0], ndtr((np.log(edges) - log_mean) / PROPENSITY_SIGMA), [1.0]])
        self.log_prior = np.log(np.diff(cdf))
        self.log_grid = np.log(self.grid)
        # P(serious | prior notices, z) for every rung of the ladder (prior is capped there).
        rungs = np.arange(LADDER_PRIOR_CAP + 1)
        self.serious_by_rung = _serious_probability(rungs[:, None], self.grid[None, :])
        # log posterior = log prior + the notices' and findings' terms (``evidence``, which
        # starts at the prior) − exposure · z, kept apart because it changes for every
        # serving officer every month.
        self.evidence = np.tile(self.log_prior, (capacity, 1))
        self.exposure = np.zeros(capacity)
        self._pending = _PendingDecisions()
        # Scratch rows reused month after month: fresh ~20 MB arrays each month cost more in
        # page faults than the arithmetic.
        self._scratch = np.empty((0, POSTERIOR_GRID_POINTS))
        self._exposure_term = np.empty((0, POSTERIOR_GRID_POINTS))

    def reserve(self, needed: int) -> None:
        """Room for ``needed`` officers; new rows start at the prior."""
        extra = needed - len(self.exposure)
        if extra > 0:
            extra = max(extra, len(self.exposure))
            self.evidence = np.concatenate([self.evidence, np.tile(self.log_prior, (extra, 1))])
            self.exposure = np.concatenate([self.exposure, np.zeros(extra)])

    def observe_exposure(self, officers: np.ndarray, exposure: np.ndarray) -> None:
        """Service, notices or not: the exp(−z · exposure) term of the Poisson likelihood."""
        self.exposure[officers] += exposure

    def observe_notices(self, officers: np.ndarray, prior: np.ndarray, serious: np.ndarray) -> None:
        """Merit notices received: the intensity's factor z and the ladder's category draw."""
        p_serious = self.serious_by_rung[np.minimum(prior, LADDER_PRIOR_CAP)]
        category_term = np.where(serious[:, None], np.log(p_serious), np.log1p(-p_serious))
        np.add.at(self.evidence, officers, self.log_grid[None, :] + category_term)

    def schedule_decisions(self, merit: _Notices) -> None:
        """Remember merit notices' findings until they are decided."""
        self._pending.add(
            officer=merit.officer,
            decided_day=merit.decided_day,
            category=merit.category,
            case_to_answer=np.isin(
                merit.finding, [FINDINGS.index(f) for f in CASE_TO_ANSWER_FINDINGS]
            ),
        )

    def observe_decisions_before(self, day: int) -> None:
        """Apply every scheduled finding decided before ``day``."""
        officer, category, case_to_answer = self._pending.pop_before(day)
        p_case = _expit(
            _logit(_case_to_answer_base(category))[:, None]
            + CASE_TO_ANSWER_PER_LOG_PROPENSITY * (self.log_grid[None, :] - PROPENSITY_SIGMA**2 / 2)
        )
        term = np.where(case_to_answer[:, None], np.log(p_case), np.log1p(-p_case))
        np.add.at(self.evidence, officer, term)

    def expected_serious_intensity(self, officers: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Posterior mean of z × P(next notice serious | prior notices, z), per officer."""
        if len(self._scratch) < len(officers):
            self._scratch = np.empty((len(officers), POSTERIOR_GRID_POINTS))
            self._exposure_term = np.empty_like(self._scratch)
        log_posterior = self._scratch[: len(officers)]
        exposure_term = self._exposure_term[: len(officers)]
        np.take(self.evidence, officers, axis=0, out=log_posterior)
        np.multiply(self.exposure[officers, None], self.grid[None, :], out=exposure_term)
        log_posterior -= exposure_term
        log_posterior -= log_posterior.max(axis=1, keepdims=True)
        weights = np.exp(log_posterior, out=log_posterior)
        # Σ weight × z × P(serious | rung, z) for every rung at once (a matrix product), then
        # each officer's own rung.
        by_rung = weights @ (self.grid[None, :] * self.serious_by_rung).T
        rung = np.minimum(prior, LADDER_PRIOR_CAP)
        return by_rung[np.arange(len(rung)), rung] / weights.sum(axis=1)


class _PendingDecisions:
    """Findings drawn when a notice arrives but known only from its ``decided_on``."""

    def __init__(self) -> None:
        self._parts: list[dict[str, np.ndarray]] = []

    def add(self, **columns: np.ndarray) -> None:
        self._parts.append(columns)

    def pop_before(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(officer, category, case_to_answer) of decisions before ``day``, removed."""
        if not self._parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=bool)
        merged = {
            name: np.concatenate([part[name] for part in self._parts]) for name in self._parts[0]
        }
        due = merged["decided_day"] < day
        self._parts = [{name: values[~due] for name, values in merged.items()}]
        return merged["officer"][due], merged["category"][due], merged["case_to_answer"][due]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def generate_force(
    *,
    officers: int,
    start_year: int,
    end_year: int,
    seed: int,
    reporting_bias: Mapping[str, float],
) -> SyntheticForce:
    """Simulate a force of ``officers`` serving officers from ``start_year`` to ``end_year``.

    ``reporting_bias`` maps an ethnicity (not the White reference group) to the extra share of
    meritless allegations it receives, relative to the White officers' rate: ``{"Black": 0.81}``
    gives Black officers ≈1.81× the notices per officer-year of White officers. Deterministic
    for a given ``seed``. The model is described in the module docstring.
    """
    _check_arguments(officers, start_year, end_year, reporting_bias)
    rng = np.random.default_rng(seed)
    units = _draw_units(rng)
    month_first_day = np.arange(
        np.datetime64(f"{start_year}-01"),
        np.datetime64(f"{end_year + 1}-01"),
        dtype="datetime64[M]",
    ).astype("datetime64[D]")
    month_bounds = np.append(month_first_day, np.datetime64(f"{end_year + 1}-01-01")).astype(
        np.int64
    )
    roster = _initial_force(rng, units, officers, int(month_bounds[0]))
    posterior = _PropensityPosterior(capacity=len(roster.joined_day))
    merit_parts: list[_Notices] = []
    truth_parts: list[_MonthTruth] = []
    for month in range(len(month_first_day)):
        first_day, last_day = int(month_bounds[month]), int(month_bounds[month + 1]) - 1
        notices, truth = _simulate_month(
            rng,
            roster,
            units,
            posterior,
            headcount=officers,
            year=start_year + month // 12,
            first_day=first_day,
            last_day=last_day,
        )
        merit_parts.append(notices)
        truth_parts.append(truth)
    extracted_day = int(month_bounds[-1])
    ranks = _draw_ranks(rng, roster, extracted_day)
    # Last: the meritless stream leaves every other draw, and so the ground truth, unchanged.
    merit = _Notices.concat(merit_parts)
    meritless = _meritless_notices(
        rng, roster, merit, reporting_bias, int(month_bounds[0]), extracted_day
    )
    all_notices = _Notices.concat([merit, meritless])
    officer_ids = [f"OFF{i:06d}" for i in range(roster.size)]
    notices_table, outcomes_table = _notice_tables(all_notices, officer_ids, extracted_day)
    return SyntheticForce(
        officers=_officers_table(roster, units, ranks, officer_ids),
        notices=notices_table,
        outcomes=outcomes_table,
        ground_truth=_truth_table(truth_parts, month_first_day, officer_ids),
        extracted_on=dt.date(end_year + 1, 1, 1),
    )


def generate_configured_force(synthetic: SyntheticConfig, *, seed: int) -> SyntheticForce:
    """``generate_force`` with a config's ``synthetic`` section (``ewp.core.config``)."""
    return generate_force(
        officers=synthetic.officers,
        start_year=synthetic.start_year,
        end_year=synthetic.end_year,
        seed=seed,
        reporting_bias=synthetic.reporting_bias,
    )


def calibration_report(force: SyntheticForce) -> pd.DataFrame:
    """Compare a generated force with ``CALIBRATION_TARGETS`` (domain.md's Met figures).

    One row per figure: ``metric``, ``target``, ``generated``, ``tolerance`` (relative) and
    ``within_tolerance``: ``|generated − target| ≤ tolerance × target``, except for upper
    bounds (``share_repeat_officers_dismissed``), where it means ``generated ≤ target``.
    The run's start is the first ground-truth as-of date. Each figure's definition is in the
    comments of the code below.
    """
    start = force.ground_truth["as_of"].min()
    extracted = pd.Timestamp(force.extracted_on)
    notices = force.notices.merge(force.outcomes, on="notice_id", how="left", validate="1:1")
    decided = notices[notices["decided_on"].notna()]
    generated: dict[str, float] = {}

    # Repeat officers, over domain.md's ten-year window from the run's start: among officers with
    # at least one notice received in the window, the share with two or more.
    window_end = start + pd.DateOffset(years=DOMAIN_WINDOW_YEARS)
    in_window = notices[notices["received_on"] < window_end]
    per_officer = in_window.groupby("officer_id").size()
    generated["share_accused_with_2plus_notices"] = float((per_officer >= 2).mean())

    # Findings, among all notices decided before extraction (as a force's export would show).
    finding = decided["finding"]
    generated["no_case_to_answer_rate"] = float((finding == "no_case_to_answer").mean())
    case_to_answer = finding.isin(CASE_TO_ANSWER_FINDINGS)
    generated["case_to_answer_rate"] = float(case_to_answer.mean())
    for category in ("sexual_misconduct", "discrimination"):
        of_category = decided["category"] == category
        generated[f"case_to_answer_rate_{category}"] = float(case_to_answer[of_category].mean())

    # Decision delay, on notices received at least DELAY_COHORT_MIN_AGE_DAYS before extraction,
    # so that nearly all of them are decided and the slow ones are not censored away.
    cohort = notices[
        notices["received_on"] <= extracted - pd.Timedelta(days=DELAY_COHORT_MIN_AGE_DAYS)
    ]
    delay_days = (cohort["decided_on"] - cohort["received_on"]).dt.days.dropna()
    generated["mean_days_to_decision"] = float(delay_days.mean())
    generated["share_decisions_over_730_days"] = float((delay_days > 730).mean())

    # Disparity: notices per serving officer-year (whole run) of each group / the White rate.
    rates = _notices_per_officer_year(force, start, extracted)
    for group in ("Black", "Asian", "Mixed"):
        generated[f"disparity_ratio_{group.lower()}"] = float(rates[group] / rates["White"])

    # Dismissals: officers dismissed per full year after the pipeline warm-up (the force starts
    # with no open cases), scaled from the starting headcount to the Met's 34,000.
    dismissed = decided[decided["sanction"] == "dismissal"]
    first_dismissal = dismissed.groupby("officer_id")["decided_on"].min()
    first_counted = start + pd.DateOffset(years=PIPELINE_WARMUP_YEARS)
    if first_counted >= extracted:
        first_counted = start
    counted_years = (extracted - first_counted).days / DAYS_PER_YEAR
    dismissals = int((first_dismissal >= first_counted).sum())
    headcount = _serving_on(force.officers, start)
    generated["dismissals_per_year_per_34000_officers"] = (
        dismissals / counted_years * MET_OFFICERS / headcount
    )
    # Officers with two or more notices in the window who were ever dismissed.
    repeat_officers = per_officer.index[per_officer >= 2]
    generated["share_repeat_officers_dismissed"] = float(
        repeat_officers.isin(first_dismissal.index).mean()
    )

    rows = []
    for metric, target in CALIBRATION_TARGETS.items():
        value = generated[metric]
        if metric in _UPPER_BOUNDS:
            tolerance, within = 0.0, value <= target
        else:
            tolerance = _TOLERANCES.get(metric, RELATIVE_TOLERANCE)
            within = abs(value - target) <= tolerance * target
        rows.append((metric, target, value, tolerance, bool(within)))
    return pd.DataFrame(
        rows, columns=["metric", "target", "generated", "tolerance", "within_tolerance"]
    )


# ---------------------------------------------------------------------------------------------
# Simulation steps
# ---------------------------------------------------------------------------------------------
def _check_arguments(
    officers: int, start_year: int, end_year: int, reporting_bias: Mapping[str, float]
) -> None:
    if officers <= 0:
        raise ValueError(f"officers must be positive, got {officers}")
    if end_year < start_year:
        raise ValueError(f"end_year ({end_year}) is before start_year ({start_year})")
    for group, bias in reporting_bias.items():
        if group == REFERENCE_ETHNICITY or group not in ETHNICITY_SHARES:
            others = [g for g in ETHNICITY_SHARES if g != REFERENCE_ETHNICITY]
            raise ValueError(
                f"reporting_bias names {group!r}; expected some of {others} "
                f"({REFERENCE_ETHNICITY} is the reference group)"
            )
        if not np.isfinite(bias) or bias < 0:
            raise ValueError(f"reporting_bias[{group!r}] must be a finite number >= 0, got {bias}")


def _draw_units(rng: np.random.Generator) -> _Units:
    borough_share = 1.0 - sum(share for share, _ in SPECIALIST_UNITS.values())
    borough_sizes = rng.uniform(0.7, 1.3, BOROUGH_COUNT)
    borough_multipliers = rng.lognormal(0.0, BOROUGH_RATE_SIGMA, BOROUGH_COUNT)
    names = tuple(f"Borough {i:02d}" for i in range(1, BOROUGH_COUNT + 1)) + tuple(SPECIALIST_UNITS)
    shares = np.concatenate(
        [
            borough_share * borough_sizes / borough_sizes.sum(),
            [share for share, _ in SPECIALIST_UNITS.values()],
        ]
    )
    multipliers = np.concatenate(
        [borough_multipliers, [multiplier for _, multiplier in SPECIALIST_UNITS.values()]]
    )
    return _Units(names=names, shares=shares, rate_multipliers=multipliers)


def _joining_ages(rng: np.random.Generator, count: int) -> np.ndarray:
    span = MAX_JOINING_AGE - MIN_JOINING_AGE + 1
    return MIN_JOINING_AGE + np.floor(rng.beta(2.0, 5.0, count) * span).astype(np.int64)


def _initial_force(
    rng: np.random.Generator, units: _Units, officers: int, start_day: int
) -> _Roster:
    # Truncated exponential tenure on [0, MAX_INITIAL_TENURE_YEARS], by inverse CDF.
    tail = 1.0 - np.exp(-INITIAL_TENURE_RATE * MAX_INITIAL_TENURE_YEARS)
    tenure_years = -np.log1p(-rng.random(officers) * tail) / INITIAL_TENURE_RATE
    joined_day = start_day - np.floor(tenure_years * DAYS_PER_YEAR).astype(np.int64)
    # Nobody starts older than PENSIONABLE_AGE - 1.
    oldest_joining_age = PENSIONABLE_AGE - 1 - np.ceil(tenure_years).astype(np.int64)
    joining_age = np.minimum(_joining_ages(rng, officers), oldest_joining_age)
    roster = _Roster(capacity=int(officers * 1.8) + 64)
    roster.hire(rng, units, joined_day, joining_age)
    return roster


def _serious_probability(prior_notices: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    logit = (
        LADDER_INTERCEPT
        + LADDER_PER_PRIOR_NOTICE * np.minimum(prior_notices, LADDER_PRIOR_CAP)
        + LADDER_PER_LOG_PROPENSITY * np.log(propensity)
    )
    return _expit(logit)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1.0 - p))


@dataclass(frozen=True)
class _MonthTruth:
    """Ground truth on a month's first day, for the officers serving that day."""

    officers: np.ndarray
    escalation_rate: np.ndarray
    escalation_rate_given_history: np.ndarray


def _simulate_month(
    rng: np.random.Generator,
    roster: _Roster,
    units: _Units,
    posterior: _PropensityPosterior,
    *,
    headcount: int,
    year: int,
    first_day: int,
    last_day: int,
) -> tuple[_Notices, _MonthTruth]:
    """One month: leavers, joiners, ground truth on the first day, merit notices, excitation.

    ``posterior`` learns from the month's exposure and notices only after the truth is taken,
    so the history estimate on the first day uses what was known before it."""
    days_in_month = last_day - first_day + 1
    serving = np.flatnonzero(roster.left_day[: roster.size] >= first_day)

    # Leavers: voluntary (hazard by tenure and age) and dismissals decided this month.
    tenure_years = (first_day - roster.joined_day[serving]) / DAYS_PER_YEAR
    age = year - roster.birth_year[serving]
    annual_hazard = np.where(
        tenure_years < PROBATION_YEARS, LEAVING_HAZARD_PROBATIONER, LEAVING_HAZARD_SERVING
    )
    pensionable = (tenure_years >= PENSIONABLE_SERVICE_YEARS) | (age >= PENSIONABLE_AGE)
    annual_hazard = np.where(pensionable, LEAVING_HAZARD_PENSIONABLE, annual_hazard)
    leaves = rng.random(len(serving)) < 1.0 - (1.0 - annual_hazard) ** (1.0 / 12.0)
    leave_day = first_day + rng.integers(0, days_in_month, len(serving))
    voluntary_day = np.where(leaves, leave_day, _NOT_YET)
    dismissal_day = roster.dismissal_day[serving]
    dismissal_day = np.where(dismissal_day <= last_day, dismissal_day, _NOT_YET)
    roster.left_day[serving] = np.minimum(voluntary_day, dismissal_day)
    staying = int((roster.left_day[serving] == _NOT_YET).sum())

    # Joiners keep the headcount constant.
    joiner_count = max(headcount - staying, 0)
    joiners = roster.hire(
        rng,
        units,
        first_day + rng.integers(0, days_in_month, joiner_count),
        _joining_ages(rng, joiner_count),
    )
    active = np.concatenate([serving, joiners])
    posterior.reserve(roster.size)

    # Current intensity (merit notices per year) and ladder position of every active officer.
    propensity = roster.propensity[active]
    probationer = (first_day - roster.joined_day[active]) < PROBATION_YEARS * DAYS_PER_YEAR
    excitation_multiplier = np.minimum(
        1.0 + EXCITATION_JUMP * roster.excitation[active], EXCITATION_CAP
    )
    intensity_per_propensity = (
        BASE_RATE
        * units.rate_multipliers[roster.unit[active]]
        * np.where(probationer, PROBATION_MULTIPLIER, 1.0)
        * excitation_multiplier
    )
    # Same product, same order as before the posterior existed: the tables stay bit-identical.
    intensity = (
        BASE_RATE
        * propensity
        * units.rate_multipliers[roster.unit[active]]
        * np.where(probationer, PROBATION_MULTIPLIER, 1.0)
        * excitation_multiplier
    )
    prior = roster.merit_notices[active]
    on_first_day = (roster.joined_day[active] <= first_day) & (roster.left_day[active] >= first_day)
    escalation_rate = (
        intensity * _serious_probability(prior, propensity) + SPECIAL_CASE_SERIOUS_RATE
    )
    posterior.observe_decisions_before(first_day)
    truth = _MonthTruth(
        officers=active[on_first_day].astype(np.int32),
        escalation_rate=escalation_rate[on_first_day],
        escalation_rate_given_history=intensity_per_propensity[on_first_day]
        * posterior.expected_serious_intensity(active[on_first_day], prior[on_first_day])
        + SPECIAL_CASE_SERIOUS_RATE,
    )

    # Exposure this month, in days, for each active officer.
    service_start = np.maximum(roster.joined_day[active], first_day)
    service_end = np.minimum(roster.left_day[active], last_day)
    served_years = (service_end - service_start + 1) / DAYS_PER_YEAR
    whole_month = (service_start == first_day) & (service_end == last_day)

    counts = rng.poisson(intensity * served_years)
    merit = _merit_notices(
        rng, roster, active, counts, service_start, service_end, whole_month, first_day
    )
    special_counts = rng.poisson(SPECIAL_CASE_RATE * served_years)
    special = _special_case_notices(
        rng, active, special_counts, service_start, service_end, roster.joined_day[active]
    )

    # Dismissals decided before the officer's next month are scheduled to end service.
    month_notices = _Notices.concat([merit, special])
    dismissed = month_notices.sanction == SANCTIONS.index("dismissal")
    np.minimum.at(
        roster.dismissal_day, month_notices.officer[dismissed], month_notices.decided_day[dismissed]
    )
    posterior.observe_exposure(active, intensity_per_propensity * served_years)
    notice_rows, order_in_month = _expand(counts)
    posterior.observe_notices(
        merit.officer,
        prior=prior[notice_rows] + order_in_month,
        serious=np.isin(merit.category, _SERIOUS_CODES),
    )
    posterior.schedule_decisions(merit)
    roster.merit_notices[active] += counts
    decay = np.exp(-1.0 / EXCITATION_DECAY_MONTHS)
    roster.excitation[active] = (roster.excitation[active] + counts) * decay
    return month_notices, truth


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row index of each event given per-row counts, and the event's order within its row."""
    rows = np.repeat(np.arange(len(counts)), counts)
    order = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, order


def _uniform_days(rng: np.random.Generator, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    return first + np.floor(rng.random(len(first)) * (last - first + 1)).astype(np.int64)


def _merit_notices(
    rng: np.random.Generator,
    roster: _Roster,
    active: np.ndarray,
    counts: np.ndarray,
    service_start: np.ndarray,
    service_end: np.ndarray,
    whole_month: np.ndarray,
    first_day: int,
) -> _Notices:
    rows, order = _expand(counts)
    officer = active[rows]
    propensity = roster.propensity[officer]
    prior = roster.merit_notices[officer] + order
    size = len(rows)

    serious = rng.random(size) < _serious_probability(prior, propensity)
    category = np.where(
        serious,
        _draw_categories(rng, SERIOUS_CATEGORY_WEIGHTS, size),
        _draw_categories(rng, MINOR_CATEGORY_WEIGHTS, size),
    )
    gross_logit = GROSS_INTERCEPT + GROSS_IF_SERIOUS * serious
    gross_logit = gross_logit + GROSS_PER_PRIOR_NOTICE * np.minimum(prior, LADDER_PRIOR_CAP)
    severity = (rng.random(size) < _expit(gross_logit)).astype(np.int64)
    source = np.where(
        serious,
        rng.choice(len(SOURCES), size=size, p=SOURCE_SHARES_SERIOUS),
        rng.choice(len(SOURCES), size=size, p=SOURCE_SHARES_MINOR),
    )
    received_day = _uniform_days(rng, service_start[rows], service_end[rows])
    incident_day = _incident_days(rng, received_day, roster.joined_day[officer])

    # Shared cases: officers serving the whole month with a single notice in it.
    eligible = np.flatnonzero(whole_month[rows] & (counts[rows] == 1))
    case_group = np.full(size, -1, dtype=np.int64)
    if len(eligible) > 1:
        leader = _shared_case_leaders(rng, roster.unit[officer[eligible]])
        members = eligible[leader != np.arange(len(eligible))]
        leaders = eligible[leader[leader != np.arange(len(eligible))]]
        for column in (received_day, incident_day, source):
            column[members] = column[leaders]
        known_incident = incident_day[members] != _NOT_YET
        incident_day[members] = np.where(
            known_incident,
            np.maximum(incident_day[members], roster.joined_day[officer[members]]),
            _NOT_YET,
        )
        case_group[members] = first_day * _MONTH_CASE_KEY_SPAN + leaders
        case_group[leaders] = first_day * _MONTH_CASE_KEY_SPAN + leaders

    # ln z is centred on its notice-weighted mean, +σ²/2 for a mean-1 lognormal weighted by z,
    # so that the typical notice gets its category's base rate.
    case_to_answer_logit = _logit(_case_to_answer_base(category)) + (
        CASE_TO_ANSWER_PER_LOG_PROPENSITY * (np.log(propensity) - PROPENSITY_SIGMA**2 / 2)
    )
    case_to_answer = rng.random(size) < _expit(case_to_answer_logit)
    proven = case_to_answer & (rng.random(size) < PROVEN_GIVEN_CASE_TO_ANSWER)
    withdrawn = ~case_to_answer & (rng.random(size) < WITHDRAWN_GIVEN_NO_CASE)
    finding = np.select(
        [proven, case_to_answer, withdrawn],
        [FINDINGS.index(f) for f in ("proven", "case_to_answer_not_proven", "withdrawn")],
        FINDINGS.index("no_case_to_answer"),
    )
    sanction = np.where(
        severity == SEVERITIES.index("gross_misconduct"),
        rng.choice(len(SANCTIONS), size=size, p=SANCTION_SHARES_GROSS),
        rng.choice(len(SANCTIONS), size=size, p=SANCTION_SHARES_MISCONDUCT),
    )
    sanction = np.where(proven, sanction, SANCTIONS.index("none"))
    slow = rng.random(size) < np.where(
        case_to_answer, SLOW_GIVEN_CASE_TO_ANSWER, SLOW_GIVEN_NO_CASE
    )
    return _Notices(
        officer=officer,
        received_day=received_day,
        incident_day=incident_day,
        category=category,
        source=source,
        severity=severity,
        finding=finding,
        sanction=sanction,
        decided_day=received_day + _decision_delays(rng, slow),
        case_group=case_group,
    )


def _shared_case_leaders(rng: np.random.Generator, unit: np.ndarray) -> np.ndarray:
    """For notices in one month, the position of the notice leading each one's case.

    Notices are shuffled within their unit; each joins the previous one's case with
    probability SHARED_CASE_PROBABILITY, and chains are cut every MAX_OFFICERS_PER_CASE.
    Returns, per notice (in the input order), the input position of its case's leader.
    """
    order = np.lexsort((rng.random(len(unit)), unit))
    sorted_unit = unit[order]
    joins_previous = np.zeros(len(unit), dtype=bool)
    joins_previous[1:] = (sorted_unit[1:] == sorted_unit[:-1]) & (
        rng.random(len(unit) - 1) < SHARED_CASE_PROBABILITY
    )
    chain = np.cumsum(~joins_previous) - 1
    chain_start = np.flatnonzero(~joins_previous)
    position = np.arange(len(unit)) - chain_start[chain]
    starts_case = position % MAX_OFFICERS_PER_CASE == 0
    case = np.cumsum(starts_case) - 1
    leader_sorted = np.flatnonzero(starts_case)[case]
    leader = np.empty(len(unit), dtype=np.int64)
    leader[order] = order[leader_sorted]
    return leader


def _special_case_notices(
    rng: np.random.Generator,
    active: np.ndarray,
    counts: np.ndarray,
    service_start: np.ndarray,
    service_end: np.ndarray,
    joined_day: np.ndarray,
) -> _Notices:
    rows, _ = _expand(counts)
    size = len(rows)
    received_day = _uniform_days(rng, service_start[rows], service_end[rows])
    proven = rng.random(size) < SPECIAL_CASE_PROVEN
    finding = np.where(
        proven, FINDINGS.index("proven"), FINDINGS.index("case_to_answer_not_proven")
    )
    sanction = np.where(
        proven,
        rng.choice(len(SANCTIONS), size=size, p=SANCTION_SHARES_SPECIAL_CASE),
        SANCTIONS.index("none"),
    )
    return _Notices(
        officer=active[rows],
        received_day=received_day,
        incident_day=_incident_days(rng, received_day, joined_day[rows]),
        category=_draw_categories(rng, SPECIAL_CASE_WEIGHTS, size),
        source=np.full(size, SOURCES.index("conduct_matter")),
        severity=np.full(size, SEVERITIES.index("gross_misconduct")),
        finding=finding,
        sanction=sanction,
        decided_day=received_day + _decision_delays(rng, np.zeros(size, dtype=bool)),
        case_group=np.full(size, -1, dtype=np.int64),
    )


def _meritless_notices(
    rng: np.random.Generator,
    roster: _Roster,
    merit: _Notices,
    reporting_bias: Mapping[str, float],
    start_day: int,
    extracted_day: int,
) -> _Notices:
    """Second pass: allegations without merit, at bias × the White officers' merit rate."""
    n = roster.size
    service_start = np.maximum(roster.joined_day[:n], start_day)
    service_end = np.minimum(roster.left_day[:n], extracted_day - 1)
    officer_years = (service_end - service_start + 1) / DAYS_PER_YEAR
    ethnicity = roster.ethnicity[:n]
    white = list(ETHNICITY_SHARES).index(REFERENCE_ETHNICITY)
    white_notices = np.count_nonzero(ethnicity[merit.officer] == white)
    white_years = officer_years[ethnicity == white].sum()
    white_rate = white_notices / white_years if white_years > 0 else 0.0

    group_bias = np.zeros(len(ETHNICITY_SHARES))
    for group, bias in reporting_bias.items():
        group_bias[list(ETHNICITY_SHARES).index(group)] = bias
    counts = rng.poisson(group_bias[ethnicity] * white_rate * officer_years)
    officer, _ = _expand(counts)
    size = len(officer)
    received_day = _uniform_days(rng, service_start[officer], service_end[officer])
    finding = rng.choice(len(FINDINGS), size=size, p=MERITLESS_FINDING_SHARES)
    case_to_answer = np.isin(finding, [FINDINGS.index(f) for f in CASE_TO_ANSWER_FINDINGS])
    slow = rng.random(size) < np.where(
        case_to_answer, SLOW_GIVEN_CASE_TO_ANSWER, SLOW_GIVEN_NO_CASE
    )
    source = rng.choice(len(SOURCES), size=size, p=SOURCE_SHARES_MERITLESS)
    return _Notices(
        officer=officer,
        received_day=received_day,
        incident_day=_incident_days(rng, received_day, roster.joined_day[officer]),
        category=_draw_categories(rng, MERITLESS_CATEGORY_WEIGHTS, size),
        source=source,
        severity=(rng.random(size) < MERITLESS_GROSS_SHARE).astype(np.int64),
        finding=finding,
        sanction=np.full(size, SANCTIONS.index("none")),
        decided_day=received_day + _decision_delays(rng, slow),
        case_group=np.full(size, -1, dtype=np.int64),
    )


def _draw_categories(
    rng: np.random.Generator, weights: Mapping[str, float], size: int
) -> np.ndarray:
    codes = np.array([CATEGORIES.index(name) for name in weights])
    probabilities = np.array(list(weights.values()))
    return codes[rng.choice(len(codes), size=size, p=probabilities / probabilities.sum())]


def _case_to_answer_base(category: np.ndarray) -> np.ndarray:
    return np.array([CASE_TO_ANSWER_BASE[name] for name in CATEGORIES])[category]


def _incident_days(
    rng: np.random.Generator, received_day: np.ndarray, joined_day: np.ndarray
) -> np.ndarray:
    lag = np.floor(rng.exponential(INCIDENT_LAG_MEAN_DAYS, len(received_day))).astype(np.int64)
    incident_day = np.maximum(received_day - lag, joined_day)
    unknown = rng.random(len(received_day)) < MISSING_INCIDENT_SHARE
    return np.where(unknown, _NOT_YET, incident_day)


def _decision_delays(rng: np.random.Generator, slow: np.ndarray) -> np.ndarray:
    median = np.where(slow, SLOW_DELAY_MEDIAN_DAYS, FAST_DELAY_MEDIAN_DAYS)
    sigma = np.where(slow, SLOW_DELAY_SIGMA, FAST_DELAY_SIGMA)
    delay = median * np.exp(sigma * rng.standard_normal(len(slow)))
    return DELAY_FLOOR_DAYS + np.floor(delay).astype(np.int64)


def _draw_ranks(rng: np.random.Generator, roster: _Roster, extracted_day: int) -> np.ndarray:
    """Rank at leaving or extraction: each step up needs more years of service."""
    n = roster.size
    final_day = np.minimum(roster.left_day[:n], extracted_day - 1)
    years = (final_day - roster.joined_day[:n]) / DAYS_PER_YEAR
    # (relative weight, years before eligible, years to full weight) for ranks above constable.
    ladder = ((0.30, 3.0, 8.0), (0.14, 7.0, 10.0), (0.06, 11.0, 10.0), (0.035, 15.0, 10.0))
    weights = np.ones((n, len(RANKS)))
    for column, (weight, eligible_after, ramp) in enumerate(ladder, start=1):
        weights[:, column] = weight * np.clip((years - eligible_after) / ramp, 0.0, 1.0)
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(n) * cumulative[:, -1]
    return (draw[:, None] >= cumulative).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------
def _dates(day_numbers: np.ndarray) -> np.ndarray:
    dates = np.full(len(day_numbers), np.datetime64("NaT"), dtype=_DATE_DTYPE)
    known = day_numbers < _NOT_YET
    dates[known] = day_numbers[known].astype("datetime64[D]").astype(_DATE_DTYPE)
    return dates


def _labels(vocabulary: Sequence[str], codes: np.ndarray) -> pd.Series:
    """Strings ``vocabulary[codes]`` as a ``str`` column (built in Arrow: fast, compact)."""
    return pd.Series(pa.array(vocabulary, type=pa.string()).take(pa.array(codes)), dtype="str")


def _officers_table(
    roster: _Roster, units: _Units, ranks: np.ndarray, officer_ids: list[str]
) -> pd.DataFrame:
    n = roster.size
    return pd.DataFrame(
        {
            "officer_id": _labels(officer_ids, np.arange(n)),
            "joined_on": _dates(roster.joined_day[:n]),
            "left_on": _dates(roster.left_day[:n]),
            "rank": _labels(RANKS, ranks),
            "unit": _labels(units.names, roster.unit[:n]),
            "ethnicity": _labels(list(ETHNICITY_SHARES), roster.ethnicity[:n]),
            "gender": _labels(list(GENDER_SHARES), roster.gender[:n]),
            "birth_year": roster.birth_year[:n].astype(np.int64),
        }
    )


def _notice_tables(
    notices: _Notices, officer_ids: list[str], extracted_day: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.lexsort((notices.officer, notices.received_day))  # stable: merit first
    sorted_notices = _Notices(
        **{name: getattr(notices, name)[order] for name in _Notices.__dataclass_fields__}
    )
    size = len(order)
    notice_ids = pd.Series([f"N{i:07d}" for i in range(1, size + 1)], dtype="str")
    # Case numbers in order of first appearance; notices without a group get their own case.
    case_key = np.where(
        sorted_notices.case_group >= 0, sorted_notices.case_group, -1 - np.arange(size)
    )
    _, first_position, case_index = np.unique(case_key, return_index=True, return_inverse=True)
    case_number = np.argsort(np.argsort(first_position))[case_index] + 1
    notices_table = pd.DataFrame(
        {
            "notice_id": notice_ids,
            "case_id": pd.Series([f"C{i:07d}" for i in case_number], dtype="str"),
            "officer_id": _labels(officer_ids, sorted_notices.officer),
            "received_on": _dates(sorted_notices.received_day),
            "incident_on": _dates(sorted_notices.incident_day),
            "category": _labels(CATEGORIES, sorted_notices.category),
            "source": _labels(SOURCES, sorted_notices.source),
            "severity": _labels(SEVERITIES, sorted_notices.severity),
        }
    )
    decided = sorted_notices.decided_day < extracted_day
    outcomes_table = pd.DataFrame(
        {
            "notice_id": notice_ids[decided].reset_index(drop=True),
            "decided_on": _dates(sorted_notices.decided_day[decided]),
            "finding": _labels(FINDINGS, sorted_notices.finding[decided]),
            "sanction": _labels(SANCTIONS, sorted_notices.sanction[decided]),
        }
    )
    return notices_table, outcomes_table


def _truth_table(
    truth_parts: list[_MonthTruth], month_first_day: np.ndarray, officer_ids: list[str]
) -> pd.DataFrame:
    rows_per_month = [len(part.officers) for part in truth_parts]
    return pd.DataFrame(
        {
            "officer_id": _labels(
                officer_ids, np.concatenate([part.officers for part in truth_parts])
            ),
            "as_of": np.repeat(month_first_day.astype(_DATE_DTYPE), rows_per_month),
            "escalation_rate": np.concatenate([part.escalation_rate for part in truth_parts]),
            "escalation_rate_given_history": np.concatenate(
                [part.escalation_rate_given_history for part in truth_parts]
            ),
        },
        copy=False,  # ~5M rows at Met size: do not copy the fresh arrays again
    )


# ---------------------------------------------------------------------------------------------
# Calibration helpers
# ---------------------------------------------------------------------------------------------
def _serving_on(officers: pd.DataFrame, day: pd.Timestamp) -> int:
    serving = (officers["joined_on"] <= day) & (
        officers["left_on"].isna() | (officers["left_on"] >= day)
    )
    return int(serving.sum())


def _notices_per_officer_year(
    force: SyntheticForce, start: pd.Timestamp, extracted: pd.Timestamp
) -> pd.Series:
    """Notices per serving officer-year from ``start`` to extraction, by ethnicity."""
    officers = force.officers
    service_start = officers["joined_on"].clip(lower=start)
    service_end = officers["left_on"].fillna(extracted - pd.Timedelta(days=1))
    officer_years = ((service_end - service_start).dt.days + 1).clip(lower=0) / DAYS_PER_YEAR
    years_by_group = officer_years.groupby(officers["ethnicity"]).sum()
    ethnicity_of = officers.set_index("officer_id")["ethnicity"]
    notices_by_group = force.notices["officer_id"].map(ethnicity_of).value_counts()
    return notices_by_group.reindex(years_by_group.index, fill_value=0) / years_by_group
