"""Reporting's use cases: projections (event → read model) and report queries, against ports."""
