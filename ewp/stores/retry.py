"""Which failures are worth retrying: transient I/O, never a logic error or bad input.

A flow task that reads or writes files, the review database or the MLflow store is retried
when it fails with an error a second attempt may cure: the file system or network hiccuped
(``OSError``, bar the kinds that will not change by waiting, such as a missing file), the
database was locked or its connection dropped (SQLAlchemy's ``OperationalError``,
``TimeoutError``, ``DisconnectionError``, an invalidated connection), or MLflow said its store
was temporarily unavailable. Anything else (bad input, a bug) fails at once: retrying it would
only repeat the error, and repeat any side effect before it.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from ewp.stores.tracking import is_transient_mlflow_error

# OSErrors that waiting does not cure: a wrong path or permission is a setup error.
PERMANENT_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` is a transient I/O failure that a retry may cure (see module docstring)."""
    if isinstance(exc, PERMANENT_OS_ERRORS):
        return False
    if isinstance(exc, OSError | sa_exc.OperationalError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return is_transient_mlflow_error(exc)
