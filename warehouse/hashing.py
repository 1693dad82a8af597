"""The vault's hash recipe, version 1: one implementation in Python, its twin in SQL.

Hash keys (business keys) and hash diffs (descriptive columns) are SHA-256 over parts joined
by ``||``. Every choice below exists so that Python, PostgreSQL and dbt produce the same bytes,
independent of database locale, and so that no value can fake a delimiter:

* each part is text; ``canonical_text`` fixes how non-text values become text;
* hash keys: parts are trimmed of ``' ', '\\t', '\\n', '\\r'`` and upper-cased **ASCII only**
  (``a-z`` → ``A-Z``): Unicode case mapping differs between Python, ICU and libc collations;
* hash diffs: neither trimmed nor upper-cased (a change of case or spacing is a change);
* inside a part, ``\\``, ``|`` and ``^`` are escaped with a backslash, so ``a|`` + ``b`` and
  ``a`` + ``|b`` differ, and a literal ``^^`` can never be mistaken for NULL;
* ``NULL`` or an empty part (after trimming, for keys) becomes ``^^``.

Text forms (``canonical_text``): timestamps as UTC ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (SQL:
``to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')``), numerics without
trailing zeros (SQL: ``trim_scale(x)::text``), booleans ``true``/``false``, bytes as hex.

Where each is computed: hash *keys* here, in Python (the loader needs them to wire links);
satellite hash *diffs* inside PostgreSQL at load time (``warehouse/loader.py`` inlines this
recipe as SQL, with ``host(inet)`` as the text form of an address). ``hash_diff`` here is the
same recipe, used by tests to prove the two agree.

Late columns (the one rule for growing a satellite): a column added to a satellite after it
already held rows is appended at the end of its attributes and declared *late* in its spec
(``SatSpec.late``). A late column takes part in the hash diff only when it is set — its part is
``name=text`` (the column's name, ``=``, its text form) after the other parts, and a NULL or an
empty text contributes nothing. So a row whose late columns are all NULL hashes exactly as it
did before the columns existed, and reloading an old event after the migration adds no row;
writers store a late column's default as NULL for the same reason (``warehouse/mapping.py``).
Naming the part keeps two late columns from standing in for each other (``a`` set and ``b``
NULL differs from the reverse). ``late_parts`` builds these parts; ``warehouse/loader.py``
inlines the same rule in SQL.

The SQL twin is ``raw_vault.ov_hash_key(variadic text[])`` / ``raw_vault.ov_hash_diff(...)``
in ``sql/001_hash_recipe.sql``; ``tests/fixtures/hash_vectors.json`` proves byte parity. Changing
the recipe means rehashing the whole vault: bump ``RECIPE_VERSION`` and write a migration.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

RECIPE_VERSION = 1
GHOST_HK = bytes(32)  # the "unknown / none" record present in every hub
NULL_MARKER = "^^"
DELIMITER = "||"

_TRIM = " \t\n\r"
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ESCAPE = str.maketrans({"\\": "\\\\", "|": "\\|", "^": "\\^"})


def canonical_text(value: Any) -> str | None:
    """The one text form of a value for hashing (SQL callers cast the same way)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous in a hash; pass an aware datetime")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # scale-free: 1.50 == 1.5 (SQL: trim_scale(x)::text)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple, dict)):
        # Composite values (text[] / jsonb columns) hash as compact JSON; only Python hashes them.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _key_part(value: Any) -> str:
    text = value if type(value) is str else canonical_text(value)
    if text is None:
        return NULL_MARKER
    text = text.strip(_TRIM)
    # For ASCII text str.upper() *is* ASCII-only upper-casing, and far cheaper than translate.
    text = text.upper() if text.isascii() else text.translate(_ASCII_UPPER)
    if not text:
        return NULL_MARKER
    if "\\" in text or "|" in text or "^" in text:
        return text.translate(_ESCAPE)
    return text


def _diff_part(value: Any) -> str:
    # Hot path of every load: NULLs, ints and clean strings skip the general conversion.
    if value is None:
        return NULL_MARKER
    kind = type(value)
    if kind is int:
        return str(value)
    text = value if kind is str else canonical_text(value)
    if not text:
        return NULL_MARKER
    if "\\" in text or "|" in text or "^" in text:
        return text.translate(_ESCAPE)
    return text


def hash_key(*parts: Any) -> bytes:
    """Hash key over business-key parts (trimmed, ASCII upper-cased)."""
    return hashlib.sha256(DELIMITER.join(map(_key_part, parts)).encode()).digest()


def key_text(*parts: Any) -> str:
    """The text ``hash_key`` hashes. Texts join with ``DELIMITER``: ``hash_text(key_text(a) +
    DELIMITER + key_text(b, c)) == hash_key(a, b, c)``, so a link's key can reuse the parts its
    hubs (or other links of the batch) already normalised."""
    return DELIMITER.join(map(_key_part, parts))


def hash_text(text: str) -> bytes:
    """The hash key of a ``key_text``."""
    return hashlib.sha256(text.encode()).digest()


def hash_diff(parts: Iterable[Any]) -> bytes:
    """Hash diff over descriptive columns in declared order (exact: case and spacing count)."""
    return hashlib.sha256(DELIMITER.join(map(_diff_part, parts)).encode()).digest()


def late_parts(named: Iterable[tuple[str, Any]]) -> list[str]:
    """Parts for a satellite's late columns, ``(name, value)`` in declared order: ``name=text``
    for each that is set, nothing for NULL or empty text (see "Late columns" above)."""
    parts = []
    for name, value in named:
        text = canonical_text(value)
        if text:
            parts.append(f"{name}={text}")
    return parts


def hub_key(*parts: Any) -> bytes:
    """Hash key for a hub reference, or the ghost key when the entity is unknown/none."""
    if all(p is None or p == "" for p in parts):
        return GHOST_HK
    return hash_key(*parts)
