"""Whose data a console query may read, and the one place every query applies it.

Every data function takes a ``Scope`` first and builds its SQL through a ``ScopedQuery``: the
query refuses to run until the author has placed the scope's customer predicate (``by_slug`` on
a mart's ``customer_slug`` or ``by_hk`` on a vault ``customer_hk``) or declared the read
platform-wide (``platform_wide``, operators only). A customer scope therefore cannot be
forgotten: a query without the filter fails loudly instead of reading every tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from warehouse.hashing import hash_key


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data a query may read: one customer, or every customer (an operator)."""

    customer_slug: str | None  # None = operator: every customer
    show_payloads: bool = False  # prompt/completion text, where retention kept it

    @classmethod
    def operator(cls, *, show_payloads: bool = False) -> Scope:
        return cls(None, show_payloads)

    @classmethod
    def customer(cls, slug: str, *, show_payloads: bool = False) -> Scope:
        if not slug:
            raise ValueError("a customer scope needs the customer's slug")
        return cls(slug, show_payloads)

    @property
    def is_operator(self) -> bool:
        return self.customer_slug is None

    @property
    def customer_hk(self) -> bytes | None:
        """The customer's hub key (the vault's join key), None for an operator."""
        return None if self.customer_slug is None else hash_key(self.customer_slug)


class ScopeNotApplied(RuntimeError):
    """A query was about to run without its scope predicate (a programming error)."""


def require_operator(scope: Scope) -> None:
    """Platform pages (every customer's numbers) are for operators only."""
    if not scope.is_operator:
        raise PermissionError("operator pages are not available to a customer's users")


@dataclass(slots=True)
class ScopedQuery:
    """Positional arguments for one SQL statement plus the proof that the scope was applied."""

    scope: Scope
    args: list[Any] = field(default_factory=list)
    _applied: bool = False

    def arg(self, value: Any) -> str:
        """Bind ``value``; returns its placeholder (``$n``)."""
        self.args.append(value)
        return f"${len(self.args)}"

    def by_slug(self, column: str) -> str:
        """Predicate limiting a ``customer_slug`` text column to the scope."""
        self._applied = True
        if self.scope.customer_slug is None:
            return "true"
        return f"{column} = {self.arg(self.scope.customer_slug)}"

    def by_hk(self, column: str) -> str:
        """Predicate limiting a vault ``customer_hk`` column to the scope."""
        self._applied = True
        if self.scope.customer_hk is None:
            return "true"
        return f"{column} = {self.arg(self.scope.customer_hk)}"

    def platform_wide(self, *, customers_may_see: bool = False) -> None:
        """Declare a read of rows with no customer column. Operators only, unless the rows are
        platform aggregates a customer may see (``customers_may_see``: provider latency and
        availability, say — never another customer's rows or volumes)."""
        if not customers_may_see:
            require_operator(self.scope)
        self._applied = True

    def _checked(self) -> list[Any]:
        if not self._applied:
            raise ScopeNotApplied("console query built without its scope predicate")
        return self.args

    async def fetch(self, db: asyncpg.Pool | asyncpg.Connection, sql: str) -> list[asyncpg.Record]:
        return await db.fetch(sql, *self._checked())

    async def fetchrow(self, db: asyncpg.Pool | asyncpg.Connection, sql: str) -> asyncpg.Record | None:
        return await db.fetchrow(sql, *self._checked())

    async def fetchval(self, db: asyncpg.Pool | asyncpg.Connection, sql: str) -> Any:
        return await db.fetchval(sql, *self._checked())
