"""The simulated providers' own bills: what each answered, per UTC day, model and API key, priced
and served back in the shapes the real providers publish — so reconciliation
(warehouse/reconciliation/, docs/billing/reconciliation.md) can be tested end to end.

Report endpoints (same shapes as the real ones; see warehouse/reconciliation/parsers.py for the
references followed)::

    GET /v1/organization/costs                 OpenAI Costs API (admin key as Bearer)
    GET /v1/organization/usage/completions     OpenAI completions Usage API
    GET /v1/organizations/cost_report          Anthropic Admin cost report (x-api-key)
    GET /v1/organizations/usage_report/messages Anthropic Admin messages usage report
    GET /_sim/billing/exports/azure.csv        an Azure Cost Management export of Azure OpenAI
    GET /_sim/billing/exports/gcp.csv          a GCP Cloud Billing export of Gemini

Knobs that make the provider's bill differ from what a gateway recorded::

    PATCH /_sim/billing  {"price_factor": {"gpt-4o": "1.5", "*": "1"}}   a price change the
          gateway does not know (applies to calls answered from now on)
    POST  /_sim/billing/extra  {"api_style", "model", "input_tokens", "output_tokens",
          "requests", "day"}   usage the gateway never saw (another client on the same key)
    GET   /_sim/billing        the ledger;  DELETE /_sim/billing: clear it and the knobs

Only answered chat calls are billed (an injected error is not, as real providers do not bill
failed calls); prices are the gateway's own catalog (genai-prices) so that, without a knob, the
bill equals what OneVault recorded.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from gateway.pricing.catalog import ModelPrice, PriceCatalog
from gateway.pricing.cost import money

_MILLION: Final = Decimal(1_000_000)
PROJECT_ID: Final = "proj_onevault_sim"  # the OpenAI project / Anthropic workspace every call lands in
WORKSPACE_ID: Final = "wrkspc_onevault_sim"
AZURE_RESOURCE: Final = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sim/providers/"
    "Microsoft.CognitiveServices/accounts/onevault-sim"
)
GCP_PROJECT: Final = "onevault-sim"
KINDS: Final = ("input", "cached input", "output")


def key_id(api_key: str | None) -> str:
    """The id a provider shows for a key (never the key): ``key_`` + 12 hex of its SHA-256."""
    return "key_" + hashlib.sha256((api_key or "").encode()).hexdigest()[:12]


@dataclass(slots=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0  # including cached reads
    cached_tokens: int = 0
    output_tokens: int = 0  # including reasoning
    cost_input: Decimal = Decimal(0)  # uncached input
    cost_cached: Decimal = Decimal(0)
    cost_output: Decimal = Decimal(0)

    def cost(self, kind: str) -> Decimal:
        return {"input": self.cost_input, "cached input": self.cost_cached, "output": self.cost_output}[kind]

    @property
    def total(self) -> Decimal:
        return self.cost_input + self.cost_cached + self.cost_output


Key = tuple[date, str, str, str]  # (day, api_style, model, key id)


class BillingLedger:
    """Per (UTC day, api_style, model, key id): requests, tokens and their cost at the price in
    force (times the knob's factor) when each call was answered."""

    def __init__(self, catalog: PriceCatalog | None = None) -> None:
        self._lock = threading.Lock()
        self._usage: dict[Key, Usage] = {}
        self.catalog = catalog or PriceCatalog()
        self.price_factor: dict[str, Decimal] = {}

    def reset(self) -> None:
        with self._lock:
            self._usage.clear()
            self.price_factor.clear()

    def configure(self, price_factor: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            for model, factor in (price_factor or {}).items():
                self.price_factor[str(model)] = Decimal(str(factor))
        return self.snapshot()

    def _price(self, api_style: str, model: str, at: datetime, input_tokens: int) -> ModelPrice | None:
        return self.catalog.lookup(api_style, model, at, input_tokens)

    def record(
        self,
        api_style: str,
        model: str,
        api_key: str | None,
        input_tokens: int,
        cached_tokens: int,
        output_tokens: int,
        *,
        requests: int = 1,
        at: datetime | None = None,
    ) -> None:
        at = at or datetime.now(UTC)
        price = self._price(api_style, model, at, input_tokens)
        factor = self.price_factor.get(model, self.price_factor.get("*", Decimal(1)))
        cached = min(max(cached_tokens, 0), max(input_tokens, 0))
        parts = (Decimal(0), Decimal(0), Decimal(0))
        if price is not None:
            cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else None
            parts = (
                money((input_tokens - cached) * price.input_per_mtok * factor / _MILLION),
                money(
                    cached
                    * (cached_rate if cached_rate is not None else price.input_per_mtok)
                    * factor
                    / _MILLION
                ),
                money(output_tokens * price.output_per_mtok * factor / _MILLION),
            )
        key = (at.astimezone(UTC).date(), api_style, model, key_id(api_key))
        with self._lock:
            u = self._usage.setdefault(key, Usage())
            u.requests += requests
            u.input_tokens += input_tokens
            u.cached_tokens += cached
            u.output_tokens += output_tokens
            u.cost_input += parts[0]
            u.cost_cached += parts[1]
            u.cost_output += parts[2]

    def rows(self, api_styles: Iterable[str], start: date, end: date) -> list[tuple[Key, Usage]]:
        """Ledger rows of these wire styles with ``start <= day < end``."""
        styles = set(api_styles)
        with self._lock:
            return [
                (k, Usage(**{f: getattr(u, f) for f in Usage.__slots__}))
                for k, u in sorted(self._usage.items(), key=lambda item: item[0])
                if k[1] in styles and start <= k[0] < end
            ]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "price_factor": {m: str(f) for m, f in self.price_factor.items()},
                "usage": [
                    {
                        "day": k[0].isoformat(),
                        "api_style": k[1],
                        "model": k[2],
                        "api_key_id": k[3],
                        "requests": u.requests,
                        "input_tokens": u.input_tokens,
                        "cached_tokens": u.cached_tokens,
                        "output_tokens": u.output_tokens,
                        "cost": str(u.total),
                    }
                    for k, u in sorted(self._usage.items(), key=lambda item: item[0])
                ],
            }


# ---------------------------------------------------------------------------------------------
# Report bodies
# ---------------------------------------------------------------------------------------------
def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range(max((end - start).days, 0))]


def _page(buckets: list[Any], page: str | None, limit: int) -> tuple[list[Any], str | None]:
    offset = int(base64.urlsafe_b64decode(page.encode()).decode()) if page else 0
    chunk = buckets[offset : offset + limit]
    more = offset + limit < len(buckets)
    return chunk, base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def openai_report(
    ledger: BillingLedger, kind: str, start_time: int, end_time: int | None, group_by: list[str],
    limit: int | None, page: str | None,
) -> dict[str, Any]:  # fmt: skip
    """``UsageResponse`` for ``kind`` 'costs' or 'completions', one ``1d`` bucket per day."""
    start = datetime.fromtimestamp(start_time, UTC).date()
    end = (
        datetime.fromtimestamp(end_time, UTC).date()
        if end_time
        else datetime.now(UTC).date() + timedelta(days=1)
    )
    rows = ledger.rows(["openai"], start, end)
    buckets = []
    for day in _days(start, end):
        groups: dict[tuple[Any, ...], Usage | list[Usage]] = {}
        results: list[dict[str, Any]] = []
        for (d, _style, model, kid), u in rows:
            if d != day:
                continue
            if kind == "costs":
                for item in KINDS:
                    amount = u.cost(item)
                    if not amount and item == "cached input":
                        continue
                    key = (
                        f"{model}, {item}" if "line_item" in group_by else None,
                        PROJECT_ID if "project_id" in group_by else None,
                        kid if "api_key_id" in group_by else None,
                    )
                    groups.setdefault(key, []).append(Usage(cost_input=amount))  # type: ignore[union-attr]
            else:
                key = (
                    model if "model" in group_by else None,
                    PROJECT_ID if "project_id" in group_by else None,
                    kid if "api_key_id" in group_by else None,
                )
                groups.setdefault(key, []).append(u)  # type: ignore[union-attr]
        for key, parts in groups.items():
            assert isinstance(parts, list)
            if kind == "costs":
                results.append(
                    {
                        "object": "organization.costs.result",
                        "amount": {
                            "value": float(sum((p.cost_input for p in parts), Decimal(0))),
                            "currency": "usd",
                        },
                        "line_item": key[0],
                        "project_id": key[1],
                        "api_key_id": key[2],
                        "quantity": None,
                        "quantity_unit": None,
                    }
                )
            else:
                inp = sum(p.input_tokens for p in parts)
                cached = sum(p.cached_tokens for p in parts)
                results.append(
                    {
                        "object": "organization.usage.completions.result",
                        "input_tokens": inp,
                        "input_cached_tokens": cached,
                        "input_cache_write_tokens": 0,
                        "input_uncached_tokens": inp - cached,
                        "output_tokens": sum(p.output_tokens for p in parts),
                        "input_audio_tokens": 0,
                        "output_audio_tokens": 0,
                        "num_model_requests": sum(p.requests for p in parts),
                        "project_id": key[1],
                        "user_id": None,
                        "api_key_id": key[2],
                        "model": key[0],
                        "batch": None,
                        "service_tier": None,
                    }
                )
        buckets.append(
            {
                "object": "bucket",
                "start_time": int(_midnight(day).timestamp()),
                "end_time": int(_midnight(day + timedelta(days=1)).timestamp()),
                "results": results,
            }
        )
    chunk, next_page = _page(buckets, page, limit or 7)
    return {"object": "page", "data": chunk, "has_more": next_page is not None, "next_page": next_page}


def _rfc3339(d: date) -> str:
    return _midnight(d).isoformat().replace("+00:00", "Z")


def _display(model: str) -> str:
    return " ".join(w.capitalize() if not w[0].isdigit() else w for w in model.split("-") if w)


def anthropic_report(
    ledger: BillingLedger, kind: str, starting_at: str, ending_at: str | None, group_by: list[str],
    limit: int | None, page: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The Admin API's cost report ('cost') or messages usage report ('usage')."""
    start = datetime.fromisoformat(starting_at.replace("Z", "+00:00")).astimezone(UTC).date()
    end = (
        datetime.fromisoformat(ending_at.replace("Z", "+00:00")).astimezone(UTC).date()
        if ending_at
        else start + timedelta(days=limit or 7)
    )
    rows = ledger.rows(["anthropic"], start, end)
    buckets = []
    for day in _days(start, end):
        results: dict[tuple[Any, ...], dict[str, Any]] = {}
        for (d, _style, model, kid), u in rows:
            if d != day:
                continue
            if kind == "cost":
                by_description = "description" in group_by
                for item, token_type in (
                    ("input", "uncached_input_tokens"),
                    ("cached input", "cache_read_input_tokens"),
                    ("output", "output_tokens"),
                ):
                    amount = u.cost(item)
                    if not amount and item == "cached input":
                        continue
                    key = (
                        model if by_description else None,
                        token_type if by_description else None,
                        WORKSPACE_ID if "workspace_id" in group_by else None,
                    )
                    r = results.setdefault(
                        key,
                        {
                            "currency": "USD",
                            "amount": Decimal(0),
                            "workspace_id": key[2],
                            "description": f"{_display(model)} Usage - {token_type.replace('_', ' ').title()}"
                            if by_description
                            else None,
                            "cost_type": "tokens" if by_description else None,
                            "context_window": "0-200k" if by_description else None,
                            "model": key[0],
                            "service_tier": "standard" if by_description else None,
                            "token_type": key[1],
                        },
                    )
                    r["amount"] += amount * 100  # cents
            else:
                key = (
                    model if "model" in group_by else None,
                    kid if "api_key_id" in group_by else None,
                    WORKSPACE_ID if "workspace_id" in group_by else None,
                )
                r = results.setdefault(
                    key,
                    {
                        "api_key_id": key[1],
                        "workspace_id": key[2],
                        "model": key[0],
                        "service_tier": None,
                        "context_window": None,
                        "uncached_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                        "output_tokens": 0,
                        "server_tool_use": {"web_search_requests": 0},
                    },
                )
                r["uncached_input_tokens"] += u.input_tokens - u.cached_tokens
                r["cache_read_input_tokens"] += u.cached_tokens
                r["output_tokens"] += u.output_tokens
        out = list(results.values())
        for r in out:
            if "amount" in r:
                r["amount"] = format(r["amount"].normalize(), "f")  # a decimal string, in cents
        buckets.append(
            {"starting_at": _rfc3339(day), "ending_at": _rfc3339(day + timedelta(days=1)), "results": out}
        )
    chunk, next_page = _page(buckets, page, limit or 7)
    return {"data": chunk, "has_more": next_page is not None, "next_page": next_page}


def azure_export_csv(ledger: BillingLedger, start: date, end: date) -> str:
    """Cost details as an EA Cost Management export writes them (PascalCase headers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Date", "SubscriptionId", "ResourceId", "ResourceLocation", "MeterCategory", "MeterSubCategory",
            "MeterName", "ProductName", "Quantity", "UnitOfMeasure", "UnitPrice", "CostInBillingCurrency",
            "BillingCurrency", "ChargeType",
        ]
    )  # fmt: skip
    for (day, _style, model, _kid), u in ledger.rows(["azure_openai"], start, end):
        for item, meter_kind, tokens in (
            ("input", "Inp", u.input_tokens - u.cached_tokens),
            ("cached input", "cchd Inp", u.cached_tokens),
            ("output", "Outp", u.output_tokens),
        ):
            if not tokens:
                continue
            meter = f"{model} {meter_kind} glbl Tokens"
            writer.writerow(
                [
                    day.strftime("%m/%d/%Y"), "00000000-0000-0000-0000-000000000000",
                    AZURE_RESOURCE, "eastus",
                    "Cognitive Services", "Azure OpenAI", meter, f"Azure OpenAI - {meter}",
                    format(Decimal(tokens) / 1000, "f"), "1K", "", format(u.cost(item), "f"), "USD", "Usage",
                ]
            )  # fmt: skip
    return out.getvalue()


def gcp_export_csv(ledger: BillingLedger, start: date, end: date) -> str:
    """The Cloud Billing standard usage cost export, nested fields flattened with dots."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
            "usage_start_time", "usage_end_time", "project.id", "cost", "currency", "usage.amount",
            "usage.unit", "cost_type",
        ]
    )  # fmt: skip
    for (day, _style, model, _kid), u in ledger.rows(["gemini"], start, end):
        for item, sku_kind, tokens in (
            ("input", "Input Text", u.input_tokens - u.cached_tokens),
            ("cached input", "Cached Input Text", u.cached_tokens),
            ("output", "Output Text", u.output_tokens),
        ):
            if not tokens:
                continue
            sku = f"{_display(model)} {sku_kind}"
            writer.writerow(
                [
                    "000000-000000-000000", "C7E2-9256-1C43", "Vertex AI",
                    hashlib.sha256(sku.encode()).hexdigest()[:12].upper(), sku,
                    f"{day.isoformat()} 00:00:00 UTC",
                    f"{(day + timedelta(days=1)).isoformat()} 00:00:00 UTC",
                    GCP_PROJECT, format(u.cost(item), "f"), "USD", str(tokens), "count", "regular",
                ]
            )  # fmt: skip
    return out.getvalue()
