"""Fetching a provider's report and landing it: API pull where the provider has an API (OpenAI,
Anthropic), file import otherwise (Azure Cost Management and GCP Cloud Billing exports).

Configuration is read from the environment (``ReconcileConfig.from_env``) so the daily Dagster
job and ``onevault reconcile import`` see the same sources:

* ``ONEVAULT_RECONCILE_OPENAI_ADMIN_KEY`` (an OpenAI *admin* key) and
  ``ONEVAULT_RECONCILE_OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``);
* ``ONEVAULT_RECONCILE_ANTHROPIC_ADMIN_KEY`` (an Anthropic Admin API key) and
  ``ONEVAULT_RECONCILE_ANTHROPIC_BASE_URL`` (default ``https://api.anthropic.com``);
* ``ONEVAULT_RECONCILE_AZURE_OPENAI_EXPORT_DIR`` / ``ONEVAULT_RECONCILE_GEMINI_EXPORT_DIR``: a
  directory the scheduled export lands its CSV files in (every ``*.csv`` is read; only the
  day asked for is kept);
* ``ONEVAULT_RECONCILE_<KIND>_PROVIDER``: the provider's name in OneVault's catalog when it is
  not the kind itself (e.g. ``openai-eu``).

Pulls use the standard library's ``urllib`` (``warehouse`` stays free of HTTP client
dependencies; Dagster steps are synchronous anyway) and follow ``has_more``/``next_page``.
The admin key is sent only in its header and never logged or stored.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from warehouse.reconciliation.lines import PROVIDER_KINDS, ReportLine
from warehouse.reconciliation.parsers import (
    PARSERS_CSV,
    ReportFormatError,
    merge_duplicates,
    parse_anthropic_costs,
    parse_anthropic_usage,
    parse_openai_costs,
    parse_openai_usage,
)
from warehouse.reconciliation.store import DayImport, store_report

MAX_PAGES = 100  # a day is one bucket: more pages than this means a server that never says done
TIMEOUT_S = 30.0
ANTHROPIC_VERSION = "2023-06-01"
CSV_SOURCE = {"azure_openai": "azure-cost-export", "gemini": "gcp-billing-export"}
DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


class ImportError_(RuntimeError):
    """A report that could not be fetched or read, with why (never a silent empty import)."""


@dataclass(frozen=True, slots=True)
class ProviderSource:
    kind: str  # openai | anthropic | azure_openai | gemini
    provider: str  # OneVault's name for it
    base_url: str | None = None
    admin_key: str | None = field(default=None, repr=False)
    export_dir: Path | None = None

    @property
    def configured(self) -> bool:
        return bool(self.admin_key) if self.kind in DEFAULT_BASE_URLS else self.export_dir is not None


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    sources: dict[str, ProviderSource]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ReconcileConfig:
        env = dict(os.environ if env is None else env)
        sources = {}
        for kind in PROVIDER_KINDS:
            prefix = f"ONEVAULT_RECONCILE_{kind.upper()}_"
            export = env.get(prefix + "EXPORT_DIR")
            sources[kind] = ProviderSource(
                kind=kind,
                provider=env.get(prefix + "PROVIDER") or kind,
                base_url=env.get(prefix + "BASE_URL") or DEFAULT_BASE_URLS.get(kind),
                admin_key=env.get(prefix + "ADMIN_KEY") or None,
                export_dir=Path(export) if export else None,
            )
        return cls(sources)

    def configured(self) -> list[ProviderSource]:
        return [s for s in self.sources.values() if s.configured]


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


Fetch = Callable[[str, dict[str, str]], Any]


def http_get_json(url: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(url, headers={"accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()[:500].decode(errors="replace")
        raise ImportError_(f"GET {url.split('?')[0]} answered {exc.code}: {body}") from None
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as exc:
        raise ImportError_(f"GET {url.split('?')[0]} failed: {exc}") from None


def _pages(
    base: str, path: str, params: list[tuple[str, str]], headers: dict[str, str], fetch: Fetch
) -> list[Any]:
    pages: list[Any] = []
    page: str | None = None
    for _ in range(MAX_PAGES):
        query = params + ([("page", page)] if page else [])
        body = fetch(f"{base.rstrip('/')}{path}?{urllib.parse.urlencode(query)}", headers)
        pages.append(body)
        if not (isinstance(body, dict) and body.get("has_more") and body.get("next_page")):
            return pages
        page = str(body["next_page"])
    raise ImportError_(f"{path}: more than {MAX_PAGES} pages for one day")


def pull_openai(
    source: ProviderSource, day: date, fetch: Fetch = http_get_json
) -> dict[str, list[ReportLine]]:
    """The day's Costs (by line item and project) and completions Usage (by model, project, key)."""
    start, end = day_window(day)
    base = source.base_url or DEFAULT_BASE_URLS["openai"]
    headers = {"authorization": f"Bearer {source.admin_key}"}
    window = [("start_time", str(int(start.timestamp()))), ("end_time", str(int(end.timestamp())))]
    window.append(("bucket_width", "1d"))
    costs = _pages(
        base, "/organization/costs", [*window, ("group_by[]", "line_item"), ("group_by[]", "project_id")],
        headers, fetch,
    )  # fmt: skip
    usage = _pages(
        base,
        "/organization/usage/completions",
        [*window, ("group_by[]", "model"), ("group_by[]", "project_id"), ("group_by[]", "api_key_id")],
        headers,
        fetch,
    )
    return {
        "openai-costs-api": [line for p in costs for line in parse_openai_costs(p)],
        "openai-usage-api": [line for p in usage for line in parse_openai_usage(p)],
    }


def pull_anthropic(
    source: ProviderSource, day: date, fetch: Fetch = http_get_json
) -> dict[str, list[ReportLine]]:
    """The day's cost report (by description, so each line names its model, and workspace) and
    messages usage report (by model, API key and workspace)."""
    start, end = day_window(day)
    base = source.base_url or DEFAULT_BASE_URLS["anthropic"]
    headers = {"x-api-key": source.admin_key or "", "anthropic-version": ANTHROPIC_VERSION}
    window = [
        ("starting_at", start.isoformat().replace("+00:00", "Z")),
        ("ending_at", end.isoformat().replace("+00:00", "Z")),
        ("bucket_width", "1d"),
    ]
    costs = _pages(
        base, "/v1/organizations/cost_report",
        [*window, ("group_by[]", "description"), ("group_by[]", "workspace_id")], headers, fetch,
    )  # fmt: skip
    usage = _pages(
        base,
        "/v1/organizations/usage_report/messages",
        [*window, ("group_by[]", "model"), ("group_by[]", "api_key_id"), ("group_by[]", "workspace_id")],
        headers,
        fetch,
    )
    return {
        "anthropic-cost-report": [line for p in costs for line in parse_anthropic_costs(p)],
        "anthropic-usage-report": [line for p in usage for line in parse_anthropic_usage(p)],
    }


def read_export(kind: str, path: Path) -> dict[str, list[ReportLine]]:
    """A billing export file (Azure or GCP CSV), or a saved API body (OpenAI/Anthropic JSON:
    one page, or a list of pages, of either report — told apart by their result objects)."""
    text = path.read_text(encoding="utf-8-sig")
    if kind in CSV_SOURCE:
        return {CSV_SOURCE[kind]: PARSERS_CSV[CSV_SOURCE[kind]](text)}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportFormatError(f"{path.name}: not JSON ({exc})") from None
    pages = doc if isinstance(doc, list) else [doc]
    found: dict[str, list[ReportLine]] = {}
    for page in pages:
        source, parse = _json_kind(kind, page)
        found.setdefault(source, []).extend(parse(page))
    return found


def _json_kind(kind: str, page: Any) -> tuple[str, Callable[[Any], list[ReportLine]]]:
    results = [r for b in (page.get("data") or []) if isinstance(b, dict) for r in b.get("results") or []]
    if kind == "openai":
        costs = any(isinstance(r, dict) and "amount" in r for r in results)
        return ("openai-costs-api", parse_openai_costs) if costs else ("openai-usage-api", parse_openai_usage)
    if kind == "anthropic":
        costs = any(isinstance(r, dict) and "amount" in r for r in results)
        return (
            ("anthropic-cost-report", parse_anthropic_costs)
            if costs
            else ("anthropic-usage-report", parse_anthropic_usage)
        )
    raise ReportFormatError(f"{kind} reports are CSV exports")


def pull(source: ProviderSource, day: date, fetch: Fetch = http_get_json) -> dict[str, list[ReportLine]]:
    """The day's report from wherever this source publishes it."""
    if source.kind == "openai":
        return pull_openai(source, day, fetch)
    if source.kind == "anthropic":
        return pull_anthropic(source, day, fetch)
    if source.export_dir is None:
        raise ImportError_(f"{source.kind}: set ONEVAULT_RECONCILE_{source.kind.upper()}_EXPORT_DIR")
    found: dict[str, list[ReportLine]] = {CSV_SOURCE[source.kind]: []}
    for path in sorted(source.export_dir.glob("*.csv")):
        for record_source, lines in read_export(source.kind, path).items():
            found[record_source].extend(line for line in lines if line.usage_date == day)
    return found


async def land(
    pool: asyncpg.Pool,
    provider: str,
    reports: dict[str, list[ReportLine]],
    *,
    days: list[date],
    source: str,
    imported_by: str,
) -> list[DayImport]:
    """Store every report of a pull or file (``days``: the days it covers, even if empty)."""
    done: list[DayImport] = []
    for record_source, lines in reports.items():
        done += await store_report(
            pool,
            provider,
            record_source,
            merge_duplicates(lines),
            days=days,
            source=source,
            imported_by=imported_by,
        )
    return done


def source_label(source: ProviderSource) -> str:
    if source.kind in DEFAULT_BASE_URLS:
        return source.base_url or DEFAULT_BASE_URLS[source.kind]
    return f"dir:{source.export_dir}"
