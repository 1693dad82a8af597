"""The project overrides two dbt internals (macros/delete_insert_with_statistics.sql and
macros/materializations/view.sql). Each wraps dbt's own macro, so each is right only for the dbt
macro it was written against: these pins fail when a dbt upgrade changes that macro, naming the
override to re-read before the pin is moved."""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import pytest

GLOBAL = Path(str(resources.files("dbt.include.global_project"))) / "macros" / "materializations" / "models"
POSTGRES = Path(str(resources.files("dbt.include.postgres"))) / "macros"
PROJECT_MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"

# (dbt file, the block overridden, its pinned digest, our override)
PINS = [
    (
        GLOBAL / "incremental" / "merge.sql",
        r"{% macro default__get_delete_insert_merge_sql\(.*?{%- endmacro %}",
        "cdbdb5e497be61ca",
        "delete_insert_with_statistics.sql",
    ),
    (
        GLOBAL / "view.sql",
        r"{%- materialization view, default -%}.*?{%- endmaterialization -%}",
        "a68e1c6ed94acfe9",
        "materializations/view.sql",
    ),
]


def digest(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


@pytest.mark.parametrize(("source", "block", "pinned", "override"), PINS, ids=[p[3] for p in PINS])
def test_the_dbt_macro_an_override_wraps_is_the_one_it_was_written_for(
    source: Path, block: str, pinned: str, override: str
) -> None:
    found = re.search(block, source.read_text(), re.S)
    assert found, f"dbt no longer defines the block macros/{override} wraps (in {source.name}): re-read it"
    assert digest(found.group(0)) == pinned, (
        f"dbt's {source.name} changed the block macros/{override} wraps: check the override still does "
        f"what its comment says against the new dbt, then pin {digest(found.group(0))}"
    )
    assert (PROJECT_MACROS / override).exists()


def test_dbt_postgres_defines_neither_override_itself() -> None:
    """Our postgres__ macro and postgres view materialization would silently shadow dbt-postgres's own."""
    text = "".join(p.read_text() for p in POSTGRES.rglob("*.sql"))
    assert "postgres__get_delete_insert_merge_sql" not in text
    assert not re.search(r"materialization\s+view\s*,\s*adapter\s*=\s*'postgres'", text)
