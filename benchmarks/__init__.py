"""Benchmarks of ewp at Met and national scale, with reference formulations to compare against.

``ewp bench`` (``ewp.benchmarks.suite``) runs them; ``ewp.benchmarks.naive`` and
``ewp.benchmarks.sql`` are independent formulations of the feature matrix that the suite checks
ewp's output against.
"""
