"""Column types for encrypted values that read back as plaintext.

A writer hands in a ``SealedStr`` (plaintext + its encrypted form, made by the Keyring with the contact's
data key); the column stores the encrypted form. On every SELECT the column is read together with the
wrapped data key of its row (``key_id`` -> ``contact_keys.wrapped``, a correlated primary-key lookup added
by ``column_expression``), so reads decrypt with no extra round trip wherever the column is selected: ORM
entities and plain column selects alike. A destroyed key reads as an empty string (crypto-erasure).

The Keyring is found on the engine's dialect (``attach_keyring``); a database opened without one writes
plaintext and refuses to read encrypted values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Dialect, Integer, LargeBinary, String, Text, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import column, table, type_coerce
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from contactcenter.privacy.keyring import BYTES_PREFIX, TEXT_PREFIX, Keyring, KeyringError, SealedBytes, SealedStr

_ATTR = "cc_keyring"
_KEYS = table("contact_keys", column("id", Integer), column("wrapped", String))
ERASED = ""  # what a value reads as once its key is destroyed


def attach_keyring(dialect: Dialect, keyring: Keyring | None) -> None:
    setattr(dialect, _ATTR, keyring)


def keyring_of(dialect: Dialect) -> Keyring | None:
    return getattr(dialect, _ATTR, None)


def open_pair(value: str | None, dialect: Dialect) -> str | None:
    """``"<wrapped key>|<stored value>"`` -> plaintext."""
    if value is None:
        return None
    wrapped, _, stored = value.partition("|")
    if not stored.startswith(TEXT_PREFIX):
        return stored
    if not wrapped:
        return ERASED
    keyring = keyring_of(dialect)
    if keyring is None:
        raise KeyringError("an encrypted value was read by a database opened without the keyring")
    return keyring.open_text(wrapped, stored)


class _hex(FunctionElement[str]):
    """Bytes as hexadecimal text, so that they can travel next to their key in one text value."""

    type = Text()
    inherit_cache = True


@compiles(_hex, "postgresql")
def _hex_postgresql(element: _hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"encode({compiler.process(element.clauses, **kw)}, 'hex')"


@compiles(_hex)
def _hex_default(element: _hex, compiler: SQLCompiler, **kw: Any) -> str:
    return f"nullif(hex({compiler.process(element.clauses, **kw)}), '')"  # hex(NULL) is '' in SQLite


def _with_key(col: ColumnElement[Any], value: ColumnElement[Any]) -> ColumnElement[Any] | None:
    """``<wrapped key of the row's key_id>|<value>``, or None when the table has no key_id."""
    owner = getattr(col, "table", None)
    key_id = None if owner is None else owner.c.get("key_id")
    if key_id is None:
        return None
    wrapped = select(_KEYS.c.wrapped).where(_KEYS.c.id == key_id).scalar_subquery()
    return func.coalesce(wrapped, literal_column("''", String)).concat(literal_column("'|'", String)).concat(value)


class _OpenedBytes(TypeDecorator[bytes]):
    """The selected (wrapped key, hexadecimal bytes) pair: decrypts on the way out."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        wrapped, _, encoded = value.partition("|")
        stored = bytes.fromhex(encoded)
        if not stored.startswith(BYTES_PREFIX):
            return stored
        if not wrapped:
            return b""
        keyring = keyring_of(dialect)
        if keyring is None:
            raise KeyringError("an encrypted value was read by a database opened without the keyring")
        return keyring.open_bytes(wrapped, stored)


class _Opened(TypeDecorator[str]):
    """The type of the selected (wrapped key, value) pair: decrypts on the way out."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return open_pair(value, dialect)


class SealedText(TypeDecorator[str]):
    """Text encrypted with the data key named by the row's ``key_id`` column."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.stored if isinstance(value, SealedStr) else value

    def column_expression(self, col: ColumnElement[Any]) -> ColumnElement[Any] | None:
        pair = _with_key(col, col)
        return col if pair is None else type_coerce(pair, _Opened())

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if isinstance(value, str) and value.startswith(TEXT_PREFIX):  # selected without its key (raw SQL)
            raise KeyringError("an encrypted value was selected without its key")
        return value  # type: ignore[no-any-return]


class SealedBinary(TypeDecorator[bytes]):
    """Bytes (raw payloads) encrypted with the data key named by the row's ``key_id`` column."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return value.stored if isinstance(value, SealedBytes) else value

    def column_expression(self, col: ColumnElement[Any]) -> ColumnElement[Any] | None:
        pair = _with_key(col, _hex(col))
        return col if pair is None else type_coerce(pair, _OpenedBytes())

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if isinstance(value, bytes) and value.startswith(BYTES_PREFIX):
            raise KeyringError("an encrypted value was selected without its key")
        return value  # type: ignore[no-any-return]
