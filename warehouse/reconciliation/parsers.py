"""Parsers for what each provider publishes about its own charges, exactly as documented.

* OpenAI — ``GET /v1/organization/costs`` and ``GET /v1/organization/usage/completions``
  (``UsageResponse``: ``object: page``, ``data`` of ``bucket`` {``start_time``, ``end_time``
  Unix seconds, ``results``}, ``has_more``, ``next_page``; ``CostsResult`` {``amount``
  {``value``, ``currency``}, ``line_item``, ``project_id``, ``api_key_id``, ``quantity``,
  ``quantity_unit``}; ``UsageCompletionsResult`` {``input_tokens`` incl. cached and cache
  writes, ``input_cached_tokens``, ``input_cache_write_tokens``, ``output_tokens``,
  ``num_model_requests``, ``model``, ``project_id``, ``api_key_id``, ``user_id``, ``batch``,
  ``service_tier``}). Followed: openai/openai-openapi ``openapi.yaml`` (paths
  ``/organization/costs``, ``/organization/usage/completions``; schemas ``UsageResponse``,
  ``UsageTimeBucket``, ``CostsResult``, ``UsageCompletionsResult``). The Costs API has no
  ``model`` dimension: with ``group_by=line_item`` a line item reads ``"<model>, input"`` /
  ``"<model>, output"`` / ``"<model>, cached input"`` (as OpenAI's cookbook shows), and the
  model is the part before the comma; other line items (``"Web search"``) name no model.
* Anthropic — Admin API ``GET /v1/organizations/cost_report`` and
  ``GET /v1/organizations/usage_report/messages`` (``data`` of {``starting_at``, ``ending_at``
  RFC 3339, ``results``}, ``has_more``, ``next_page``). Cost results: ``amount`` is a decimal
  string **in the currency's lowest unit (cents)** — ``"123.45"`` USD is $1.2345 — with
  ``currency``, ``workspace_id``, ``description``, ``cost_type``, ``model``, ``token_type``,
  ``service_tier``, ``context_window`` (model and description only when grouped by
  description). Usage results: ``uncached_input_tokens``, ``cache_read_input_tokens``,
  ``cache_creation`` {``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``},
  ``output_tokens``, ``server_tool_use``, with ``model``, ``api_key_id``, ``workspace_id``,
  ``service_tier``, ``context_window`` when grouped. Followed: platform.claude.com/docs/en/api/
  admin/cost_report and …/admin/usage_report/retrieve_messages.
* Azure OpenAI — a Cost Management export (CSV) of cost details: ``Date`` (``MM/DD/YYYY`` or
  ISO), ``MeterCategory``, ``MeterSubCategory``, ``MeterName``, ``CostInBillingCurrency``,
  ``BillingCurrency`` (or ``BillingCurrencyCode``), ``Quantity``, ``UnitOfMeasure``,
  ``ResourceId``, ``SubscriptionId``; EA spells them PascalCase, MCA camelCase — headers are
  matched case-insensitively. Followed: learn.microsoft.com/azure/cost-management-billing/
  automate/understand-usage-details-fields. Rows of other Azure services are skipped.
* Gemini on Google Cloud — the Cloud Billing standard usage cost export (the BigQuery table
  ``gcp_billing_export_v1_…``, saved as CSV: nested fields flattened as ``service.description``
  or ``service_description``): ``usage_start_time``, ``usage_end_time``, ``service.description``,
  ``sku.description``, ``project.id``, ``cost``, ``currency``, ``usage.amount``, ``usage.unit``,
  ``cost_type``. Followed: cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/
  standard-usage. ``cost`` is before credits (what list prices give, as OneVault computes);
  rows of other services and non-``regular`` cost types (tax, rounding) are skipped.

Models named in meters and SKUs ("gpt-4o-mini Inp glbl", "Gemini 1.5 Flash Input Text") are read
by the small rules below; an unreadable name keeps the line, unattributed (model None).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from warehouse.reconciliation.lines import ReportLine, dec, int_or_none

CENTS = Decimal(100)


class ReportFormatError(ValueError):
    """A body or file that is not the documented shape (named, never silently read as zero)."""


def _require(doc: Any, *keys: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or any(k not in doc for k in keys):
        raise ReportFormatError(f"expected an object with {', '.join(keys)}")
    return doc


def _unix(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)


def _rfc3339(value: Any) -> datetime:
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text else None


def _currency(value: Any) -> str | None:
    return str(value).upper() if value else None


# ---------------------------------------------------------------------------------------------
# OpenAI
# ---------------------------------------------------------------------------------------------
def openai_line_item_model(line_item: str | None) -> str | None:
    """``"gpt-4o-2024-08-06, input"`` → ``"gpt-4o-2024-08-06"``; ``"Web search"`` → None."""
    if not line_item or ", " not in line_item:
        return None
    head = line_item.split(", ", 1)[0].strip()
    return head if head and not any(c.isspace() for c in head) else None


def openai_buckets(page: Any) -> list[dict[str, Any]]:
    doc = _require(page, "data")
    if doc.get("object") not in (None, "page") or not isinstance(doc["data"], list):
        raise ReportFormatError("an OpenAI usage/costs page has object 'page' and a data list")
    return [_require(b, "start_time", "end_time", "results") for b in doc["data"]]


def parse_openai_costs(page: Any) -> list[ReportLine]:
    lines = []
    for bucket in openai_buckets(page):
        start, end = _unix(bucket["start_time"]), _unix(bucket["end_time"])
        for r in bucket["results"]:
            amount = r.get("amount") or {}
            line_item = _str(r.get("line_item"))
            lines.append(
                ReportLine(
                    record_source="openai-costs-api",
                    usage_date=start.date(),
                    bucket_start=start,
                    bucket_end=end,
                    raw=r,
                    model_reported=openai_line_item_model(line_item),
                    project_id=_str(r.get("project_id")),
                    api_key_id=_str(r.get("api_key_id")),
                    line_item=line_item,
                    amount=dec(amount.get("value")),
                    currency=_currency(amount.get("currency")),
                    quantity=dec(r.get("quantity")),
                    quantity_unit=_str(r.get("quantity_unit")),
                )
            )
    return lines


def parse_openai_usage(page: Any) -> list[ReportLine]:
    lines = []
    for bucket in openai_buckets(page):
        start, end = _unix(bucket["start_time"]), _unix(bucket["end_time"])
        for r in bucket["results"]:
            if r.get("object") not in (None, "organization.usage.completions.result"):
                continue
            lines.append(
                ReportLine(
                    record_source="openai-usage-api",
                    usage_date=start.date(),
                    bucket_start=start,
                    bucket_end=end,
                    raw=r,
                    model_reported=_str(r.get("model")),
                    project_id=_str(r.get("project_id")),
                    api_key_id=_str(r.get("api_key_id")),
                    input_tokens=int_or_none(r.get("input_tokens")),
                    cached_input_tokens=int_or_none(r.get("input_cached_tokens")),
                    cache_write_tokens=int_or_none(r.get("input_cache_write_tokens")),
                    output_tokens=int_or_none(r.get("output_tokens")),
                    requests=int_or_none(r.get("num_model_requests")),
                    extra_key=tuple(
                        str(r.get(k)) if r.get(k) is not None else ""
                        for k in ("user_id", "batch", "service_tier")
                    ),
                )
            )
    return lines


# ---------------------------------------------------------------------------------------------
# Anthropic
# ---------------------------------------------------------------------------------------------
def anthropic_buckets(page: Any) -> list[dict[str, Any]]:
    doc = _require(page, "data")
    if not isinstance(doc["data"], list):
        raise ReportFormatError("an Anthropic report has a data list")
    return [_require(b, "starting_at", "ending_at", "results") for b in doc["data"]]


def parse_anthropic_costs(page: Any) -> list[ReportLine]:
    lines = []
    for bucket in anthropic_buckets(page):
        start, end = _rfc3339(bucket["starting_at"]), _rfc3339(bucket["ending_at"])
        for r in bucket["results"]:
            cents = dec(r.get("amount"))
            lines.append(
                ReportLine(
                    record_source="anthropic-cost-report",
                    usage_date=start.date(),
                    bucket_start=start,
                    bucket_end=end,
                    raw=r,
                    model_reported=_str(r.get("model")),
                    project_id=_str(r.get("workspace_id")),
                    line_item=_str(r.get("description")),
                    amount=None if cents is None else cents / CENTS,
                    currency=_currency(r.get("currency")),
                    extra_key=tuple(
                        str(r.get(k) or "")
                        for k in ("cost_type", "token_type", "context_window", "service_tier")
                    ),
                )
            )
    return lines


def parse_anthropic_usage(page: Any) -> list[ReportLine]:
    lines = []
    for bucket in anthropic_buckets(page):
        start, end = _rfc3339(bucket["starting_at"]), _rfc3339(bucket["ending_at"])
        for r in bucket["results"]:
            uncached = int_or_none(r.get("uncached_input_tokens")) or 0
            read = int_or_none(r.get("cache_read_input_tokens")) or 0
            creation = r.get("cache_creation") or {}
            written = sum(int_or_none(v) or 0 for v in creation.values()) if isinstance(creation, dict) else 0
            lines.append(
                ReportLine(
                    record_source="anthropic-usage-report",
                    usage_date=start.date(),
                    bucket_start=start,
                    bucket_end=end,
                    raw=r,
                    model_reported=_str(r.get("model")),
                    project_id=_str(r.get("workspace_id")),
                    api_key_id=_str(r.get("api_key_id")),
                    input_tokens=uncached + read + written,
                    cached_input_tokens=read,
                    cache_write_tokens=written,
                    output_tokens=int_or_none(r.get("output_tokens")),
                    extra_key=tuple(str(r.get(k) or "") for k in ("service_tier", "context_window")),
                )
            )
    return lines


# ---------------------------------------------------------------------------------------------
# CSV exports: Azure Cost Management, GCP Cloud Billing
# ---------------------------------------------------------------------------------------------
def _rows(text: str) -> Iterator[dict[str, str]]:
    """CSV rows keyed by lower-cased header (EA and MCA exports differ only in case); a BOM,
    as Azure writes one, is dropped."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None:
        raise ReportFormatError("the export has no header row")
    for row in reader:
        yield {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}


def _first(row: dict[str, str], *names: str) -> str:
    for name in names:
        if row.get(name):
            return row[name]
    return ""


def _azure_date(text: str) -> date:
    text = text.strip()
    if "/" in text:  # MM/DD/YYYY, as Cost Management writes it
        return datetime.strptime(text.split(" ")[0], "%m/%d/%Y").date()
    return date.fromisoformat(text[:10])


_AZURE_KINDS = {"inp", "input", "outp", "output", "opt", "cached", "cchd", "cache", "in", "out", "batch"}


def azure_meter_model(meter: str) -> str | None:
    """``"gpt-4o-mini-0718-Inp-glbl 1M Tokens"`` / ``"gpt-4o-mini Inp glbl Tokens"`` →
    ``"gpt-4o-mini"``: the words before the first token-kind word, without a 4-digit version."""
    words = [w for w in re.split(r"[\s\-]+", meter.strip().lower()) if w]
    taken: list[str] = []
    for w in words:
        if w in _AZURE_KINDS:
            break
        taken.append(w)
    if not taken or len(taken) == len(words):
        return None
    if len(taken) > 1 and re.fullmatch(r"\d{4}", taken[-1]):
        taken.pop()
    return "-".join(taken)


def parse_azure_export(text: str) -> list[ReportLine]:
    lines = []
    for row in _rows(text):
        category = " ".join(
            (row.get("metercategory", ""), row.get("metersubcategory", ""), row.get("productname", ""))
        ).lower()
        if "openai" not in category.replace(" ", "") and "foundry models" not in category:
            continue
        day = _azure_date(_first(row, "date", "usagedate"))
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        meter = _first(row, "metername")
        lines.append(
            ReportLine(
                record_source="azure-cost-export",
                usage_date=day,
                bucket_start=start,
                bucket_end=start + timedelta(days=1),
                raw=dict(row),
                model_reported=azure_meter_model(meter),
                project_id=_first(row, "resourceid", "instanceid", "resourcename") or None,
                line_item=meter or None,
                amount=dec(_first(row, "costinbillingcurrency", "cost", "pretaxcost")),
                currency=_currency(_first(row, "billingcurrency", "billingcurrencycode", "currency")),
                quantity=dec(_first(row, "quantity")),
                quantity_unit=_first(row, "unitofmeasure") or None,
            )
        )
    return lines


_GEMINI = re.compile(
    r"gemini[\s\-]+(\d+(?:\.\d+)?)[\s\-]+(flash|pro|ultra|nano)((?:[\s\-]+(?:lite|8b))?)", re.IGNORECASE
)


def gcp_sku_model(sku: str) -> str | None:
    """``"Gemini 1.5 Flash Input Text"`` → ``"gemini-1.5-flash"``; ``"… Gemini 2.0 Flash Lite …"``
    → ``"gemini-2.0-flash-lite"``."""
    m = _GEMINI.search(sku)
    if not m:
        return None
    variant = "-".join(w for w in re.split(r"[\s\-]+", m.group(3).lower()) if w)
    return f"gemini-{m.group(1)}-{m.group(2).lower()}" + (f"-{variant}" if variant else "")


def _gcp_time(text: str) -> datetime:
    text = text.strip().removesuffix(" UTC").replace(" ", "T", 1)
    return _rfc3339(text)


def parse_gcp_export(text: str) -> list[ReportLine]:
    lines = []
    for row in _rows(text):
        service = _first(row, "service.description", "service_description")
        sku = _first(row, "sku.description", "sku_description")
        if not (
            "gemini" in sku.lower()
            or service.lower() in ("vertex ai", "gemini api", "generative language api")
        ):
            continue
        if _first(row, "cost_type") not in ("", "regular"):
            continue
        start = _gcp_time(_first(row, "usage_start_time"))
        end_text = _first(row, "usage_end_time")
        end = _gcp_time(end_text) if end_text else start + timedelta(hours=1)
        lines.append(
            ReportLine(
                record_source="gcp-billing-export",
                usage_date=start.date(),
                bucket_start=start,
                bucket_end=end,
                raw=dict(row),
                model_reported=gcp_sku_model(sku),
                project_id=_first(row, "project.id", "project_id") or None,
                line_item=sku or None,
                amount=dec(_first(row, "cost")),
                currency=_currency(_first(row, "currency")),
                quantity=dec(_first(row, "usage.amount", "usage_amount")),
                quantity_unit=_first(row, "usage.unit", "usage_unit") or None,
                extra_key=(_first(row, "sku.id", "sku_id"), start.isoformat()),
            )
        )
    return lines


PARSERS_JSON = {
    "openai-costs-api": parse_openai_costs,
    "openai-usage-api": parse_openai_usage,
    "anthropic-cost-report": parse_anthropic_costs,
    "anthropic-usage-report": parse_anthropic_usage,
}
PARSERS_CSV = {"azure-cost-export": parse_azure_export, "gcp-billing-export": parse_gcp_export}


def merge_duplicates(lines: Iterable[ReportLine]) -> list[ReportLine]:
    """Lines with the same business key (an export listing one meter twice for the same day)
    become one line with summed figures — a business key is one row per import, by design."""
    merged: dict[tuple[Any, ...], ReportLine] = {}
    for line in lines:
        key = (line.record_source, line.usage_date, line.dimensions)
        seen = merged.get(key)
        if seen is None:
            merged[key] = line
            continue

        def add(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else a + b

        merged[key] = ReportLine(
            **{
                **{f: getattr(seen, f) for f in ReportLine.__slots__},
                "amount": add(seen.amount, line.amount),
                "quantity": add(seen.quantity, line.quantity),
                "input_tokens": add(seen.input_tokens, line.input_tokens),
                "cached_input_tokens": add(seen.cached_input_tokens, line.cached_input_tokens),
                "cache_write_tokens": add(seen.cache_write_tokens, line.cache_write_tokens),
                "output_tokens": add(seen.output_tokens, line.output_tokens),
                "requests": add(seen.requests, line.requests),
                "bucket_start": min(seen.bucket_start, line.bucket_start),
                "bucket_end": max(seen.bucket_end, line.bucket_end),
                "raw": {"merged": [seen.raw, line.raw]},
            }
        )
    return list(merged.values())
