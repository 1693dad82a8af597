"""The shipped Grafana dashboard asks only for what the gateway exports: every metric and label
its PromQL names is in a real scrape of ``/metrics`` (after a request and a refusal)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "onevault-gateway.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "onevault.yaml"
FUNCTIONS = frozenset({"sum", "max", "rate", "increase", "histogram_quantile", "label_values"})
TARGET_LABELS = frozenset({"instance", "job"})  # added by Prometheus to every scraped series
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def expressions(board: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found.append(var["definition"])
    return found


def metric_and_labels(expr: str) -> tuple[set[str], set[str]]:
    """The series names an expression selects, and the labels it filters or groups by."""
    labels = {name.strip() for group in GROUPING.findall(expr) for name in group.split(",") if name.strip()}
    labels |= {name for selector in SELECTOR.findall(expr) for name in MATCHER.findall(selector)}
    bare = GROUPING.sub(" ", SELECTOR.sub(" ", re.sub(r"\[[^\]]*\]", " ", expr)))
    bare = re.sub(r'"[^"]*"', " ", bare)
    if bare.lstrip().startswith("label_values("):  # label_values(metric, label)
        metric, label = (part.strip(" )") for part in bare.split("(", 1)[1].split(","))
        return {metric}, labels | {label}
    names = {n for n in IDENTIFIER.findall(bare) if n not in FUNCTIONS and not n.isdigit()}
    return names, labels


async def scrape(gw: Gateway) -> dict[str, set[str]]:
    """Each exported series name with the labels its samples carry."""
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as c:
        user = {"authorization": f"Bearer {gw.key}"}
        ok = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"}, headers=user)
        assert ok.status_code == 200, ok.text
        refused = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "no-such"}, headers=user)
        assert refused.status_code == 404
        operator = {"authorization": f"Bearer {admin_token(gw.settings)}"}
        text = (await c.get("/metrics", headers=operator)).text
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names = {
            "counter": [f"{family.name}_total"],
            "histogram": [f"{family.name}_{s}" for s in ("bucket", "count", "sum")],
        }.get(family.type, [family.name])
        for name in names:
            series.setdefault(name, set())
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


async def test_every_promql_expression_names_an_exported_metric_and_its_labels(gateway: Gateway) -> None:
    board = dashboard()
    exported = await scrape(gateway)
    exprs = expressions(board)
    assert len(exprs) >= 20
    used: set[str] = set()
    for expr in exprs:
        names, labels = metric_and_labels(expr)
        assert names, expr
        for name in names:
            assert name in exported, f"{name} is not exported by the gateway: {expr}"
            carried = exported[name]
            if carried:  # its samples tell which labels it has
                unknown = labels - carried - TARGET_LABELS
                assert not unknown, f"{name} has no label {sorted(unknown)}: {expr}"
        used |= names
    # The operator's questions, each answered: traffic, upstreams, tokens, cost, refusals, loader.
    for needed in (
        "onevault_requests_total",
        "onevault_request_duration_seconds_bucket",
        "onevault_errors_total",
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_token_usage_sum",
        "onevault_cost_usd_total",
        "onevault_loader_lag_seconds",
    ):
        assert needed in used, needed


def test_the_dashboard_is_well_formed_and_provisionable() -> None:
    board = dashboard()
    assert board["uid"] == "onevault-gateway" and board["schemaVersion"] >= 36
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    [datasource] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"] == f"${{{datasource['name']}}}", panel["title"]
        assert {t["refId"] for t in panel["targets"]} == {chr(65 + i) for i in range(len(panel["targets"]))}
    provisioning = yaml.safe_load(PROVISIONING.read_text())
    [provider] = provisioning["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
