"""The warehouse as a Dagster resource: where it is, and a pool for one step's work."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
import redis.asyncio as aioredis
from dagster import ConfigurableResource

from warehouse.db import run_with_pool, run_with_pool_and_redis
from warehouse.dbt import dbt_env
from warehouse.embedded import Endpoints, ensure_servers
from warehouse.settings import Settings

T = TypeVar("T")


class Warehouse(ConfigurableResource):
    """``ONEVAULT_*`` settings decide: external servers, or the embedded ones (started on need).

    Settings are read afresh for each step (not the process-wide cached copy): a long-lived
    Dagster process must follow what its environment says now.
    """

    def settings(self) -> Settings:
        return Settings()

    def endpoints(self) -> Endpoints:
        return ensure_servers(self.settings())

    def run(self, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        """Run ``fn(pool)`` on a short-lived pool (Dagster steps are synchronous)."""
        return run_with_pool(self.endpoints().database_url, fn)

    def run_with_redis(self, fn: Callable[[asyncpg.Pool, aioredis.Redis], Awaitable[T]]) -> T:
        endpoints = self.endpoints()
        return run_with_pool_and_redis(endpoints.database_url, endpoints.redis_url, fn)

    @contextlib.contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """``ONEVAULT_DBT_*`` for the dbt subprocess (dagster-dbt passes ``os.environ`` on)."""
        # A singular test over models from two steps (e.g. invoice lines vs cost events) runs in
        # the step that builds its last parent ("buildable"), not before that parent exists.
        # dagster-dbt still sets its own DBT_INDIRECT_SELECTION when it subsets checks.
        env = {"DBT_INDIRECT_SELECTION": "buildable", **dbt_env(self.endpoints().database_url)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
