"""Attachment bytes on disk, addressed by their sha256 (stored once however often they arrive)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

from contactcenter.errors import Unavailable


class StorageUnavailable(Unavailable):
    """The attachment folder cannot be written now."""


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

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

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path(sha256).read_bytes)
