"""The ``audit`` flow: the fairness audit of a published weekly list, run again.

``ewp audit RUN_FOLDER`` runs it, e.g. after a change to the ``fairness`` config. The score
flow audits every list it publishes (``ewp.flows.audit.audit_weekly_list``); this flow does the
same for a list already published: it reads the list's flags from the run folder, validates
the export again, builds the features at the list's date, and writes ``audit.html`` and the
audit CSVs into the run folder (with the rolling audit over the lists published before it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ewp.core.atomic import read_csv
from ewp.core.config import Config
from ewp.features.history import build_features
from ewp.flows.audit import audit_provenance, audit_weekly_list
from ewp.flows.common import ewp_flow, export_fingerprint, prepare_export, review_url, validate
from ewp.stores.review import ReviewStore


@ewp_flow(name="ewp-audit")
def audit_flow(config: Config, home: Path, run_dir: Path) -> Path:
    """Audit the weekly list published in ``run_dir`` (its ``flags.csv``) again, against the
    serving cohort at its date and the lists published before it; return audit.html's path."""
    flags = read_csv(run_dir / "flags.csv", dtype=str, keep_default_na=False)
    as_of = dt.date.fromisoformat(flags["as_of"].iloc[0])
    export_dir = prepare_export(config, home)
    validated = validate(export_dir, config)
    data = validated.data
    matrix = build_features(data, [as_of], config=config.features)
    store = ReviewStore(review_url(config, home))
    try:
        earlier = store.flags_frame()
    finally:
        store.close()
    return audit_weekly_list(
        data=data,
        matrix=matrix,
        flagged_ids=flags["officer_id"],
        config=config,
        run_dir=run_dir,
        as_of=as_of,
        earlier_lists=earlier.loc[
            pd.to_datetime(earlier["as_of"]) < pd.Timestamp(as_of), ["as_of", "officer_id"]
        ],
        provenance=audit_provenance(
            config,
            model_version=flags["model_version"].iloc[0],
            data_fingerprint=export_fingerprint(export_dir),
            extracted_on=validated.export_date.extracted_on.isoformat(),
        ),
    )
