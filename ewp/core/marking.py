"""The protective marking and owner-only permissions of the run folders.

Every run folder (``<data home>/runs/<config>/<...>/``) holds OFFICIAL-SENSITIVE material:
weekly lists that name officers, and audits of them by ethnicity, gender and age. The HTML
reports carry the marking in their header and footer. CSV and JSON files cannot carry it
without breaking the programs that read them (``ewp review import flags.csv`` reads the header
from line 1), so ``mark_folder`` writes a notice, ``OFFICIAL-SENSITIVE.txt``, beside them and
makes the folder and its files owner-only (0700 and 0600). Its text is fixed, so reruns stay
byte-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

MARKING = "OFFICIAL-SENSITIVE"
NOTICE_FILE = f"{MARKING}.txt"
NOTICE = f"""{MARKING}

Every file in this folder is {MARKING}. The weekly list, its reasons and the officers'
histories (flags.csv, flags.json, reasons.csv, timelines.csv, report.html) name officers; the
quarantine report may too; the fairness audit (audit.html, audit_*.csv) describes officers by
ethnicity, gender and age band, in aggregates with small groups suppressed; the oversight report
(oversight.html, oversight_*.csv) does too, names officers by pseudonym only, and its
oversight_pileups.csv gives their identifiers beside the pseudonyms.

Share them only with the professional standards unit and the reviewers who need them. The
HTML reports carry the marking on every page; the CSV and JSON files do not (a marking line
would break the programs that read them), so mark any copy taken out of this folder.

Written by ewp, with owner-only permissions (folder 0700, files 0600).
"""


def mark_folder(folder: Path) -> Path:
    """Write the marking notice into ``folder`` and make the folder and every file in it
    owner-only; returns the notice's path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    notice = folder / NOTICE_FILE
    notice.write_text(NOTICE, encoding="utf-8")
    os.chmod(folder, 0o700)
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o700)
        elif path.is_file() and not path.is_symlink():
            os.chmod(path, 0o600)
    return notice
