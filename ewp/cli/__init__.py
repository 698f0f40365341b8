"""The ``ewp`` command: a thin face over the flows and adapters (``commands``), its
terminal display (``terminal``) and the temporary Prefect server's watchdog
(``prefect_server``)."""

from ewp.cli.commands import app

__all__ = ["app"]
