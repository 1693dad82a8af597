"""The requests files (JSON Lines and CSV) and their totals from ONE execution of the query.

The requests query is the whole cost of an export (a million requests: tens of seconds of
PostgreSQL CPU); running it once per format and once more for the totals tripled that. Here a
single ``COPY ... TO STDOUT (FORMAT csv, HEADER)`` emits, per request, the two cost columns, the
row as ``row_to_json`` text, then the row's own columns::

    <provider_cost>,<customer_cost>,"<json, its quotes as \\x01>",<the CSV row exactly as today>

and the exporter splits each record while streaming: the JSON field with its quotes put back is
the JSON line, the rest is the CSV line (PostgreSQL still formats every value, so both files are
byte-identical to separate ``COPY`` runs), and the two costs are summed exactly as ``Decimal``.

Splitting is safe without a CSV parser because PostgreSQL's CSV output puts a ``"`` only around
a field or doubled inside one: a newline ends a record only after an even number of quotes, and
the JSON field holds no quote of its own, so the first quote after its opening one ends it.
"""

from __future__ import annotations

import decimal
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import asyncpg

from warehouse.audit.params import ExportScope
from warehouse.audit.queries import REQUESTS
from warehouse.audit.writers import WrittenFile

# Exact sums whatever the volume: numeric(24,12) values, far more digits than the default 28.
_EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])
_SCALE = Decimal(1).scaleb(-12)  # numeric(24,12)
# row_to_json never writes a raw \x01 (control characters are escaped inside strings), so the
# JSON's quotes travel as \x01: COPY then has no quote to double, and the exporter swaps them
# back once per chunk instead of un-doubling row by row.
_SELECT = "q.provider_cost, q.customer_cost, replace(row_to_json(q)::text, '\"', e'\\x01') as row_json, q.*"
_LEADING = 3  # columns before q.* in _SELECT


@dataclass(frozen=True, slots=True)
class RequestTotals:
    requests: int
    provider_cost: str  # as PostgreSQL writes numeric(24,12)::text
    customer_cost: str

    def as_row(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "provider_cost": self.provider_cost,
            "customer_cost": self.customer_cost,
        }


class _Output:
    """One of the two files: appends, hashes and counts."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def written(self, name: str, rows: int) -> WrittenFile:
        return WrittenFile(name, rows, self.digest.hexdigest(), self.size)


class RequestSplitter:
    """The ``output`` of the COPY: splits each record into the JSON line, the CSV line and costs."""

    def __init__(self, jsonl: BinaryIO, csv: BinaryIO, *, header: bool = True) -> None:
        self.jsonl = _Output(jsonl)
        self.csv = _Output(csv)
        self.rows = 0
        self.provider = Decimal(0)
        self.customer = Decimal(0)
        self._keep_header = header  # a later part of the file leaves the header out
        self._header_seen = False
        self._tail = b""  # an incomplete record carried to the next chunk
        self._pending: list[bytes] = []  # pieces of a record whose newline was inside quotes
        self._quotes = 0  # quotes seen in the pending pieces

    async def __call__(self, chunk: bytes) -> None:
        pieces = (self._tail + chunk).split(b"\n")
        self._tail = pieces.pop()
        json_lines: list[bytes] = []
        csv_lines: list[bytes] = []
        provider: list[bytes] = []
        customer: list[bytes] = []
        for piece in pieces:
            if self._pending or piece.count(b'"') % 2:
                self._pending.append(piece)
                self._quotes += piece.count(b'"')
                if self._quotes % 2:
                    continue  # the newline was inside a quoted field
                piece = b"\n".join(self._pending)
                self._pending, self._quotes = [], 0
            if not self._header_seen:
                self._header_seen = True
                if self._keep_header:
                    csv_lines.append(piece.split(b",", _LEADING)[_LEADING])
                continue
            first = piece.index(b",")
            second = piece.index(b",", first + 1)
            end = piece.index(b'"', second + 2)  # the JSON holds no quote: it comes as \x01
            provider.append(piece[:first])
            customer.append(piece[first + 1 : second])
            json_lines.append(piece[second + 2 : end])
            csv_lines.append(piece[end + 2 :])
        if json_lines:
            json_lines.append(b"")
            self.jsonl.write(b"\n".join(json_lines).replace(b"\x01", b'"'))
            self.rows += len(json_lines) - 1
            self.provider = _EXACT.add(self.provider, _sum(provider))
            self.customer = _EXACT.add(self.customer, _sum(customer))
        if csv_lines:
            csv_lines.append(b"")
            self.csv.write(b"\n".join(csv_lines))

    def finish(self) -> None:
        if self._tail or self._pending:
            raise RuntimeError("the requests COPY ended inside a record")


def _sum(values: list[bytes]) -> Decimal:
    """Exact sum; an empty value is NULL (a request without cost events)."""
    with decimal.localcontext(_EXACT):
        return sum(map(Decimal, map(bytes.decode, filter(None, values))), Decimal(0))


def _text(value: Decimal) -> str:
    return format(value.quantize(_SCALE, context=_EXACT), "f")


def requests_query(scope: ExportScope) -> str:
    """The ordered requests, then the JSON and the costs added to each row *after* the sort: the
    sort carries each row once, not twice (a million rows: ~1.7 GB spilled to disk otherwise).
    An ordered subquery is never flattened into its parent, and a projection over it keeps its
    order."""
    return f"select {_SELECT} from ({REQUESTS.ordered(scope)}) as q"


def split_scope(scope: ExportScope, parts: int) -> list[ExportScope]:
    """Consecutive sub-periods (whole days) of ``scope``, at most ``parts``: the files are their
    concatenation, since rows are ordered by request time first."""
    days = (scope.period_to - scope.period_from).days
    parts = max(1, min(parts, days))
    bounds = [scope.period_from + timedelta(days=days * i // parts) for i in range(parts)]
    bounds.append(scope.period_to)
    return [ExportScope(scope.customer, a, b, scope.as_of) for a, b in pairwise(bounds)]


class RequestsExport:
    """``requests.jsonl``, ``requests.csv`` and their totals from one run of the requests query,
    optionally cut into consecutive sub-periods that separate connections run at the same time
    (the query is CPU-bound in one PostgreSQL backend). The first part streams into the files;
    later parts into temporary part files appended in order by ``finish`` — the same bytes."""

    def __init__(self, scope: ExportScope, out: Path, parts: int = 1) -> None:
        self.out = out
        self.scopes = split_scope(scope, parts)
        self._done: dict[int, RequestSplitter] = {}

    def _paths(self, index: int) -> tuple[Path, Path]:
        stem = REQUESTS.name if index == 0 else f".{REQUESTS.name}.part{index}"
        return self.out / f"{stem}.jsonl", self.out / f"{stem}.csv"

    async def write_part(self, conn: asyncpg.Connection, index: int) -> None:
        jsonl_path, csv_path = self._paths(index)
        with jsonl_path.open("wb") as jsonl, csv_path.open("wb") as csv:
            splitter = RequestSplitter(jsonl, csv, header=index == 0)
            query = requests_query(self.scopes[index])
            await conn.copy_from_query(query, output=splitter, format="csv", header=True)
            splitter.finish()
        self._done[index] = splitter

    def finish(self) -> tuple[WrittenFile, WrittenFile, RequestTotals]:
        first = self._done[0]
        rows, provider, customer = first.rows, first.provider, first.customer
        jsonl_path, csv_path = self._paths(0)
        with jsonl_path.open("ab") as jsonl, csv_path.open("ab") as csv:
            first.jsonl.handle, first.csv.handle = jsonl, csv
            for index in range(1, len(self.scopes)):
                part = self._done[index]
                rows += part.rows
                provider, customer = _EXACT.add(provider, part.provider), _EXACT.add(customer, part.customer)
                for output, path in zip((first.jsonl, first.csv), self._paths(index), strict=True):
                    with path.open("rb") as source:
                        while block := source.read(1 << 20):
                            output.write(block)
                    path.unlink()
        totals = RequestTotals(rows, _text(provider), _text(customer))
        return (
            first.jsonl.written(jsonl_path.name, rows),
            first.csv.written(csv_path.name, rows),
            totals,
        )


async def write_requests(
    conn: asyncpg.Connection, scope: ExportScope, out: Path
) -> tuple[WrittenFile, WrittenFile, RequestTotals]:
    """The requests files and totals on one connection (no parts)."""
    export = RequestsExport(scope, out)
    await export.write_part(conn, 0)
    return export.finish()
