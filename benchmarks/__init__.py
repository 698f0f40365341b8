"""Benchmarks of ewp at Met and national scale, with reference formulations to compare against.

``ewp bench`` (``benchmarks.suite``) runs them; ``benchmarks.naive`` and ``benchmarks.sql`` are
independent formulations of the feature matrix that the suite checks ewp's output against.
"""
