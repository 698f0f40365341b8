"""The monitor's one-line health summary: written by ``ewp monitor`` (``health.json`` in its run
folder), read by the weekly report and ``ewp models``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

MONITOR_PREFIX = "monitor-"  # run folders: <home>/runs/<config>/monitor-<export date>/
HEALTH_JSON = "health.json"


@dataclasses.dataclass(frozen=True)
class Health:
    """The one-line health summary of a monitoring run (``health.json``)."""

    monitored_on: str  # the export's date
    latest_week: str | None
    matured_weeks: int
    precision: float | None
    rule_precision: float | None
    breaches: tuple[str, ...]
    # Matured lists whose outcome year overlaps the labels the champion trained on (a
    # backfill with a champion trained on the same export): their precision is optimistic.
    in_sample_weeks: int = 0

    def line(self) -> str:
        """One sentence: breaches first, then the matured lists' precision."""
        head = f"Monitoring (export of {self.monitored_on}): "
        if self.breaches:
            head += f"{len(self.breaches)} warning{'s' if len(self.breaches) > 1 else ''}: "
            head += "; ".join(self.breaches) + ". "
        else:
            head += "no drift or calibration warning. "
        if self.matured_weeks and self.precision is not None:
            rule = "" if self.rule_precision is None else f", the rule's {self.rule_precision:.1%}"
            inside = (
                f", {self.in_sample_weeks} inside the champion's training labels"
                if self.in_sample_weeks
                else ""
            )
            head += (
                f"Matured lists ({self.matured_weeks} weeks{inside}): {self.precision:.1%} of "
                f"flags escalated{rule}."
            )
        else:
            head += "No list has matured yet."
        return head


def read_health(runs_dir: Path) -> Health | None:
    """The newest monitoring run's health under ``runs_dir`` (a config's runs), or None."""
    found = sorted(runs_dir.glob(f"{MONITOR_PREFIX}*/{HEALTH_JSON}"))
    if not found:
        return None
    data = json.loads(found[-1].read_text(encoding="utf-8"))
    return Health(**{**data, "breaches": tuple(data["breaches"])})


def health_summary(health: Health | None, *, today: dt.date, max_age_days: int) -> str:
    """The line the weekly report and ``ewp models`` print: the health, or why there is none
    (never run, or older than ``max_age_days``: said before it)."""
    if health is None:
        return "Monitoring: not run yet (ewp monitor); nothing is known about the lists' outcomes."
    age = (today - dt.date.fromisoformat(health.monitored_on)).days
    stale = f"Out of date ({age} days old): " if age > max_age_days else ""
    return stale + health.line()
