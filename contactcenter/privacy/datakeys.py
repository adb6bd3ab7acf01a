"""Each contact's data key row: found or created in the caller's transaction, and the Keyring from settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.db.ids import insert_rows
from contactcenter.db.keys import KeyedSelect
from contactcenter.db.models import ContactKey
from contactcenter.db.sealed import keyring_of
from contactcenter.db.types import utcnow
from contactcenter.privacy.keyring import Keyring, KeyringError, key_file_keys, parse_master_keys
from contactcenter.settings import Settings, SettingsError

if TYPE_CHECKING:
    from contactcenter.db.engine import Database


_KEYS = cast(Table, ContactKey.__table__)
_KEYS_OF = KeyedSelect(select(_KEYS.c.id, _KEYS.c.contact_id, _KEYS.c.wrapped), (_KEYS.c.contact_id,))  # built once


@dataclass(frozen=True, slots=True)
class DataKey:
    id: int
    wrapped: str


def keyring_from_settings(settings: Settings) -> Keyring:
    """The configured master keys, else the data folder's key file (created on first use)."""
    configured = settings.privacy.master_key
    if configured:
        return Keyring(parse_master_keys(configured), settings.privacy.key_cache_size)
    return Keyring(key_file_keys(settings.data_path), settings.privacy.key_cache_size,
                   reload=lambda: key_file_keys(settings.data_path, create=False))


async def check_master_key(db: Database) -> None:
    """Refuse to start with a master key that does not open this database's data keys (several processes
    with a key file each, a lost or mistyped ``privacy.master_key``): every read of a message would fail."""
    if db.keyring is None:
        return
    async with db.read() as session:
        newest = await session.scalar(select(ContactKey.wrapped).order_by(ContactKey.id.desc()).limit(1))
    if newest is None:
        return
    try:
        db.keyring.unwrap(newest)
    except KeyringError as exc:
        raise SettingsError(
            f"the master key does not open this database's data keys ({exc}). Every server process on one "
            "database needs the same master keys: set privacy.master_key (CC_PRIVACY__MASTER_KEY) to the same "
            "value everywhere, or share the data folder's key file") from exc


def session_keyring(session: Session | AsyncSession) -> Keyring | None:
    """The keyring of the database this session writes to (None: stored in the clear)."""
    return keyring_of(session.get_bind().dialect)


def data_keys(session: Session, keyring: Keyring, contact_ids: Iterable[int]) -> dict[int, DataKey]:
    """The data key of each contact, creating the missing ones (one row per new contact)."""
    wanted = set(contact_ids)
    if not wanted:
        return {}
    connection = session.connection()
    found = {r.contact_id: DataKey(r.id, r.wrapped) for r in _KEYS_OF.rows(connection, {(c,) for c in wanted})}
    missing = sorted(wanted - set(found))
    if not missing:
        return found
    now = utcnow()
    wrapped = {c: keyring.new_wrapped_key() for c in missing}
    rows: list[dict[str, Any]] = [{"contact_id": c, "wrapped": w, "created_at": now} for c, w in wrapped.items()]
    if session.get_bind().dialect.name == "sqlite":  # the writer holds the database lock: nobody races us
        for contact_id, new_id in zip(wrapped, insert_rows(session, ContactKey, rows), strict=True):
            found[contact_id] = DataKey(new_id, wrapped[contact_id])
        return found
    # Another process may create the same contact's key meanwhile: the unique contact_id decides.
    session.execute(pg_insert(ContactKey).values(rows).on_conflict_do_nothing(index_elements=["contact_id"]))
    found.update({r.contact_id: DataKey(r.id, r.wrapped)
                  for r in _KEYS_OF.rows(connection, {(c,) for c in missing})})
    return found


def data_key(session: Session, keyring: Keyring, contact_id: int) -> DataKey:
    return data_keys(session, keyring, [contact_id])[contact_id]


