"""Benchmark: how long a weekly run takes on the Met-sized synthetic force with k = 50.

Run with ``make bench-weekly`` (or ``.venv/bin/python benchmarks/weekly_run.py``). It times
the steps of a weekly run without Prefect's start-up (a served deployment pays that once, not
per run): reading and validating the export, building features at one as-of date, scoring,
drawing and explaining the list, rendering and writing the report. Target (issue 4): under
30 s on 2 cores. The model is a scorecard fitted here on one year of monthly dates (its fit is
not part of the weekly run and is not timed).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from ewp.config import Config
from ewp.io import read_raw_export, write_export
from ewp.synthetic import generate_force
from ewp.validation import validate_export
from features.history import build_features, feature_columns
from features.labels import build_labels
from flows.score import latest_monday, publish_list
from models.scorecard import ScorecardClassifier


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
        dates = [dt.date(2023, m, 1) for m in range(1, 13)]
        matrix = build_features(data, dates, config=config.features)
        labels = build_labels(data, matrix, label=config.label, observed_until=force.extracted_on)
        columns = feature_columns(config.features)
        model = ScorecardClassifier().fit(matrix[columns], labels.astype("int64"))

        timings: dict[str, float] = {}
        started = time.perf_counter()
        raw = read_raw_export(export)
        data = validate_export(raw, category_map=config.category_map()).data
        timings["read + validate"] = time.perf_counter() - started
        step = time.perf_counter()
        as_of = latest_monday(force.extracted_on)
        published = publish_list.fn(
            data=data,
            config=config,
            home=home,
            model=model,
            model_version="benchmark",
            data_fingerprint="0" * 64,
            as_of=as_of,
            extracted_on=force.extracted_on,
            run_dir=home / "weekly",
        )
        timings["score, explain, render, write, record"] = time.perf_counter() - step
        total = time.perf_counter() - started
    print(f"Weekly run on {len(force.officers):,} officers ({published.flagged} flagged):")
    for name, seconds in timings.items():
        print(f"  {name:<40} {seconds:6.2f} s")
    print(f"  {'total':<40} {total:6.2f} s   (target: under 30 s on 2 cores)")


if __name__ == "__main__":
    main()
