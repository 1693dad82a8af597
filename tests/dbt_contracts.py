"""Tables shaped like a dbt model's enforced contract, for tests of code that reads a mart without
building the warehouse: the DDL comes from the model's YAML, so it cannot drift from the mart."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"


@cache
def contract_columns(model: str) -> tuple[tuple[str, str], ...]:
    """(column, data_type) of ``model`` as its YAML declares them; the contract must be enforced."""
    for path in MODELS.rglob("_*.yml"):
        for node in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if node["name"] == model:
                assert (node.get("config") or {}).get("contract", {}).get("enforced"), (
                    f"{model} has no contract"
                )
                return tuple((c["name"], c["data_type"]) for c in node["columns"])
    raise LookupError(f"no model {model} in {MODELS}")


def contract_ddl(model: str, schema: str = "marts") -> str:
    columns = ", ".join(f"{name} {data_type}" for name, data_type in contract_columns(model))
    return f"create schema if not exists {schema}; create table {schema}.{model} ({columns});"
