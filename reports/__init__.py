"""Documents built from a run's aggregates: the model card (and, later, the weekly report).

Everything here is pure: data in, markdown out. Templates live in ``reports/templates``.
"""
