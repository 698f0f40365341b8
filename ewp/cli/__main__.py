"""``python -m ewp.cli``: the same as the ``ewp`` command."""

from ewp.cli import app

app()
