"""Fingerprints that tie every output to the exact data and model behind it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def fingerprint_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' names and bytes, in name order: the data snapshot's identity."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def fingerprint_json(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON-serialisable mapping with sorted keys (dates and paths as strings)."""
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def model_identity(
    *,
    estimator_class: str,
    params: Mapping[str, Any],
    features: Iterable[str],
    training_window: tuple[str, str],
    seed: int,
    data_fingerprint: str,
) -> str:
    """Deterministic model ID: the same class, params, features, window, seed and data give
    the same ID, e.g. ``scorecard-3f9a1c2b4d5e``."""
    digest = fingerprint_json(
        {
            "class": estimator_class,
            "params": dict(params),
            "features": list(features),
            "window": list(training_window),
            "seed": seed,
            "data": data_fingerprint,
        }
    )
    short = estimator_class.rsplit(".", 1)[-1].removesuffix("Classifier").lower()
    return f"{short}-{digest[:12]}"
