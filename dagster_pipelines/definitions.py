"""OneVault's Dagster ``Definitions`` (``dagster-webserver -m dagster_pipelines.definitions``)."""

from __future__ import annotations

from dagster import AssetSpec, Definitions
from dagster_dbt import DbtCliResource

from dagster_pipelines.audit import audit_export_job
from dagster_pipelines.billing import finalised_invoices, invoice_documents
from dagster_pipelines.checks import COST_EVENTS, build_checks
from dagster_pipelines.dbt_assets import build_dbt_assets
from dagster_pipelines.jobs import build_jobs
from dagster_pipelines.project import DBT, DBT_PROJECT
from dagster_pipelines.reconciliation import build_reconciliation
from dagster_pipelines.resources import Warehouse

jobs, schedules = build_jobs()
recon_assets, recon_checks, recon_jobs, recon_schedules = build_reconciliation()

defs = Definitions(
    assets=[
        *build_dbt_assets(),
        finalised_invoices,
        invoice_documents,
        AssetSpec(
            COST_EVENTS,
            group_name="raw_vault",
            description="Cost events as the gateway's loader writes them (insert-only).",
        ),
        *recon_assets,
    ],
    asset_checks=[*build_checks(), *recon_checks],
    jobs=[*jobs, audit_export_job, *recon_jobs],
    schedules=[*schedules, *recon_schedules],
    resources={"dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT), "warehouse": Warehouse()},
)
