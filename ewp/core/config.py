"""Run configuration: YAML in ``configs/`` loaded into frozen pydantic models.

Every model forbids unknown keys, so a typo such as ``horizon_day`` fails loudly with the
field's dotted path and the keys allowed there (``label.horizon_day: unknown key (expected one
of: gross_misconduct, horizon_days, ...)``) before any work starts. Dates must be
``YYYY-MM-DD``; time windows that cannot work (a test date with no training history before
it, test blocks whose labels end after the export date, an end before a start) are refused
naming the field and what was expected. ``load_config`` is the only way the CLI and flows read
a config.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Hashable
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from ewp.core.contract import ACTIVITY_KINDS, CATEGORIES, SERIOUS_CATEGORIES, SOURCES
from ewp.core.timechop import SplitError, as_of_dates, make_splits

PositiveInt = Annotated[int, Field(gt=0)]
# The configs shipped with ewp (default, demo, Chicago, mappings/).
SHIPPED_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DEMO_CONFIG = SHIPPED_CONFIGS / "demo.yaml"

# Kinds whose candidates flag officers: each gives a list size, its own flag volume.
FLAG_RULE_KINDS = frozenset({"threshold_rule", "peer_rule"})


def size_list_name(k: int) -> str:
    """The name of the top-``k`` list: ``top_50``."""
    return f"top_{k}"


def fraction_list_name(fraction: float) -> str:
    """The name of the list of the top ``fraction`` of officers: ``top_1pct`` for 0.01."""
    return f"top_{fraction * 100:g}pct"


def volume_list_name(rule: str) -> str:
    """The name of the list as long as ``rule`` flags: ``volume_rule_3_in_180d``."""
    return f"volume_{rule}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SyntheticConfig(_Frozen):
    """Parameters of the synthetic force (``ewp generate``)."""

    officers: PositiveInt = 34_000
    start_year: int = Field(2013, ge=1950, le=2100)
    end_year: int = Field(2024, ge=1950, le=2100)
    # Extra allegations without merit, as a fraction of the White officers' notice rate:
    # 0.81 means Black officers receive 81% more notices than White officers (domain.md).
    reporting_bias: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"Black": 0.81, "Asian": 0.55, "Mixed": 0.41}
    )
    # Also write the optional streams (postings, use-of-force reports;
    # ewp/data/synthetic_streams.py).
    streams: bool = False

    @model_validator(mode="after")
    def _years_ordered(self) -> SyntheticConfig:
        if self.end_year < self.start_year:
            raise ValueError(f"end_year ({self.end_year}) is before start_year ({self.start_year})")
        return self


class IngestConfig(_Frozen):
    """A force's own export, converted to the contract by a mapping before each run."""

    # As `ewp ingest --source` takes it: a shipped mapping name (configs/mappings/<name>.yaml,
    # e.g. "cpdp") or a mapping file (a path ending in .yaml/.yml or with a folder in it).
    source: str
    # The folder holding the force's files (relative paths: from the working directory).
    from_dir: Path


class DataConfig(_Frozen):
    """Where the force's export is: ``dir`` (already in the contract), ``ingest`` (converted
    by an adapter), or neither: the embedded synthetic force."""

    dir: Path | None = None
    ingest: IngestConfig | None = None
    # The date the export was taken. Default: the day after the latest knowledge date in it.
    extracted_on: dt.date | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.dir is not None and self.ingest is not None:
            raise ValueError("give either dir or ingest, not both")
        return self


class ActivityFeatureConfig(_Frozen):
    """Features from the optional activity stream (docs/streams.md): none unless ``kinds``
    names some. Each declared kind gets counts in ``features.windows_days``, all-time, days
    since the last and a peer share; ``severe_at`` adds a count of events with a severity at
    or above it, ``flags`` a count of events with each flag set. A config asking for a stream
    the export does not have stops the run (``ContractError``)."""

    kinds: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ...] = ()
    severe_at: Annotated[int, Field(ge=0, le=99)] | None = None
    flags: tuple[Literal["injury", "weapon"], ...] = ()


class FeatureConfig(_Frozen):
    """Which history features to build (see features/registry.py for their meaning)."""

    windows_days: tuple[PositiveInt, ...] = (90, 180, 365, 1095)
    # Windows for the per-group and per-source counts (a subset keeps the matrix small).
    group_windows_days: tuple[PositiveInt, ...] = (365,)
    category_groups: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "sexual_discrimination": ("sexual_misconduct", "discrimination"),
            "violence": ("violence_use_of_force", "domestic_abuse"),
            "dishonesty": (
                "dishonesty_fraud",
                "corruption_abuse_of_position",
                "improper_disclosure",
            ),
            "conduct": ("neglect_of_duty", "discreditable_conduct", "other"),
        }
    )
    sources: tuple[str, ...] = SOURCES
    probation_days: PositiveInt = 730
    # Cap for "days since last notice" when an officer has none (and for gaps longer than it).
    max_days_since: PositiveInt = 3650
    # Cohort rule for exports without separation dates: an officer with no left_on is presumed
    # gone once nothing is known of them (joining, a notice received) for this many years before
    # the as-of date. null: an officer with no left_on is serving until the export ends.
    presume_left_after_years: PositiveInt | None = None
    # Optional streams (docs/streams.md). units_from_postings: the peer features (and so the
    # peer rule) and each row's unit use the unit as of the date from the postings table.
    units_from_postings: bool = False
    activity: ActivityFeatureConfig = ActivityFeatureConfig()

    @field_validator("category_groups")
    @classmethod
    def _known_categories(cls, groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for group, members in groups.items():
            unknown = sorted(set(members) - set(CATEGORIES))
            if unknown:
                raise ValueError(f"group {group!r} names unknown categories {unknown}")
        return groups

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown sources {unknown}; expected some of {list(SOURCES)}")
        return sources


class LabelConfig(_Frozen):
    """Escalation label: what counts as escalation within ``horizon_days`` of an as-of date."""

    horizon_days: PositiveInt = 365
    serious_categories: tuple[str, ...] = SERIOUS_CATEGORIES
    gross_misconduct: bool = True
    proven_finding: bool = True
    # What the horizon counts: "notices" (an escalating allegation received in it) or "cases"
    # (a case that became known in it, escalating through an allegation received by its end;
    # see features/labels.py). They differ only where a case carries several allegations.
    counts: Literal["notices", "cases"] = "notices"

    @field_validator("serious_categories")
    @classmethod
    def _known(cls, cats: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(cats) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; expected some of {list(CATEGORIES)}")
        return cats


class TrainingConfig(_Frozen):
    """The as-of dates every model trains on: from ``as_of_start``, at ``cadence``."""

    as_of_start: dt.date = dt.date(2016, 1, 1)
    cadence: Literal["monthly", "weekly"] = "monthly"


CandidateKind = Literal[
    "threshold_rule", "peer_rule", "count_ranker", "scorecard", "ebm", "hist_gradient_boosting"
]


class CandidateConfig(_Frozen):
    """One competing model in the grid: a rule baseline, a glass-box model or a yardstick."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: CandidateKind
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    # The features it may use: "all", or a name in evaluation.feature_sets (mitigations).
    feature_set: str = "all"


def _default_candidates() -> tuple[CandidateConfig, ...]:
    return (
        # The headline rule counts complaints (cases), as forces run it; the same rule counted
        # in allegations (notices) is compared beside it.
        CandidateConfig(
            name="rule_3_in_180d",
            kind="threshold_rule",
            params={"feature": "cases_180d", "threshold": 3},
        ),
        CandidateConfig(
            name="rule_3_notices_in_180d",
            kind="threshold_rule",
            params={"feature": "notices_180d", "threshold": 3},
        ),
        CandidateConfig(
            name="rule_3_in_365d",
            kind="threshold_rule",
            params={"feature": "cases_365d", "threshold": 3},
        ),
        CandidateConfig(name="peer_top_5pct", kind="peer_rule", params={"top_fraction": 0.05}),
        CandidateConfig(
            name="count_ranker", kind="count_ranker", params={"feature": "notices_365d"}
        ),
        CandidateConfig(name="scorecard", kind="scorecard", params={"regularisation_c": 0.1}),
        CandidateConfig(
            name="scorecard_case_to_answer",
            kind="scorecard",
            params={"regularisation_c": 0.1},
            feature_set="case_to_answer_only",
        ),
        CandidateConfig(name="ebm", kind="ebm", params={"outer_bags": 2, "interactions": 0}),
        CandidateConfig(name="hgb_yardstick", kind="hist_gradient_boosting", params={}),
    )


class EvaluationConfig(_Frozen):
    """Temporal evaluation: test dates, training history, list sizes and the candidate grid."""

    # A model is retrained at each test date and evaluated, unchanged, on every as-of date of
    # the test block that follows (monthly dates in the next 365 days by default).
    test_dates: tuple[dt.date, ...] = (
        dt.date(2019, 1, 1),
        dt.date(2020, 1, 1),
        dt.date(2021, 1, 1),
        dt.date(2022, 1, 1),
        dt.date(2023, 1, 1),
    )
    test_block_days: PositiveInt | None = 365
    training_history_days: PositiveInt | None = 1096
    # Negatives kept when training (positives always kept), reweighted by 1 / rate. A tenth
    # keeps 5-10 negatives per positive at the 1-2% escalation rates of monthly histories,
    # where more rows cost time and bought no ranking quality (docs/model-development.md);
    # each split's log line gives the negatives per positive kept.
    negative_sample_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    # Positives kept likewise (1 = all). Below 1 only at weekly cadence on a large force,
    # where an officer's consecutive weekly rows are near-copies of each other.
    positive_sample_rate: Annotated[float, Field(gt=0, le=1)] = 1.0
    list_sizes: tuple[PositiveInt, ...] = (50,)
    list_fractions: tuple[Annotated[float, Field(gt=0, le=1)], ...] = (0.01,)
    candidates: tuple[CandidateConfig, ...] = Field(default_factory=_default_candidates)
    # The rule a model must beat at equal flag volume (a threshold_rule candidate's name).
    headline_rule: str = "rule_3_in_180d"
    # The list the selection rule ranks candidates on (see models/evaluation.py). null = the
    # list a unit receives, as scoring draws it (top_50 by default); a name given here must be
    # one the evaluation takes (a list size, a fraction, a flag rule's volume or scoring's).
    selection_list: str | None = None
    # A black-box yardstick may be trained for comparison; it is published only if this is true.
    allow_black_box_champion: bool = False
    # Named feature subsets for mitigation candidates (compared, never imposed): e.g. counting
    # only what a decision has backed (case to answer) and notices not from the public.
    feature_sets: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "case_to_answer_only": (
                "findings_case_to_answer_all",
                "findings_proven_all",
                "worst_sanction_level",
                "gross_misconduct_all",
                "notices_source_internal_365d",
                "notices_source_conduct_matter_365d",
                "tenure_days",
                "probationer",
            ),
        }
    )
    # Splits evaluated at once (threads, or local Dask workers: see runtime).
    max_workers: PositiveInt = 2
    # Bootstrap intervals of the equal-volume comparison (officers resampled, paired).
    bootstrap_samples: PositiveInt = 1000
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95

    @field_validator("test_dates")
    @classmethod
    def _increasing(cls, dates: tuple[dt.date, ...]) -> tuple[dt.date, ...]:
        if not dates:
            raise ValueError("expected at least one test date")
        for earlier, later in pairwise(dates):
            if later <= earlier:
                raise ValueError(
                    f"{later} follows {earlier}; expected dates in increasing order, no repeats"
                )
        return dates

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, candidates: tuple[CandidateConfig, ...]) -> tuple[CandidateConfig, ...]:
        names = [c.name for c in candidates]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"candidate names must be unique; repeated: {duplicated}")
        return candidates

    @model_validator(mode="after")
    def _feature_sets_exist(self) -> EvaluationConfig:
        for candidate in self.candidates:
            if candidate.feature_set != "all" and candidate.feature_set not in self.feature_sets:
                raise ValueError(
                    f"candidate {candidate.name!r} uses feature_set {candidate.feature_set!r}; "
                    f"define it in feature_sets (have {sorted(self.feature_sets)})"
                )
        return self

    @model_validator(mode="after")
    def _headline_rule_is_a_rule(self) -> EvaluationConfig:
        rules = [c.name for c in self.candidates if c.kind == "threshold_rule"]
        if self.headline_rule not in rules:
            raise ValueError(
                f"headline_rule {self.headline_rule!r} must name a threshold_rule candidate; "
                f"have {rules}"
            )
        return self


class ScoringConfig(_Frozen):
    """How the flag list is drawn."""

    # Default as-of date: the day the export was taken (the weekly flow: the latest Monday).
    as_of: dt.date | None = None
    # "top_k": the k highest scores; "threshold": every score at or above ``threshold``.
    selection: Literal["top_k", "threshold"] = "top_k"
    top_k: PositiveInt = 50
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    # At most this many flags per unit (None: no cap), so one unit cannot fill the list.
    max_per_unit: PositiveInt | None = None
    reasons_per_flag: PositiveInt = 3
    # A force's export older than this many days on the day of the run is still scored, but
    # the run warns and the report and manifest say so (None: never). Not for the synthetic
    # force, whose dates are made up.
    max_export_age_days: PositiveInt | None = 35

    @model_validator(mode="after")
    def _threshold_given(self) -> ScoringConfig:
        if self.selection == "threshold" and self.threshold is None:
            raise ValueError("selection 'threshold' needs a threshold between 0 and 1")
        return self

    @property
    def list_name(self) -> str:
        """The name of the list drawn this way, as the evaluation measures it: ``top_50``,
        ``top_50_max_3_per_unit``, ``score_at_least_0.2`` (every officer whose escalation
        probability is at least 0.2)."""
        if self.selection == "threshold":
            name = f"score_at_least_{self.threshold:g}"
        else:
            name = size_list_name(self.top_k)
        if self.max_per_unit is not None:
            name += f"_max_{self.max_per_unit}_per_unit"
        return name

    @property
    def is_plain_top_k(self) -> bool:
        """True for the k highest scores with no cap per unit: a list size like any other."""
        return self.selection == "top_k" and self.max_per_unit is None


class ReviewConfig(_Frozen):
    """The review store where flags and human decisions live."""

    # SQLAlchemy URL; None = SQLite file review.db under the data home. For a shared
    # deployment use e.g. postgresql+psycopg://user@host/ewp.
    database_url: str | None = None
    # An officer reviewed within this many weeks, with no new notice since, is not listed again
    # but shown as suppressed with the reason.
    suppress_weeks: PositiveInt = 8
    decisions: tuple[str, ...] = (
        "no_action",
        "supervisor_conversation",
        "referral_to_professional_standards",
        "other",
    )


# The fairness metrics the audit computes (Aequitas definitions, ``ewp.models.fairness``): flag
# metrics need only the list, label metrics the outcomes too. The gate may check any of them.
FairnessMetric = Literal[
    "flag_rate",
    "share_of_flags",
    "precision",
    "false_positive_rate",
    "false_negative_rate",
    "recall",
]


# Audited but not gated unless fairness.gate_attributes names it: exposure grows with service,
# so an age disparity in notices, labels and flags cannot be told from the records alone from
# one the model adds (docs/fairness.md, "Age").
UNGATED_BY_DEFAULT = frozenset({"age_band"})


class FairnessConfig(_Frozen):
    """The fairness audit: groups, reference groups, tolerance band, gate and small-cell rules."""

    # At least one: a force without demographic data keeps them, and the audit, the gate and
    # the CLI then say "not audited: no attributes".
    attributes: Annotated[
        tuple[Literal["ethnicity", "gender", "age_band"], ...], Field(min_length=1)
    ] = ("ethnicity", "gender", "age_band")
    # Reference group per attribute; missing = the largest group with a usable rate (see
    # models/fairness.py, "Reference groups"). A configured group absent from the data is
    # refused by `ewp validate` and at the start of every flow.
    reference_groups: dict[str, str] = Field(default_factory=dict)
    # Age bands by age on the as-of date: edges split "under 25", "25-34", ... "55 and over".
    age_band_edges: tuple[PositiveInt, ...] = (25, 35, 45, 55)
    band: tuple[float, float] = (0.8, 1.25)
    # Groups (and intersection cells) smaller than this are "insufficient data" / suppressed.
    min_group_size: PositiveInt = 20
    bootstrap_samples: PositiveInt = 1000
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    # The promotion gate. "relative_to_rule": a candidate is blocked where a group is outside
    # the band and the candidate is further from parity there than evaluation.headline_rule
    # (today's practice), beyond the interval's uncertainty; the rule passes its own gate, so
    # there is always a champion, and breaches the rule shares are reported, not hidden.
    # "absolute": any group outside the band blocks (possibly every candidate).
    gate: Literal["relative_to_rule", "absolute"] = "relative_to_rule"
    # Ratios the promotion gate checks (see models/fairness.py's fairness_gate).
    gate_metrics: tuple[FairnessMetric, ...] = ("false_positive_rate", "flag_rate")
    # Attributes the gate checks; null = every audited attribute except age_band (see the
    # "Age" paragraph of docs/fairness.md: the records cannot separate an age disparity from
    # exposure, which grows with service). Every audited attribute, age included, is audited,
    # compared with the rule and reported either way; list them to gate age too, e.g.
    # [ethnicity, gender, age_band].
    gate_attributes: tuple[Literal["ethnicity", "gender", "age_band"], ...] | None = None
    # Candidate name -> written reason to let it through a failed gate; recorded in MLflow and
    # the model card. Empty: the gate's word is final.
    overrides: dict[str, Annotated[str, Field(min_length=10)]] = Field(default_factory=dict)
    # The weekly audit also pools the published lists of the last rolling_weeks weeks (flag
    # rates per group, officers clustered across weeks, and a trend per group), once at least
    # rolling_min_weeks weeks of lists exist.
    rolling_weeks: PositiveInt = 12
    rolling_min_weeks: PositiveInt = 4

    @model_validator(mode="before")
    @classmethod
    def _gate_baseline_replaced(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gate_baseline" in data:
            raise ValueError(
                "gate_baseline was replaced by gate: relative_to_rule (the default), which "
                "compares every candidate with evaluation.headline_rule; remove gate_baseline "
                "(set evaluation.headline_rule to the force's current rule)"
            )
        return data

    @model_validator(mode="after")
    def _band_ordered(self) -> FairnessConfig:
        low, high = self.band
        if not 0 < low < 1 < high:
            raise ValueError(f"band must be (low, high) with 0 < low < 1 < high, got {self.band}")
        return self

    @model_validator(mode="after")
    def _audited(self) -> FairnessConfig:
        """Reference groups and gate attributes name audited attributes; rolling weeks fit."""
        audited = list(self.attributes)
        for field, names in (
            ("reference_groups", list(self.reference_groups)),
            ("gate_attributes", list(self.gate_attributes or ())),
        ):
            unknown = [name for name in names if name not in audited]
            if unknown:
                raise ValueError(
                    f"{field}: {unknown} not in attributes; expected some of {audited}"
                )
        if self.rolling_min_weeks > self.rolling_weeks:
            raise ValueError(
                f"rolling_min_weeks ({self.rolling_min_weeks}) is more than rolling_weeks "
                f"({self.rolling_weeks}); expected at most rolling_weeks"
            )
        return self

    @property
    def gated_attributes(self) -> tuple[str, ...]:
        """The attributes the gate checks: ``gate_attributes``, else every audited one but
        ``age_band`` (``UNGATED_BY_DEFAULT``)."""
        if self.gate_attributes is not None:
            return self.gate_attributes
        return tuple(a for a in self.attributes if a not in UNGATED_BY_DEFAULT)

    @property
    def ungated_attributes(self) -> tuple[str, ...]:
        """The audited attributes the gate does not check: audited, compared with the rule and
        reported for a person to weigh, never a reason to block."""
        return tuple(a for a in self.attributes if a not in self.gated_attributes)


class RuntimeConfig(_Frozen):
    """Where the train flow runs its tasks (feature matrix, one task per split)."""

    # "threads": evaluation.max_workers threads in this process. "dask": a Dask cluster via
    # prefect-dask (pip install -e '.[dask]'): a local cluster of evaluation.max_workers
    # workers, or the existing cluster whose scheduler is at dask_address.
    task_runner: Literal["threads", "dask"] = "threads"
    # e.g. "tcp://10.0.0.5:8786". The workers need ewp installed and the data home on a
    # filesystem they share (the feature matrix is cached there).
    dask_address: str | None = None

    @model_validator(mode="after")
    def _address_needs_dask(self) -> RuntimeConfig:
        if self.dask_address is not None and self.task_runner != "dask":
            raise ValueError(
                f"dask_address is set but task_runner is {self.task_runner!r}; "
                "set task_runner: dask to use the cluster"
            )
        return self


class MlflowConfig(_Frozen):
    """Where runs are tracked. ``tracking_uri: null`` is a SQLite store under the data home."""

    tracking_uri: str | None = None
    experiment: str = "ewp"


class WebConfig(_Frozen):
    """The review workspace (``ewp web``): sessions, login limits, reverse-proxy identity."""

    # A session ends after this long without a request, and in any case this long after login.
    session_idle_minutes: PositiveInt = 30
    session_max_hours: PositiveInt = 8
    # Failed logins allowed per user name, and per client address, within the window; more are
    # refused (HTTP 429) until older failures leave the window. Counted in the database.
    max_failed_logins: PositiveInt = 5
    max_failed_logins_per_client: PositiveInt = 20
    login_window_minutes: PositiveInt = 15
    # Header carrying the user name set by a trusted reverse proxy (e.g. X-Remote-User); None:
    # local accounts only. Honoured only on requests from ``trusted_proxies``.
    trusted_user_header: str | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Send the session cookie over HTTPS only: set true whenever the workspace is served by TLS.
    secure_cookies: bool = False


# The version of the config format this ewp reads (docs/config-checks.md): raised when a key is
# renamed, removed or changes meaning, so a file written for another version is refused with
# what to change, never read the wrong way.
CONFIG_VERSION = 1


class MonitoringConfig(_Frozen):
    """Monitoring the champion in service (``ewp monitor``, see docs/monitoring.md): what
    counts as drift, and how the matured lists' intervals are drawn."""

    # A model input or the score whose population stability index (PSI) against the training
    # window reaches this is a breach (conventional reading: < 0.1 stable, 0.1-0.25 moderate,
    # >= 0.25 a major shift).
    psi_threshold: Annotated[float, Field(gt=0)] = 0.25
    # Bins of the PSI: cut at the quantiles of the training window's values (ties merge bins).
    psi_bins: Annotated[int, Field(ge=2)] = 10
    # Share of a week's cohort serving in a unit never seen in the training window (a renamed
    # or new unit) at or above which it is a breach.
    new_unit_share: Annotated[float, Field(gt=0, le=1)] = 0.05
    # PSI of the categories of the notices received in the last ``recent_days`` before a week
    # against those received over the training window (a category remapped, a new recording
    # practice) at or above which it is a breach.
    category_psi_threshold: Annotated[float, Field(gt=0)] = 0.25
    recent_days: PositiveInt = 91
    # Relative change, either way, of notices received per serving officer per day (the last
    # ``recent_days`` against the training window) at or above which it is a breach (a
    # reporting change: 0.3 = 30% more or fewer).
    notice_rate_change: Annotated[float, Field(gt=0)] = 0.3
    # Relative change, either way, of the cohort size against the training window's mean.
    cohort_change: Annotated[float, Field(gt=0)] = 0.2
    # Matured lists whose observed escalation rate among the flagged differs from their mean
    # predicted probability by this share of it or more (pooled over matured weeks) breach.
    calibration_tolerance: Annotated[float, Field(gt=0)] = 0.5
    # The weekly report's health line and ``ewp models`` read the newest monitoring run; one
    # older than this many days is reported as out of date.
    max_age_days: PositiveInt = 45


class Config(_Frozen):
    """A whole run configuration."""

    # The config format the file is written for; a file without it is read as this version.
    config_version: int = CONFIG_VERSION
    name: str = "default"
    seed: int = 20_261_123
    # Project data home for generated data, Prefect state, MLflow store and run outputs.
    # Relative paths are taken from the working directory; --home and EWP_HOME override it.
    home: Path = Path(".ewp")
    # Where this config's review store and model registry live: null = in the data home
    # itself; a name = in <home>/stores/<name>/, apart from every other config's (the demo's
    # list and model never mix with a real one). The export stays shared.
    store: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]+$")
    data: DataConfig = DataConfig()
    synthetic: SyntheticConfig = SyntheticConfig()
    # A force's own category labels -> the standard taxonomy. Standard names map to themselves.
    taxonomy: dict[str, str] = Field(default_factory=dict)
    features: FeatureConfig = FeatureConfig()
    label: LabelConfig = LabelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    scoring: ScoringConfig = ScoringConfig()
    review: ReviewConfig = ReviewConfig()
    fairness: FairnessConfig = FairnessConfig()
    mlflow: MlflowConfig = MlflowConfig()
    web: WebConfig = WebConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    @field_validator("config_version")
    @classmethod
    def _current_version(cls, version: int) -> int:
        if version != CONFIG_VERSION:
            raise ValueError(
                f"the file is written for config version {version}, and this ewp reads version "
                f"{CONFIG_VERSION}; see docs/config-checks.md for what changed between "
                f"versions, update the file, then set config_version: {CONFIG_VERSION}"
            )
        return version

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy_targets(cls, taxonomy: dict[str, str]) -> dict[str, str]:
        bad = {raw: std for raw, std in taxonomy.items() if std not in CATEGORIES}
        if bad:
            raw, std = next(iter(bad.items()))
            raise ValueError(
                f"{raw!r} maps to {std!r}, which is not a standard category; "
                f"expected one of {list(CATEGORIES)}"
            )
        return taxonomy

    def selection_list(self) -> str:
        """The list the champion is selected on: ``evaluation.selection_list`` if given, else
        the list a unit receives (``scoring.list_name``)."""
        return self.evaluation.selection_list or self.scoring.list_name

    def evaluated_lists(self) -> list[str]:
        """The names of the lists the evaluation takes on every test date: the list sizes and
        fractions, each flag rule's volume and the list ``scoring`` draws."""
        ev = self.evaluation
        names = [size_list_name(k) for k in ev.list_sizes]
        names += [fraction_list_name(f) for f in ev.list_fractions]
        names += [volume_list_name(c.name) for c in ev.candidates if c.kind in FLAG_RULE_KINDS]
        names.append(self.scoring.list_name)
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _selection_list_is_evaluated(self) -> Config:
        chosen = self.evaluation.selection_list
        if chosen is not None and chosen not in self.evaluated_lists():
            raise ValueError(
                f"evaluation.selection_list: {chosen!r} is not a list the evaluation takes; "
                f"expected one of {self.evaluated_lists()}, or null for the list scoring "
                f"publishes ({self.scoring.list_name})"
            )
        return self

    @model_validator(mode="after")
    def _windows_possible(self) -> Config:
        """Time windows across sections: every test date has training history before it,
        the test blocks' labels end by the export date, and the list is not dated after it."""
        ev, horizon = self.evaluation, self.label.horizon_days
        cadence, start = self.training.cadence, self.training.as_of_start
        step = 31 if cadence == "monthly" else 7
        if ev.training_history_days is not None and ev.training_history_days < step:
            raise ValueError(
                f"evaluation.training_history_days: {ev.training_history_days} days is shorter "
                f"than one {cadence} step of training.cadence; expected at least {step}, or null"
            )
        first_as_of = as_of_dates(start=start, end=start + dt.timedelta(days=step), cadence=cadence)
        earliest = first_as_of[0] + dt.timedelta(days=horizon)
        if ev.test_dates[0] < earliest:
            raise ValueError(
                f"evaluation.test_dates: {ev.test_dates[0]} leaves no training as-of date: a "
                f"model tested then trains on {cadence} as-of dates from training.as_of_start "
                f"({start}) to label.horizon_days ({horizon}) before the test date; expected test "
                f"dates on or after {earliest}"
            )
        try:
            splits = make_splits(
                test_dates=ev.test_dates,
                label_horizon_days=horizon,
                training_history_days=ev.training_history_days,
                cadence=cadence,
                data_start=start,
                test_block_days=ev.test_block_days,
            )
        except SplitError as exc:
            raise ValueError(f"evaluation: {exc}") from exc
        extracted_on = self.data.extracted_on
        if extracted_on is not None:
            last = splits[-1].test_block[-1]
            if last + dt.timedelta(days=horizon) > extracted_on:
                raise ValueError(
                    f"evaluation.test_dates: the last test as-of date, {last}, needs labels until "
                    f"{last + dt.timedelta(days=horizon)}, after data.extracted_on "
                    f"({extracted_on}); expected test dates and test blocks ending by "
                    f"{extracted_on - dt.timedelta(days=horizon)}"
                )
            if self.scoring.as_of is not None and self.scoring.as_of > extracted_on:
                raise ValueError(
                    f"scoring.as_of ({self.scoring.as_of}) is after data.extracted_on "
                    f"({extracted_on}); expected a date on or before the export date"
                )
        return self

    def category_map(self) -> dict[str, str]:
        """Raw category label -> standard category, standard names included."""
        return {**{c: c for c in CATEGORIES}, **self.taxonomy}

    def activity_kinds(self) -> tuple[str, ...]:
        """The activity kinds an export may carry: ``use_of_force`` and the declared ones."""
        return tuple(dict.fromkeys((*ACTIVITY_KINDS, *self.features.activity.kinds)))


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping.

    Plain YAML keeps the last of two equal keys and drops the first without a word, so a
    setting added to a section that already has it (``gate_attributes`` written again under
    ``fairness:``, say) would be silently ignored or silently win, depending on its place.
    Here it is an error naming the key and both lines."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        """The mapping, after checking that no key appears twice in it."""
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                if not isinstance(key, Hashable):
                    continue  # SafeLoader's own construct_mapping names an unhashable key
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} appears twice in one section (lines {first_line[key]} "
                        f"and {line}); YAML would keep only the second: remove one",
                        key_node.start_mark,
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


class _TextDateLoader(UniqueKeyLoader):
    """UniqueKeyLoader that leaves dates as text, so pydantic parses them and names a bad
    field."""


_TextDateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file and the field."""


def load_config(path: Path | str | None = None) -> Config:
    """Load and validate a YAML config; ``None`` gives the embedded default.

    Raises ``ConfigError`` naming the file and each bad field as a dotted path.
    """
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextDateLoader) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"{path}: {problems}") from exc


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """A YAML syntax error in one line: ``file line L, column C: not valid YAML (problem)``."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"{path}{where}: not valid YAML ({problem})"


def _problem(err: ErrorDetails) -> str:
    """One pydantic error as ``field.path: what is wrong (expected ...)``."""
    loc = err["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(sorted(model.model_fields)) if model else "see configs/default.yaml"
        return f"{where}: unknown key (expected one of: {allowed})"
    if err["type"].startswith("date"):
        reason = err.get("ctx", {}).get("error", "not a date")
        return f'{where}: "{value}" is not a date ({reason}); expected YYYY-MM-DD'
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":
        # Cross-field checks name their own fields; section checks are under the section.
        return message if not where or message.startswith(where) else f"{where}: {message}"
    if isinstance(value, str | int | float | bool) or value is None:
        message = f"{message} (got {value!r})"
    return f"{where or '<top>'}: {message}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model at a dotted location (``("evaluation", "candidates", 0)``), if any."""
    current: Any = Config
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (tuple, list):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
