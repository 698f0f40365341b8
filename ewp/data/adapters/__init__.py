"""Adapters: a force's own export into the ewp contract tables.

``ingest`` reads the force's files as a YAML mapping describes them and writes the three
contract tables (see ``ewp.data.adapters.mapped`` and ``docs/adapters.md``). Mappings shipped with
ewp live in ``configs/mappings/``; ``mapping_path`` finds one by its source name (``cpdp``),
``resolve_mapping`` takes a name or a mapping file, as the CLI and configs do.
"""

from __future__ import annotations

from pathlib import Path

from ewp.data.adapters.mapped import IngestResult, Mapping, MappingError, ingest, load_mapping

MAPPINGS_DIR = Path(__file__).resolve().parents[3] / "configs" / "mappings"


def resolve_mapping(source: str) -> Path:
    """The mapping a source names, the same for ``ewp ingest --source`` and a config's
    ``data.ingest.source``: a mapping file (a path ending in ``.yaml`` or ``.yml``, or with a
    folder in it; relative to the working directory), else a shipped mapping's name (``cpdp``).
    """
    path = Path(source)
    if path.suffix in {".yaml", ".yml"} or len(path.parts) > 1:
        return path
    return mapping_path(source)


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
    "resolve_mapping",
]
