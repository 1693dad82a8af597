"""Jobs and schedules: the monthly billing run, daily spend and the 5-minute performance refresh.

Every job that runs dbt carries the ``onevault/dbt`` run tag; ``dagster.yaml`` limits that tag
to one run at a time, so two dbt builds never rebuild the same tables concurrently.
"""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from dagster_pipelines.billing import INVOICE_DOCUMENTS
from dagster_pipelines.checks import loader_freshness
from dagster_pipelines.dbt_assets import DAILY_MODELS, MONTHLY_MODELS, PERFORMANCE_MODEL, model_key
from dagster_pipelines.partitions import daily, monthly
from dagster_pipelines.project import load_manifest, model_names
from warehouse.settings import Settings

DBT_TAG = {"onevault/dbt": "true"}


def _with_upstream(*keys: AssetKey | AssetsDefinition) -> AssetSelection:
    return AssetSelection.assets(*keys).upstream().materializable()


def billing_cron(grace_s: int) -> tuple[int, int]:
    """(hour, minute) on the 1st of each month: five minutes after the grace period ends."""
    minutes = grace_s // 60 + 5
    return min(minutes // 60, 23), minutes % 60


def build_jobs() -> tuple[list[Any], list[Any]]:
    """(asset jobs, their schedules) for the models the manifest has."""
    present = model_names(load_manifest())
    jobs: list[Any] = []
    schedules: list[Any] = []  # plain and partitioned-job schedules

    monthly_models = [model_key(m) for m in MONTHLY_MODELS if m in present]
    billing = define_asset_job(
        "billing_run",
        selection=_with_upstream(INVOICE_DOCUMENTS, *monthly_models)
        | AssetSelection.checks(loader_freshness),
        partitions_def=monthly,
        tags=DBT_TAG,
        description="Build the month's marts, check them against the raw vault, then finalise the "
        "invoices into the vault and render their PDFs/CSVs. Safe to re-run: a finalised month is a no-op.",
    )
    hour, minute = billing_cron(Settings().billing_grace_s)
    jobs.append(billing)
    schedules.append(
        build_schedule_from_partitioned_job(
            billing,
            name="monthly_billing",
            day_of_month=1,
            hour_of_day=hour,
            minute_of_hour=minute,
            default_status=DefaultScheduleStatus.RUNNING,
            description="Bills the month that just ended, after the finalisation grace period.",
        )
    )

    daily_models = [model_key(m) for m in DAILY_MODELS if m in present]
    if daily_models:
        spend = define_asset_job(
            "daily_spend", selection=_with_upstream(*daily_models), partitions_def=daily, tags=DBT_TAG
        )
        jobs.append(spend)
        schedules.append(
            build_schedule_from_partitioned_job(
                spend,
                name="daily_spend_schedule",
                hour_of_day=0,
                minute_of_hour=20,
                default_status=DefaultScheduleStatus.RUNNING,
                description="Spend for the day that just ended.",
            )
        )

    if PERFORMANCE_MODEL in present:
        perf = define_asset_job(
            "provider_performance_refresh",
            selection=_with_upstream(model_key(PERFORMANCE_MODEL)),
            tags=DBT_TAG,
            description="Rebuild the 5-minute provider performance windows the router reads back.",
        )
        jobs.append(perf)
        schedules.append(
            ScheduleDefinition(
                name="provider_performance_5m_schedule",
                job=perf,
                cron_schedule="*/5 * * * *",
                execution_timezone="UTC",
                default_status=DefaultScheduleStatus.RUNNING,
            )
        )

    if "spend_anomalies" in present:  # docs/billing/anomalies.md: hourly flags, judged hourly
        anomalies = define_asset_job(
            "spend_anomalies_refresh",
            selection=_with_upstream(model_key("spend_anomalies")),
            tags=DBT_TAG,
            description="Refresh hourly spend and its anomaly flags; the check warns on new flags "
            "(the gateway sends them as the spend.anomaly webhook).",
        )
        jobs.append(anomalies)
        schedules.append(
            ScheduleDefinition(
                name="spend_anomalies_hourly",
                job=anomalies,
                cron_schedule="10 * * * *",
                execution_timezone="UTC",
                default_status=DefaultScheduleStatus.RUNNING,
            )
        )
    return jobs, schedules
