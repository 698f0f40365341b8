"""ewp: an early-warning pipeline for police professional standards units.

One role per room; every import points down this order (``tests/test_layout.py``):

    ewp.cli                                the command: a thin face
    ewp.web | ewp.benchmarks               the review workspace; benchmarks
    ewp.flows                              Prefect flows that wire the rooms below
    ewp.reports | ewp.stores | ewp.data    reports; stores and services; data in
    ewp.models                             estimators, rules, evaluation, selection
    ewp.features                           officer histories, labels, explanations
    ewp.core                               contract, config, errors, primitives

``ewp.features``, ``ewp.models``, ``ewp.flows``, ``ewp.reports``, ``ewp.web`` and
``ewp.benchmarks`` live in the repository's top-level folders of those names
(setuptools ``package-dir``), so installing ewp adds no generic top-level module.
"""
