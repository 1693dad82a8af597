"""The provider-report importers read bodies shaped exactly as the providers document them
(OpenAI's openapi.yaml examples, Anthropic's Admin API reference, Azure's cost-details fields,
GCP's standard usage cost export) — amounts exact, days UTC, models matched to OneVault's names."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from warehouse.reconciliation import ReconcileConfig, normalise_model, read_export
from warehouse.reconciliation.importer import pull_anthropic, pull_openai
from warehouse.reconciliation.parsers import (
    ReportFormatError,
    azure_meter_model,
    gcp_sku_model,
    merge_duplicates,
    parse_anthropic_costs,
    parse_anthropic_usage,
    parse_azure_export,
    parse_gcp_export,
    parse_openai_costs,
    parse_openai_usage,
)

# OpenAI's own example (openapi.yaml, /organization/costs), plus a line_item-grouped page.
OPENAI_COSTS = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1730419200,
            "end_time": 1730505600,
            "results": [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": 0.06, "currency": "usd"},
                    "line_item": "gpt-4o-mini-2024-07-18, input",
                    "project_id": "proj_abc",
                    "api_key_id": None,
                    "quantity": 10000,
                    "quantity_unit": "tokens",
                },
                {
                    "object": "organization.costs.result",
                    "amount": {"value": "0.1", "currency": "usd"},
                    "line_item": "Web search",
                    "project_id": None,
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                },
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}

# openapi.yaml, UsageCompletionsResult's example, grouped by model.
OPENAI_USAGE = {
    "object": "page",
    "data": [
        {
            "object": "bucket",
            "start_time": 1730419200,
            "end_time": 1730505600,
            "results": [
                {
                    "object": "organization.usage.completions.result",
                    "input_tokens": 5000,
                    "input_cached_tokens": 1800,
                    "input_cache_write_tokens": 200,
                    "input_uncached_tokens": 3000,
                    "output_tokens": 1000,
                    "input_audio_tokens": 300,
                    "output_audio_tokens": 200,
                    "num_model_requests": 5,
                    "project_id": "proj_abc",
                    "user_id": None,
                    "api_key_id": "key_abc",
                    "model": "gpt-4o-mini-2024-07-18",
                    "batch": False,
                    "service_tier": None,
                }
            ],
        }
    ],
    "has_more": True,
    "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=",
}

# Anthropic Admin API: amounts are decimal strings in cents ("123.45" USD = $1.2345).
ANTHROPIC_COSTS = {
    "data": [
        {
            "starting_at": "2025-08-01T00:00:00Z",
            "ending_at": "2025-08-02T00:00:00Z",
            "results": [
                {
                    "currency": "USD",
                    "amount": "123.45",
                    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                    "description": "Claude Sonnet 4 Usage - Input Tokens",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": "claude-sonnet-4-20250514",
                    "service_tier": "standard",
                    "token_type": "uncached_input_tokens",
                },
                {
                    "currency": "USD",
                    "amount": "0.5",
                    "workspace_id": None,
                    "description": "Web Search Usage",
                    "cost_type": "web_search",
                    "context_window": None,
                    "model": None,
                    "service_tier": None,
                    "token_type": None,
                },
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}

ANTHROPIC_USAGE = {
    "data": [
        {
            "starting_at": "2025-08-01T00:00:00Z",
            "ending_at": "2025-08-02T00:00:00Z",
            "results": [
                {
                    "uncached_input_tokens": 1500,
                    "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
                    "cache_read_input_tokens": 200,
                    "output_tokens": 500,
                    "server_tool_use": {"web_search_requests": 10},
                    "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
                    "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
                    "model": "claude-3-5-haiku-20241022",
                    "service_tier": "standard",
                    "context_window": "0-200k",
                }
            ],
        }
    ],
    "has_more": False,
    "next_page": None,
}

AZURE_EA = (
    "\ufeffDate,SubscriptionId,ResourceId,MeterCategory,MeterSubCategory,MeterName,Quantity,UnitOfMeasure,"
    "CostInBillingCurrency,BillingCurrency\n"
    "08/01/2025,sub-1,/subscriptions/sub-1/accounts/ai,Cognitive Services,Azure OpenAI,"
    "gpt-4o-mini-0718-Inp-glbl 1M Tokens,0.002,1M,0.0003,USD\n"
    "08/01/2025,sub-1,/subscriptions/sub-1/accounts/ai,Cognitive Services,Azure OpenAI,"
    "gpt-4o-mini-0718-Outp-glbl 1M Tokens,0.001,1M,0.0006,USD\n"
    "08/01/2025,sub-1,/subscriptions/sub-1/vm/x,Virtual Machines,Dv3,D2 v3,24,1 Hour,2.30,USD\n"
)
AZURE_MCA = (
    "date,meterCategory,meterSubCategory,meterName,resourceId,costInBillingCurrency,billingCurrency\n"
    "2025-08-01,Foundry Models,Azure OpenAI,gpt 4o Input global Tokens,/acct/ai,1.25,EUR\n"
)
GCP = (
    "billing_account_id,service.description,sku.id,sku.description,usage_start_time,usage_end_time,"
    "project.id,cost,currency,usage.amount,usage.unit,cost_type\n"
    "0000,Vertex AI,A1,Gemini 1.5 Flash Input Text,2025-08-01 10:00:00 UTC,2025-08-01 11:00:00 UTC,"
    "p1,0.012345,USD,100000,count,regular\n"
    "0000,Vertex AI,A2,Gemini 2.0 Flash Lite Output Text,2025-08-01 23:00:00 UTC,2025-08-02 00:00:00 UTC,"
    "p1,0.5,USD,1000,count,regular\n"
    "0000,Vertex AI,A1,Gemini 1.5 Flash Input Text,2025-08-01 10:00:00 UTC,2025-08-01 11:00:00 UTC,"
    "p1,0.01,USD,,,tax\n"
    "0000,Compute Engine,B1,N1 Predefined Instance Core,2025-08-01 10:00:00 UTC,,p1,3,USD,1,hour,regular\n"
)


def test_openai_costs_amounts_exact_and_model_from_line_item() -> None:
    lines = parse_openai_costs(OPENAI_COSTS)
    assert [(line.model, line.amount, line.currency, line.project_id) for line in lines] == [
        ("gpt-4o-mini", Decimal("0.06"), "USD", "proj_abc"),
        (None, Decimal("0.1"), "USD", None),  # a fee of no model stays, unattributed
    ]
    assert lines[0].usage_date == date(2024, 11, 1)
    assert lines[0].bucket_start == datetime(2024, 11, 1, tzinfo=UTC)
    assert lines[0].quantity == 10000 and lines[0].quantity_unit == "tokens"


def test_openai_usage_tokens_as_onevault_counts_them() -> None:
    (line,) = parse_openai_usage(OPENAI_USAGE)
    assert (line.model, line.input_tokens, line.cached_input_tokens, line.cache_write_tokens) == (
        "gpt-4o-mini",
        5000,
        1800,
        200,
    )
    assert (line.output_tokens, line.requests, line.api_key_id) == (1000, 5, "key_abc")
    assert line.amount is None


def test_anthropic_cost_report_amounts_are_cents() -> None:
    tokens, search = parse_anthropic_costs(ANTHROPIC_COSTS)
    assert tokens.amount == Decimal("1.2345") and tokens.currency == "USD"
    assert tokens.model == "claude-sonnet-4" and tokens.project_id == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
    assert tokens.usage_date == date(2025, 8, 1)
    assert search.amount == Decimal("0.005") and search.model is None
    assert tokens.dimensions != search.dimensions


def test_anthropic_usage_report_sums_input_kinds() -> None:
    (line,) = parse_anthropic_usage(ANTHROPIC_USAGE)
    assert line.input_tokens == 1500 + 1500 + 200
    assert (line.cached_input_tokens, line.cache_write_tokens, line.output_tokens) == (200, 1500, 500)
    assert line.model == "claude-3-5-haiku"


def test_azure_export_ea_and_mca_headers_only_openai_rows() -> None:
    ea = parse_azure_export(AZURE_EA)
    assert [(line.model, line.amount) for line in ea] == [
        ("gpt-4o-mini", Decimal("0.0003")),
        ("gpt-4o-mini", Decimal("0.0006")),
    ]
    assert ea[0].usage_date == date(2025, 8, 1) and ea[0].currency == "USD"
    (mca,) = parse_azure_export(AZURE_MCA)
    assert (mca.model, mca.amount, mca.currency, mca.project_id) == (
        "gpt-4o",
        Decimal("1.25"),
        "EUR",
        "/acct/ai",
    )


def test_gcp_export_regular_gemini_rows_by_utc_day() -> None:
    lines = parse_gcp_export(GCP)
    assert [(line.model, line.amount, line.usage_date) for line in lines] == [
        ("gemini-1.5-flash", Decimal("0.012345"), date(2025, 8, 1)),
        ("gemini-2.0-flash-lite", Decimal("0.5"), date(2025, 8, 1)),
    ]


def test_model_names_from_meters_skus_and_snapshots() -> None:
    assert azure_meter_model("gpt-4o-mini Inp glbl Tokens") == "gpt-4o-mini"
    assert azure_meter_model("o3-mini-0131-Outp-regnl 1M Tokens") == "o3-mini"
    assert azure_meter_model("Standard Hosting") is None
    assert (
        gcp_sku_model("Generate content input token count Gemini 2.5 Pro short input text")
        == "gemini-2.5-pro"
    )
    assert normalise_model("claude-3-5-haiku-latest") == normalise_model("claude-3-5-haiku-20241022")
    assert normalise_model("GPT-4o-2024-08-06") == "gpt-4o"


def test_malformed_bodies_are_refused_not_read_as_zero() -> None:
    with pytest.raises(ReportFormatError):
        parse_openai_costs({"error": {"message": "invalid admin key"}})
    with pytest.raises(ReportFormatError):
        parse_anthropic_costs({"data": [{"results": []}]})
    with pytest.raises(ReportFormatError):
        parse_azure_export("")


def test_duplicate_lines_merge_into_one_per_business_key() -> None:
    doubled = {**OPENAI_COSTS, "data": [OPENAI_COSTS["data"][0], OPENAI_COSTS["data"][0]]}
    merged = merge_duplicates(parse_openai_costs(doubled))
    assert len(merged) == 2
    assert merged[0].amount == Decimal("0.12")


def test_pulls_follow_pagination_and_send_documented_parameters() -> None:
    config = ReconcileConfig.from_env(
        {"ONEVAULT_RECONCILE_OPENAI_ADMIN_KEY": "sk-admin", "ONEVAULT_RECONCILE_ANTHROPIC_ADMIN_KEY": "ak"}
    )
    seen: list[tuple[str, dict[str, str]]] = []

    def fetch(url: str, headers: dict[str, str]) -> object:
        seen.append((url, headers))
        if "/organization/costs" in url:
            return OPENAI_COSTS
        if "page=" in url:
            return {**OPENAI_USAGE, "has_more": False, "next_page": None}
        if "usage/completions" in url:
            return OPENAI_USAGE
        return ANTHROPIC_COSTS if "cost_report" in url else ANTHROPIC_USAGE

    got = pull_openai(config.sources["openai"], date(2024, 11, 1), fetch)
    assert len(got["openai-costs-api"]) == 2 and len(got["openai-usage-api"]) == 2  # two pages
    assert "start_time=1730419200&end_time=1730505600&bucket_width=1d" in seen[0][0]
    assert "group_by%5B%5D=line_item" in seen[0][0] and seen[0][1] == {"authorization": "Bearer sk-admin"}
    assert "page=page_AAAAAGdGxdEiJdKOAAAAAGcqsYA%3D" in seen[2][0]
    got = pull_anthropic(config.sources["anthropic"], date(2025, 8, 1), fetch)
    assert seen[-2][0].startswith(
        "https://api.anthropic.com/v1/organizations/cost_report?starting_at=2025-08-01T00"
    )
    assert seen[-1][1] == {"x-api-key": "ak", "anthropic-version": "2023-06-01"}
    assert got["anthropic-cost-report"][0].amount == Decimal("1.2345")


def test_saved_api_bodies_and_exports_read_from_files(tmp_path: Path) -> None:
    import json

    (tmp_path / "costs.json").write_text(json.dumps([OPENAI_COSTS, OPENAI_USAGE]))
    found = read_export("openai", tmp_path / "costs.json")
    assert set(found) == {"openai-costs-api", "openai-usage-api"}
    (tmp_path / "azure.csv").write_text(AZURE_EA)
    assert len(read_export("azure_openai", tmp_path / "azure.csv")["azure-cost-export"]) == 2
