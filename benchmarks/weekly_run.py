"""Benchmark: how long a weekly run takes on the Met-sized synthetic force with k = 50.

Run with ``make bench-weekly`` (or ``.venv/bin/python -m ewp.benchmarks.weekly_run``). It times
the steps of a weekly run without Prefect's start-up (a served deployment pays that once, not
per run): reading and validating the export, building features at one as-of date, scoring,
drawing and explaining the list, rendering and writing the report. Target (issue 4): under
30 s on 2 cores. The model is a scorecard fitted here on one year of monthly dates (its fit is
not part of the weekly run and is not timed). ``ewp bench`` runs the same timing at Met and
national scale (``weekly_timings``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from ewp.core.config import Config
from ewp.core.contract import ForceData
from ewp.data.io import read_raw_export, write_export
from ewp.data.synthetic import generate_force
from ewp.data.validation import validate_export
from ewp.features.history import build_features, feature_columns
from ewp.features.labels import build_labels
from ewp.flows.score import latest_monday, publish_list
from ewp.models.scorecard import ScorecardClassifier


def benchmark_model(
    data: ForceData, config: Config, *, year: int, observed_until: dt.date
) -> ScorecardClassifier:
    """A scorecard fitted on the monthly as-of dates of one year (not part of the timing)."""
    dates = [dt.date(year, m, 1) for m in range(1, 13)]
    matrix = build_features(data, dates, config=config.features)
    labels = build_labels(data, matrix, label=config.label, observed_until=observed_until)
    observed = labels.notna().to_numpy()
    columns = feature_columns(config.features)
    return ScorecardClassifier().fit(
        matrix.loc[observed, columns], labels[observed].astype("int64")
    )


def weekly_timings(
    *, export: Path, config: Config, model: object, extracted_on: dt.date, home: Path
) -> tuple[dict[str, float], int]:
    """Time one weekly run from the export: the steps' seconds and the number flagged."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = validate_export(read_raw_export(export), category_map=config.category_map()).data
    timings["read + validate"] = time.perf_counter() - started
    step = time.perf_counter()
    published = publish_list.fn(
        data=data,
        config=config,
        home=home,
        model=model,
        model_version="benchmark",
        data_fingerprint="0" * 64,
        as_of=latest_monday(extracted_on),
        extracted_on=extracted_on,
        run_dir=home / "weekly",
    )
    timings["score, explain, render, write, record"] = time.perf_counter() - step
    timings["total"] = time.perf_counter() - started
    return timings, published.flagged


def main() -> None:
    """Print the time of each step and the total for one weekly run."""
    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        force = generate_force(
            officers=config.synthetic.officers,
            start_year=config.synthetic.start_year,
            end_year=config.synthetic.end_year,
            seed=config.seed,
            reporting_bias=config.synthetic.reporting_bias,
        )
        export = home / "export"
        write_export(
            officers=force.officers, notices=force.notices, outcomes=force.outcomes, out_dir=export
        )
        data = validate_export(read_raw_export(export), category_map=config.category_map()).data
        model = benchmark_model(data, config, year=2023, observed_until=force.extracted_on)
        timings, flagged = weekly_timings(
            export=export, config=config, model=model, extracted_on=force.extracted_on, home=home
        )
    print(f"Weekly run on {len(force.officers):,} officers ({flagged} flagged):")
    for name, seconds in timings.items():
        target = "   (target: under 30 s on 2 cores)" if name == "total" else ""
        print(f"  {name:<40} {seconds:6.2f} s{target}")


if __name__ == "__main__":
    main()
