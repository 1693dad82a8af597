"""dbt models as Dagster assets (dagster-dbt), with dbt tests shown as asset checks.

One ``@dbt_assets`` definition can carry one partitioning, so the project is split by
cadence: the billing marts (invoices, invoice lines, chargeback) are monthly partitioned,
spend (daily, and its monthly roll-up) is daily partitioned, and everything else (staging,
business vault, the 5-minute performance windows, savings) is unpartitioned and rebuilt whenever a job
needs it upstream. A daily partition passes its day to dbt as the ``spend_date`` var: the
incremental spend marts recompute that day besides whatever changed since their last run. The
monthly marts are tables rebuilt whole (a row per invoice line, each month reproduced from what
was loaded by its finalisation), so a monthly partition passes nothing to dbt: it names the month
the billing run finalises and renders.

Definitions follow the manifest: a cadence whose models do not exist (yet) adds no asset.
"""

# No ``from __future__ import annotations``: Dagster inspects the context annotation at runtime.
import json
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_pipelines.partitions import daily, monthly
from dagster_pipelines.project import DBT_PROJECT, load_manifest, model_names
from dagster_pipelines.resources import Warehouse

# One run per period is what billing needs; Dagster calls ``backfill_policy`` "beta".
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")

MONTHLY_MODELS = ("invoice_lines", "invoices", "chargeback")
# Spend is daily: spend_monthly and spend_daily_by_model (the console's platform view) roll
# spend_daily up, so they refresh together (month to date).
DAILY_MODELS = ("spend_daily", "spend_monthly", "spend_daily_by_model")
PERFORMANCE_MODEL = "provider_performance_5m"


class Translator(DagsterDbtTranslator):
    """Asset keys are ``[schema, model]`` (``marts/invoices``), grouped by warehouse layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return layer(dbt_resource_props)


def layer(props: Mapping[str, Any]) -> str:
    if props["resource_type"] == "source":
        return props["source_name"]
    if props["resource_type"] == "seed":
        return "seeds"
    schema = (props.get("config") or {}).get("schema")
    fqn = props.get("fqn") or []
    return schema or (fqn[1] if len(fqn) > 2 else "models")


TRANSLATOR = Translator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def model_key(name: str) -> AssetKey:
    """The asset key of a dbt model by name, read from the manifest (the layer is configurable)."""
    for node in load_manifest()["nodes"].values():
        if node["resource_type"] in ("model", "seed") and node["name"] == name:
            return TRANSLATOR.get_asset_key(node)
    return AssetKey(["marts", name])  # not built yet: where the contract puts it


def _build(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, dbt_vars: dict[str, str]
) -> Iterator[Any]:
    args = ["build"] + (["--vars", json.dumps(dbt_vars)] if dbt_vars else [])
    with warehouse.dbt_environment():
        yield from dbt.cli(args, context=context).stream()


def build_dbt_assets() -> list[AssetsDefinition]:
    manifest = load_manifest()
    present = model_names(manifest)
    monthly_models = [m for m in MONTHLY_MODELS if m in present]
    daily_models = [m for m in DAILY_MODELS if m in present]
    cadenced = " ".join(monthly_models + daily_models)
    found: list[AssetsDefinition] = []

    if present - set(monthly_models) - set(daily_models):

        @dbt_assets(
            manifest=manifest,
            project=DBT_PROJECT,
            name="warehouse_models",
            exclude=cadenced or None,
            dagster_dbt_translator=TRANSLATOR,
        )
        def warehouse_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
            """Staging, business vault, performance windows and the unpartitioned marts."""
            yield from _build(context, dbt, warehouse, {})

        found.append(warehouse_models)

    if monthly_models:

        @dbt_assets(
            manifest=manifest,
            project=DBT_PROJECT,
            name="monthly_marts",
            select=" ".join(monthly_models),
            partitions_def=monthly,
            backfill_policy=BackfillPolicy.multi_run(1),  # one month per run, as billing runs are
            dagster_dbt_translator=TRANSLATOR,
        )
        def monthly_marts(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
            """Invoices, invoice lines and chargeback for one month."""
            yield from _build(context, dbt, warehouse, {})

        found.append(monthly_marts)

    if daily_models:

        @dbt_assets(
            manifest=manifest,
            project=DBT_PROJECT,
            name="daily_marts",
            select=" ".join(daily_models),
            partitions_def=daily,
            backfill_policy=BackfillPolicy.multi_run(1),
            dagster_dbt_translator=TRANSLATOR,
        )
        def daily_marts(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
            """Spend per day and its month-to-date roll-up."""
            yield from _build(context, dbt, warehouse, {"spend_date": context.partition_key})

        found.append(daily_marts)
    return found
