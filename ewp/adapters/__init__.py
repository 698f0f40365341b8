"""Adapters: a force's own export into the ewp contract tables.

``ingest`` reads the force's files as a YAML mapping describes them and writes the three
contract tables (see ``ewp.adapters.mapped`` and ``docs/adapters.md``). Mappings shipped with
ewp live in ``configs/mappings/``; ``mapping_path`` finds one by its source name (``cpdp``).
"""

from __future__ import annotations

from pathlib import Path

from ewp.adapters.mapped import (
    IngestResult,
    Mapping,
    MappingError,
    ingest,
    load_mapping,
)

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "configs" / "mappings"


def mapping_path(source: str) -> Path:
    """The shipped mapping for ``source`` (``configs/mappings/<source>.yaml``).

    Raises ``MappingError`` listing the known sources when there is none.
    """
    path = MAPPINGS_DIR / f"{source}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))
        raise MappingError(f"no mapping for source {source!r} in {MAPPINGS_DIR}; known: {known}")
    return path


__all__ = [
    "MAPPINGS_DIR",
    "IngestResult",
    "Mapping",
    "MappingError",
    "ingest",
    "load_mapping",
    "mapping_path",
]
