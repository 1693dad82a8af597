"""Console users: create, change role or status, set a password, look up — the one writer of
``hub_console_user`` and its satellites (sql/023), used by the CLI, ``onevault up`` and the
console's own Users page alike. Every change is a new satellite row with who made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.auth.passwords import WeakPassword, hash_password
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader

Role = Literal["viewer", "developer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "developer", "admin")  # each may do what the one before may
STATUSES = ("active", "locked", "disabled")
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,190}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    email: str
    role: Role
    is_operator: bool
    customer: str | None  # None for an operator user
    status: str = "active"
    display_name: str | None = None
    password_hash: str | None = None  # never shown; compared by gateway.auth.passwords

    def public(self) -> dict[str, object]:
        return {
            "email": self.email,
            "role": self.role,
            "operator": self.is_operator,
            "customer": self.customer,
            "status": self.status,
            "display_name": self.display_name,
        }


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise AdminError("email must be an e-mail address such as alice@example.com", field="email")
    return email


def _check(user: ConsoleUser) -> None:
    if user.role not in ROLES:
        raise AdminError(f"role is one of {', '.join(ROLES)}", field="role")
    if user.status not in STATUSES:
        raise AdminError(f"status is one of {', '.join(STATUSES)}", field="status")
    if user.is_operator == (user.customer is not None):
        raise AdminError("a console user is either an operator or a customer's user", field="customer")
    if user.display_name is not None and not _PRINTABLE.match(user.display_name):
        raise AdminError("display_name is 1-200 printable characters", field="display_name")


_CURRENT = """
select h.console_user_bk as email, d.display_name, d.role, d.is_operator, d.status,
       nullif(c.customer_bk, '(unknown)') as customer,
       (select p.password_hash from raw_vault.sat_console_user_credential p
         where p.console_user_hk = h.console_user_hk order by p.load_dts desc limit 1) as password_hash
from raw_vault.hub_console_user h
join lateral (
  select * from raw_vault.sat_console_user_details s
  where s.console_user_hk = h.console_user_hk order by s.load_dts desc limit 1
) d on true
join raw_vault.lnk_console_user_customer l on l.console_user_hk = h.console_user_hk
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
where {where}
"""


def _user(row: asyncpg.Record) -> ConsoleUser:
    return ConsoleUser(
        email=row["email"],
        role=row["role"],
        is_operator=row["is_operator"],
        customer=row["customer"],
        status=row["status"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
    )


async def get_user(pool: asyncpg.Pool, email: str) -> ConsoleUser | None:
    """The user as it stands now, looked up by its hash key (an index probe, never a scan)."""
    try:
        email = normalise_email(email)
    except AdminError:
        return None
    row = await pool.fetchrow(_CURRENT.format(where="h.console_user_hk = $1"), hash_key(email))
    return _user(row) if row else None


async def list_users(pool: asyncpg.Pool, customer: str | None) -> list[ConsoleUser]:
    """A customer's users, or (``None``) the operator users."""
    where = "l.customer_hk = $1"
    key = hash_key(customer) if customer else bytes(32)
    rows = await pool.fetch(_CURRENT.format(where=where) + " order by 1", key)
    return [_user(r) for r in rows]


def _add_details(batch: VaultBatch, user: ConsoleUser, changed_by: str, record_source: str) -> bytes:
    hk = batch.hub(t.HUB_CONSOLE_USER, user.email, record_source=record_source)
    batch.sat(
        t.SAT_CONSOLE_USER_DETAILS,
        hk,
        t.SAT_CONSOLE_USER_DETAILS.row(
            changed_by=changed_by,
            email=user.email,
            display_name=user.display_name,
            role=user.role,
            is_operator=user.is_operator,
            status=user.status,
        ),
        record_source=record_source,
    )
    return hk


def _add_password(batch: VaultBatch, hk: bytes, password_hash: str | None, changed_by: str, src: str) -> None:
    row = t.SAT_CONSOLE_USER_CREDENTIAL.row(changed_by=changed_by, password_hash=password_hash)
    batch.sat(t.SAT_CONSOLE_USER_CREDENTIAL, hk, row, record_source=src)


async def create_user(
    pool: asyncpg.Pool,
    email: str,
    role: str,
    *,
    changed_by: str,
    customer: str | None = None,
    operator: bool = False,
    password: str | None = None,
    display_name: str | None = None,
    record_source: str = SOURCE,
) -> ConsoleUser:
    """A new console user; ``password`` None makes one who logs in through single sign-on only."""
    user = ConsoleUser(
        normalise_email(email),
        role,  # type: ignore[arg-type]
        operator,
        None if operator else customer,
        display_name=display_name,
    )
    _check(user)
    if user.customer is not None and not await customer_exists(pool, user.customer):
        raise AdminError(f"no customer {user.customer!r}", field="customer")
    if await get_user(pool, user.email) is not None:
        raise AdminError(f"console user {user.email} already exists", field="email")
    try:
        hashed = hash_password(password) if password is not None else None
    except WeakPassword as exc:
        raise AdminError(str(exc), field="password") from exc
    batch = VaultBatch()
    hk = _add_details(batch, user, changed_by, record_source)
    customer_hk = batch.hub(t.HUB_CUSTOMER, user.customer, record_source=record_source)
    batch.link(
        t.LNK_CONSOLE_USER_CUSTOMER,
        (hk, customer_hk),
        (user.email, user.customer),
        record_source=record_source,
    )
    _add_password(batch, hk, hashed, changed_by, record_source)
    await VaultLoader(pool).load(batch)
    return replace(user, password_hash=hashed)


async def _existing(pool: asyncpg.Pool, email: str) -> ConsoleUser:
    user = await get_user(pool, email)
    if user is None:
        raise AdminError(f"no console user {email!r}")
    return user


async def update_user(
    pool: asyncpg.Pool,
    email: str,
    *,
    changed_by: str,
    role: str | None = None,
    status: str | None = None,
    display_name: str | None = None,
    record_source: str = SOURCE,
) -> ConsoleUser:
    """Change a user's role, status (active | locked | disabled) or name: a new details row."""
    current = await _existing(pool, email)
    changed = replace(
        current,
        role=role or current.role,  # type: ignore[arg-type]
        status=status or current.status,
        display_name=display_name if display_name is not None else current.display_name,
    )
    _check(changed)
    batch = VaultBatch()
    _add_details(batch, changed, changed_by, record_source)
    await VaultLoader(pool).load(batch)
    return changed


async def set_password(
    pool: asyncpg.Pool, email: str, password: str, *, changed_by: str, record_source: str = SOURCE
) -> None:
    """Store a new password's hash (a new credential row; the old hash stays in history)."""
    current = await _existing(pool, email)
    try:
        hashed = hash_password(password)
    except WeakPassword as exc:
        raise AdminError(str(exc), field="password") from exc
    await store_password_hash(pool, current.email, hashed, changed_by=changed_by, record_source=record_source)


async def store_password_hash(
    pool: asyncpg.Pool, email: str, password_hash: str, *, changed_by: str, record_source: str = SOURCE
) -> None:
    """Record an already-made hash (a login upgrading an old hash to today's parameters)."""
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CONSOLE_USER, email, record_source=record_source)
    _add_password(batch, hk, password_hash, changed_by, record_source)
    await VaultLoader(pool).load(batch)
