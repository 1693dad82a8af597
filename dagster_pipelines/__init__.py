"""Dagster definitions for OneVault: dbt assets, billing runs, checks and schedules.

Imports ``warehouse`` only, never ``gateway`` (ARCHITECTURE.md).
"""
