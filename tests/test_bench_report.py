"""What ``ewp bench`` says about a training run: time with CPU and memory, the registered
champion (or its absence) and the targets of issue 16, from hand-made step results."""

from __future__ import annotations

from typing import Any

from ewp.benchmarks.suite import print_targets, training_line


def _trained(version: str | None) -> dict[str, Any]:
    return {
        "seconds": 360.0,
        "cpu_seconds": 500.0,
        "children_cpu_seconds": 40.0,
        "peak_rss_mb": 3 * 1024.0,
        "candidates": 9,
        "test_dates": 265,
        "champion": "scorecard",
        "registered_version": version,
        "load": [2.0, 3.5],
    }


def _features() -> dict[str, Any]:
    step = {"seconds": 10.0, "cpu_seconds": 10.0, "peak_rss_mb": 1024.0}
    return {
        "scale": "national",
        "cadence": "weekly",
        "ewp": step,
        "ewp_parquet": {**step, "write_cpu_seconds": 25.0, "read_cpu_seconds": 30.0},
        "naive": {**step, "seconds": 300.0},
        "lower_bound": {**step, "seconds": 2.0},
    }


def test_the_training_line_names_the_registered_version_and_counts_the_server() -> None:
    line = training_line(_trained("3"))
    assert line.startswith("full training run: 6.0 min wall, 9.0 min CPU")
    assert "(its Prefect server's 40 s included), peak 3.00 GB" in line
    assert "champion scorecard registered as version 3; load average 2.0 → 3.5" in line
    assert "NO champion registered (selected: scorecard)" in training_line(_trained(None))


def test_the_targets_check_training_time_memory_and_registration() -> None:
    lines: list[str] = []
    results = {"features": [_features()], "training": {"national-weekly": _trained(None)}}
    print_targets(results, lines.append)
    assert "  national weekly: full training run wall s 360.0 (under 300): NOT MET" in lines
    assert "  national weekly: full training run peak GB 3.0 (under 4): met" in lines
    assert "  national weekly: full training run CPU s: 540.0" in lines
    assert (
        "  national weekly: training run registered a champion (1 = yes) 0.0 (at least 1): NOT MET"
    ) in lines
    assert (
        "  national weekly: × the build's CPU to write the Parquet cache, which ewp train no "
        "longer writes: 2.5"
    ) in lines
