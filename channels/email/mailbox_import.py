"""`contactcenter import-mail PATH`: a folder of .eml files, an mbox file or a Maildir, through the same
inbound path as SMTP (``MailIntake.take``), with a progress bar and a JSON summary at the end."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from channels.email.inbox import MailIntake
from channels.email.message_ids import message_id_list

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)
MAX_LISTED = 200  # rejections listed one by one in the summary (all are counted)


def _ids(raw: bytes) -> tuple[str, list[str]]:
    """A message's own Message-ID and the ones it refers to (headers only)."""
    headers = _HEADERS.parsebytes(raw[:65536])
    own = message_id_list(str(headers.get("message-id", "")), 1)
    refs = [i for name in ("in-reply-to", "references") for v in headers.get_all(name, []) for i in
            message_id_list(str(v))]
    return (own[0] if own else ""), refs


def mailbox_format(path: Path) -> str:
    """maildir, eml (a folder of .eml files, or one file), or mbox."""
    if path.is_dir():
        return "maildir" if (path / "cur").is_dir() or (path / "new").is_dir() else "eml"
    if path.suffix.lower() == ".eml":
        return "eml"
    return "mbox"


def iter_mail(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where it came from, raw bytes) for every message at ``path``."""
    kind = mailbox_format(path)
    if kind == "maildir":
        box = mailbox.Maildir(path, factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield f"{path.name}/{key}", box.get_bytes(key)
    elif kind == "eml":
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*.eml") if p.is_file())
        for file in files:
            yield str(file.relative_to(path) if path.is_dir() else file.name), file.read_bytes()
    else:
        mbox = mailbox.mbox(path, create=False)
        for index, key in enumerate(mbox.iterkeys()):
            yield f"{path.name}#{index}", mbox.get_bytes(key)


def count_mail(path: Path) -> int:
    kind = mailbox_format(path)
    if kind == "maildir":
        return len(mailbox.Maildir(path, factory=None, create=False))
    if kind == "eml":
        return 1 if path.is_file() else sum(1 for p in path.rglob("*.eml") if p.is_file())
    return len(mailbox.mbox(path, create=False))


async def import_mail(inbox: MailIntake, path: Path, *, concurrency: int = 16, progress: bool = True) -> dict[str, Any]:
    """Import every message; the summary counts new tickets (imported), replies on existing tickets
    (threaded), duplicates, delivery reports and rejections with their reasons."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    rejected: list[dict[str, str]] = []
    bar = tqdm(total=count_mail(path), unit="msg", disable=not progress, desc="importing")
    queue: asyncio.Queue[tuple[str, bytes, list[asyncio.Event], asyncio.Event] | None] = asyncio.Queue(
        maxsize=concurrency * 2)
    in_import: dict[str, asyncio.Event] = {}  # Message-ID -> set once that message is stored

    async def worker() -> None:
        while (item := await queue.get()) is not None:
            label, raw, earlier, done = item
            for event in earlier:  # a reply waits for the message it answers, so that it can thread to it
                await event.wait()
            try:
                outcome = await inbox.take(raw, mail_from=None, imported=True)
            finally:
                done.set()
            kind = {"ticket": "imported", "reply": "threaded", "duplicate": "duplicates",
                    "bounce": "bounces"}.get(outcome.kind, "rejected")
            counts[kind] += 1
            if kind == "rejected":
                reasons[outcome.reason.split(":", 1)[0] if ":" in outcome.reason else outcome.reason] += 1
                if len(rejected) < MAX_LISTED:
                    rejected.append({"item": label, "reason": outcome.reason, "kept_as": str(outcome.raw_id)})
            bar.update(1)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        for label, raw in iter_mail(path):
            own, refs = _ids(raw)
            done = asyncio.Event()
            if own:
                in_import[own] = done
            await queue.put((label, raw, [in_import[r] for r in refs if r in in_import and r != own], done))
    finally:
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        bar.close()
    return {"source": str(path), "format": mailbox_format(path), "total": sum(counts.values()),
            "imported": counts["imported"], "threaded": counts["threaded"], "duplicates": counts["duplicates"],
            "bounces": counts["bounces"], "rejected": counts["rejected"], "rejected_reasons": dict(reasons),
            "rejections": rejected}
