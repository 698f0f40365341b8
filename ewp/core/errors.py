"""Errors that every room may raise or catch: an export that cannot be read at all.

``ContractError`` lives here, not beside the validation that explains it, so that
reading an export (``ewp.data.io``) and validating it (``ewp.data.validation``) do
not import each other.
"""

from __future__ import annotations


class ContractError(ValueError):
    """An export that cannot be validated at all (a table or a required column is missing).

    The message names the file and the field.
    """
