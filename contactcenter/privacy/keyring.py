"""Envelope encryption: master keys (from configuration) wrap one AES-256-GCM data key per contact.

A stored text value is ``cc1:`` + base64(nonce + ciphertext); stored bytes are ``CC1\\0`` + nonce + ciphertext.
A wrapped data key is ``k<master id>.`` + base64(nonce + wrapped key). Unwrapped data keys are kept in a
bounded LRU cache, keyed by their wrapped form, so the hot path costs one AES-GCM operation per value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TEXT_PREFIX = "cc1:"
BYTES_PREFIX = b"CC1\x00"
NONCE = 12
KEY_FILE = "master_keys"
_WRAP_CONTEXT = b"contactcenter data key"


class KeyringError(ValueError):
    """A master key is missing or malformed, or a value cannot be decrypted with the key given."""


class SealedStr(str):
    """A plaintext string that also carries its encrypted form: the ORM keeps the plaintext, the
    database receives ``stored`` (see contactcenter.db.sealed)."""

    stored: str

    def __new__(cls, plaintext: str, stored: str) -> SealedStr:
        obj = super().__new__(cls, plaintext)
        obj.stored = stored
        return obj


class SealedBytes(bytes):
    """Plaintext bytes that also carry their encrypted form (for raw payloads)."""

    stored: bytes

    def __new__(cls, plaintext: bytes, stored: bytes) -> SealedBytes:
        obj = super().__new__(cls, plaintext)
        obj.stored = stored
        return obj


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise KeyringError("malformed base64") from exc


def parse_master_keys(value: str) -> dict[int, bytes]:
    """``"ID:BASE64,ID:BASE64"`` (or one bare base64 key, id 1) -> {id: 32-byte key}."""
    keys: dict[int, bytes] = {}
    for entry in (e.strip() for e in value.replace("\n", ",").split(",")):
        if not entry:
            continue
        ident, sep, encoded = entry.partition(":")
        if not sep:
            ident, encoded = "1", entry
        if not ident.strip().isdecimal():
            raise KeyringError(f"master key id {ident!r} is not a number")
        key = _unb64(encoded.strip())
        if len(key) != 32:
            raise KeyringError(f"master key {ident} must be 32 bytes (base64 of 32 random bytes)")
        keys[int(ident)] = key
    return keys


def new_master_key() -> str:
    """A fresh master key as written in configuration (base64 of 32 random bytes)."""
    return _b64(secrets.token_bytes(32))


def key_file_keys(data_dir: Path, *, create: bool = True) -> dict[int, bytes]:
    """The master keys kept in the data folder (created 0600 with one key when missing)."""
    path = data_dir / KEY_FILE
    try:
        return parse_master_keys(path.read_text("ascii"))
    except FileNotFoundError:
        if not create:
            return {}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return parse_master_keys(path.read_text("ascii"))
    with os.fdopen(fd, "w") as handle:
        handle.write(f"1:{new_master_key()}\n")
    return parse_master_keys(path.read_text("ascii"))


def add_key_file_key(data_dir: Path) -> int:
    """Append a new master key (the next id) to the data folder's key file; return its id."""
    keys = key_file_keys(data_dir)
    ident = max(keys, default=0) + 1
    path = data_dir / KEY_FILE
    with open(path, "a", encoding="ascii") as handle:
        handle.write(f"{ident}:{new_master_key()}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return ident


class Keyring:
    """Master keys by id (new wraps use the highest id) and a bounded cache of unwrapped data keys."""

    def __init__(self, master_keys: Mapping[int, bytes], cache_size: int = 10_000,
                 reload: Callable[[], Mapping[int, bytes]] | None = None) -> None:
        if not master_keys:
            raise KeyringError("no master key")
        self._masters = {ident: AESGCM(key) for ident, key in master_keys.items()}
        self.newest = max(self._masters)
        self._reload = reload  # where to look again for a master key added after start (the key file)
        self._cipher = functools.lru_cache(maxsize=max(1, cache_size))(self._unwrapped_cipher)

    def _master(self, ident: int) -> AESGCM:
        master = self._masters.get(ident)
        if master is None and self._reload is not None:
            # Another process added a master key and re-wrapped data keys with it: read the keys again.
            # New wraps keep using the newest key known at start until this process restarts.
            for found, key in self._reload().items():
                self._masters.setdefault(found, AESGCM(key))
            master = self._masters.get(ident)
        if master is None:
            raise KeyringError(f"master key {ident} is not configured")
        return master

    @property
    def master_ids(self) -> list[int]:
        return sorted(self._masters)

    # data keys
    def new_wrapped_key(self) -> str:
        """A new random data key, wrapped by the newest master key."""
        return self.wrap(AESGCM.generate_key(bit_length=256))

    def wrap(self, data_key: bytes) -> str:
        nonce = os.urandom(NONCE)
        sealed = self._masters[self.newest].encrypt(nonce, data_key, _WRAP_CONTEXT)
        return f"k{self.newest}.{_b64(nonce + sealed)}"

    def master_id(self, wrapped: str) -> int:
        head, sep, _ = wrapped.partition(".")
        if not sep or not head.startswith("k") or not head[1:].isdecimal():
            raise KeyringError("malformed wrapped data key")
        return int(head[1:])

    def unwrap(self, wrapped: str) -> bytes:
        ident = self.master_id(wrapped)
        master = self._master(ident)
        blob = _unb64(wrapped.partition(".")[2])
        try:
            return master.decrypt(blob[:NONCE], blob[NONCE:], _WRAP_CONTEXT)
        except InvalidTag as exc:
            raise KeyringError(f"data key does not open with master key {ident}") from exc

    def rewrap(self, wrapped: str) -> str:
        """The same data key wrapped by the newest master key (unchanged when it already is)."""
        return wrapped if self.master_id(wrapped) == self.newest else self.wrap(self.unwrap(wrapped))

    def _unwrapped_cipher(self, wrapped: str) -> AESGCM:
        return AESGCM(self.unwrap(wrapped))

    def cipher(self, wrapped: str) -> AESGCM:
        return self._cipher(wrapped)

    def cache_info(self) -> functools._CacheInfo:
        return self._cipher.cache_info()

    # values
    def seal_text(self, wrapped: str, plaintext: str) -> SealedStr:
        nonce = os.urandom(NONCE)
        blob = self.cipher(wrapped).encrypt(nonce, plaintext.encode("utf-8"), None)
        return SealedStr(plaintext, TEXT_PREFIX + _b64(nonce + blob))

    def open_text(self, wrapped: str, stored: str) -> str:
        if not stored.startswith(TEXT_PREFIX):
            return stored  # written before encryption was enabled
        blob = _unb64(stored[len(TEXT_PREFIX):])
        try:
            return self.cipher(wrapped).decrypt(blob[:NONCE], blob[NONCE:], None).decode("utf-8")
        except InvalidTag as exc:
            raise KeyringError("value does not open with its data key") from exc

    def seal_bytes(self, wrapped: str, plaintext: bytes) -> SealedBytes:
        nonce = os.urandom(NONCE)
        return SealedBytes(plaintext, BYTES_PREFIX + nonce + self.cipher(wrapped).encrypt(nonce, plaintext, None))

    def open_bytes(self, wrapped: str, stored: bytes) -> bytes:
        if not stored.startswith(BYTES_PREFIX):
            return stored
        blob = stored[len(BYTES_PREFIX):]
        try:
            return self.cipher(wrapped).decrypt(blob[:NONCE], blob[NONCE:], None)
        except InvalidTag as exc:
            raise KeyringError("value does not open with its data key") from exc


def is_sealed_text(value: str | None) -> bool:
    return value is not None and value.startswith(TEXT_PREFIX)


def is_sealed_bytes(value: bytes | None) -> bool:
    return value is not None and value.startswith(BYTES_PREFIX)
