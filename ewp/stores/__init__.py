"""Stores and services that keep state: the review store and access control, MLflow
tracking (the only module that talks to MLflow), the feature cache, run status,
pseudonymisation and the retry policy for their I/O.

Imports the core and features."""
