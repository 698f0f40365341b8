"""Documents built from a run's aggregates: the model card, the weekly, audit and evaluation
reports.

Everything here is pure: data in, markdown or HTML out. Templates live in ``reports/templates``;
``load_template`` reads one with the settings every HTML report uses.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2


@cache
def load_template(name: str, *, autoescape: bool = True) -> jinja2.Template:
    """``templates/<name>`` with autoescaping on (off for a markdown template), undefined
    names an error, and Jinja's whitespace control (blocks trimmed, trailing newline kept)."""
    source = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.from_string(source)
