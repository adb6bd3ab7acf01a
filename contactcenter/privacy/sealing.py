"""Sealing values for storage with the data keys of the contacts they belong to."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contactcenter.privacy.datakeys import DataKey, data_keys, session_keyring
from contactcenter.privacy.keyring import Keyring


class Sealer:
    """The data keys of some contacts, looked up (or created) once per transaction.

    On a database without a keyring every method hands values back unchanged and ``key_id`` is None.
    """

    def __init__(self, keyring: Keyring | None, keys: dict[int, DataKey]) -> None:
        self.keyring = keyring
        self.keys = keys

    @classmethod
    def for_contacts(cls, session: Session, contact_ids: Iterable[int]) -> Sealer:
        keyring = session_keyring(session)
        return cls(keyring, data_keys(session, keyring, contact_ids) if keyring is not None else {})

    @classmethod
    async def for_contact(cls, session: AsyncSession, contact_id: int) -> Sealer:
        return await session.run_sync(lambda s: cls.for_contacts(s, [contact_id]))

    def key_id(self, contact_id: int) -> int | None:
        key = self.keys.get(contact_id)
        return key.id if key is not None else None

    def text(self, contact_id: int, value: str) -> str:
        if self.keyring is None or not value:
            return value
        return self.keyring.seal_text(self.keys[contact_id].wrapped, value)

    def optional_text(self, contact_id: int, value: str | None) -> str | None:
        return None if value is None else self.text(contact_id, value)

    def raw(self, contact_id: int, value: bytes | None) -> bytes | None:
        if self.keyring is None or not value:
            return value or None
        return self.keyring.seal_bytes(self.keys[contact_id].wrapped, value)
