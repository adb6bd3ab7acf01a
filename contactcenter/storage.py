"""Attachment bytes on disk, addressed by the sha256 of the stored file.

With ``encrypt`` on, every file is encrypted (AES-256-GCM) with a random key of its own; the key goes into
the attachment row, sealed with the contact's data key, so destroying that key makes the file unreadable
even in a backup of the data folder. Without it, files are stored as they came (deduplicated by content).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contactcenter.errors import Unavailable
from contactcenter.privacy.keyring import BYTES_PREFIX, NONCE


class StorageUnavailable(Unavailable):
    """The attachment folder cannot be written now."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a file went (``name``: the sha256 of the stored bytes) and its key (base64; None in the clear)."""

    name: str
    key: str | None = None


def encrypt_file(data: bytes) -> tuple[bytes, str]:
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE)
    return BYTES_PREFIX + nonce + AESGCM(key).encrypt(nonce, data, None), base64.b64encode(key).decode("ascii")


def _decrypt(blob: bytes, key: str) -> bytes:
    body = blob[len(BYTES_PREFIX):]
    return AESGCM(base64.b64decode(key)).decrypt(body[:NONCE], body[NONCE:], None)


class AttachmentStore:
    def __init__(self, root: Path, *, encrypt: bool = False) -> None:
        self.root = root
        self.encrypt = encrypt

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def write_blob(self, data: bytes) -> str:
        """Write bytes as they are (synchronously) and return their name; see ``save``."""
        return self._write(data)

    def _write(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            # A temporary name of its own: two saves of the same file at once must not share one.
            tmp = target.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)  # atomic: readers see the whole file or none
            finally:
                tmp.unlink(missing_ok=True)
            folder = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(folder)  # the new name itself survives a crash
            finally:
                os.close(folder)
        return digest

    async def save(self, data: bytes) -> str:
        """Write ``data`` durably (before the database row that refers to it) and return its sha256."""
        try:
            return await asyncio.to_thread(self._write, data)
        except OSError as exc:  # full disk, read-only or missing volume: retry later, nothing is lost
            raise StorageUnavailable(f"cannot store an attachment: {exc}") from exc

    async def store(self, data: bytes) -> StoredFile:
        """Save one file (encrypted with a new key when the store encrypts)."""
        if not self.encrypt:
            return StoredFile(await self.save(data))
        blob, key = encrypt_file(data)
        return StoredFile(await self.save(blob), key)

    async def read(self, sha256: str, key: str | None = None) -> bytes:
        """The file's bytes, decrypted with ``key`` when it was stored encrypted."""
        blob = await asyncio.to_thread(self.path(sha256).read_bytes)
        return _decrypt(blob, key) if key and blob.startswith(BYTES_PREFIX) else blob

    def remove(self, sha256: str) -> None:
        """Delete a stored file (erasure, retention); a missing file is no error."""
        self.path(sha256).unlink(missing_ok=True)
