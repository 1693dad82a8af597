"""A batch of typed vault rows, deduplicated in memory before it reaches PostgreSQL.

Rules that make loads idempotent: a hub or link row appears once per key; a satellite keeps,
per key (and sub-key for multi-active satellites), only the *last* state given in the batch —
the warehouse sees one state per key per load — and the loader writes it only if its hash diff
(computed by PostgreSQL during the load) differs from the key's latest stored row. Loading the
same batch twice is therefore a no-op.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from functools import lru_cache
from typing import Any

from warehouse.hashing import GHOST_HK, hash_key
from warehouse.tables import HubSpec, LinkSpec, SatSpec, TableSpec

_cached_key = lru_cache(maxsize=100_000)(hash_key)


class VaultBatch:
    def __init__(self) -> None:
        self._hubs: dict[HubSpec, dict[bytes, tuple[Any, ...]]] = {}
        self._links: dict[LinkSpec, dict[bytes, tuple[Any, ...]]] = {}
        self._sats: dict[SatSpec, dict[Any, tuple[Any, ...]]] = {}

    def hub(
        self,
        spec: HubSpec,
        *business_keys: str | None,
        record_source: str,
        cache: bool = True,
        hk: bytes | None = None,
    ) -> bytes:
        """Add a hub row and return its hash key; a missing business key is the ghost record.
        ``hk``: the key when the caller already hashed the business keys (``hashing.key_text``)."""
        if len(business_keys) != len(spec.business_keys):
            raise ValueError(f"{spec.name} takes {len(spec.business_keys)} business key part(s)")
        for bk in business_keys:
            if not bk:
                return GHOST_HK
        if hk is None:
            hk = _cached_key(*business_keys) if cache else hash_key(*business_keys)
        rows = self._hubs.setdefault(spec, {})
        if hk not in rows:
            rows[hk] = (hk, *business_keys, record_source)
        return hk

    def link(
        self,
        spec: LinkSpec,
        refs: tuple[bytes, ...],
        business_keys: tuple[Any, ...],
        *,
        record_source: str,
        cache: bool = False,
        hk: bytes | None = None,
    ) -> bytes:
        """Add a link row; its key hashes the business keys of every hub it joins (or is ``hk``)."""
        if len(refs) != len(spec.refs):
            raise ValueError(f"{spec.name} joins {len(spec.refs)} hubs, got {len(refs)}")
        if hk is None:
            hk = _cached_key(*business_keys) if cache else hash_key(*business_keys)
        rows = self._links.setdefault(spec, {})
        if hk not in rows:
            rows[hk] = (hk, *refs, record_source)
        return hk

    def sat(
        self,
        spec: SatSpec,
        parent_hk: bytes,
        values: tuple[Any, ...],
        *,
        record_source: str,
        sub_key: Any = None,
    ) -> None:
        """Add a satellite state; later states for the same key in this batch replace earlier ones."""
        if len(values) != len(spec.attributes):
            raise ValueError(f"{spec.name} has {len(spec.attributes)} attributes, got {len(values)}")
        if (sub_key is None) != (spec.sub_key is None):
            raise ValueError(f"{spec.name}: sub_key must be given exactly for multi-active satellites")
        rows = self._sats.setdefault(spec, {})
        if spec.sub_key is None:
            rows[parent_hk] = (parent_hk, record_source, *values)
        else:
            rows[(parent_hk, sub_key)] = (parent_hk, sub_key, record_source, *values)

    def tables(self) -> Iterator[tuple[TableSpec, list[tuple[Any, ...]]]]:
        """Tables in dependency order (hubs, links, satellites) with their rows."""
        for group in (self._hubs, self._links, self._sats):
            for spec, rows in group.items():
                if rows:
                    yield spec, list(rows.values())

    def hub_keys(self, spec: HubSpec) -> Collection[bytes]:
        """Hash keys of the rows this batch holds for a hub."""
        return self._hubs.get(spec, {}).keys()

    def hangs_off(self, spec: LinkSpec | SatSpec, fresh: Mapping[str, Collection[bytes]]) -> bool:
        """Whether every row of ``spec`` carries one of the ``fresh`` keys (key column → hub keys
        the current load has just created). Such rows cannot exist yet: links and satellites are
        only ever written with or after their hubs, so the loader may skip looking for them."""
        rows = self._links.get(spec) if isinstance(spec, LinkSpec) else self._sats.get(spec)
        if not rows:
            return False
        names = spec.refs if isinstance(spec, LinkSpec) else (spec.parent,)
        offset = 1 if isinstance(spec, LinkSpec) else 0  # a link row starts with its own key
        anchors = [(offset + i, fresh[n]) for i, n in enumerate(names) if n in fresh]
        if not anchors:
            return False
        if len(anchors) == 1:
            pos, keys = anchors[0]
            return all(row[pos] in keys for row in rows.values())
        return all(any(row[pos] in keys for pos, keys in anchors) for row in rows.values())

    def __len__(self) -> int:
        return sum(len(r) for g in (self._hubs, self._links, self._sats) for r in g.values())

    def merge(self, other: VaultBatch) -> None:
        for hub, rows in other._hubs.items():
            target = self._hubs.setdefault(hub, {})
            for k, v in rows.items():
                target.setdefault(k, v)
        for link, rows in other._links.items():
            target = self._links.setdefault(link, {})
            for k, v in rows.items():
                target.setdefault(k, v)
        for sat, sat_rows in other._sats.items():
            self._sats.setdefault(sat, {}).update(sat_rows)
