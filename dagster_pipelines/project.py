"""The dbt project as Dagster sees it, and its manifest prepared once at install/start time.

``dagster-dbt`` builds assets from ``manifest.json``; parsing on every code-location load
would make the UI slow, so ``onevault up``, the Docker build and the tests run ``dbt parse``
once (``prepare_manifest``) and the definitions only read the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from warehouse.dbt import PROJECT_DIR, dbt_env

DBT_PROJECT = DbtProject(project_dir=PROJECT_DIR)  # manifest: dbt_project/target/manifest.json
DBT = str(Path(sys.executable).with_name("dbt"))
# ``dbt parse`` renders profiles.yml but never connects: placeholders do when no URL is given.
_PARSE_URL = "postgresql://onevault@localhost:5432/onevault"


def prepare_manifest(database_url: str | None = None) -> Path:
    """Run ``dbt parse`` into ``dbt_project/target`` and return the manifest's path."""
    target = DBT_PROJECT.manifest_path.parent
    env = {**os.environ, **dbt_env(database_url or _PARSE_URL), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    args = ["parse", "--quiet", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    args += ["--target-path", str(target), "--log-path", str(target.parent / "logs")]
    done = subprocess.run([DBT, *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not DBT_PROJECT.manifest_path.exists():
        raise RuntimeError(f"dbt parse failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    load_manifest.cache_clear()
    return DBT_PROJECT.manifest_path


@cache
def load_manifest() -> dict[str, Any]:
    """The parsed manifest (parsing first only when none exists yet, e.g. a fresh checkout)."""
    if not DBT_PROJECT.manifest_path.exists():
        prepare_manifest()
    return json.loads(DBT_PROJECT.manifest_path.read_text())


def model_names(manifest: dict[str, Any]) -> set[str]:
    return {n["name"] for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")}


if __name__ == "__main__":  # `python -m dagster_pipelines.project`: prepare at image build time
    print(prepare_manifest())
