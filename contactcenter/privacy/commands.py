"""`contactcenter privacy export | erase | retention | rotate-master-key | encrypt-existing`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contactcenter.actions.audit import SYSTEM
from contactcenter.errors import ActionError
from contactcenter.settings import Settings


def add_parser(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="data protection").add_subparsers(dest="privacy", required=True)
    export = privacy.add_parser("export", help="write everything about a contact to a ZIP file")
    export.add_argument("contact_id", type=int)
    export.add_argument("--out", required=True, help="the ZIP file to write")
    export.add_argument("--internal", action="store_true", help="include internal notes")
    erase = privacy.add_parser("erase", help="erase a contact for good (tickets, messages, files, key)")
    erase.add_argument("contact_id", type=int)
    erase.add_argument("--confirm", type=int, required=True, help="the contact id once more")
    privacy.add_parser("retention", help="anonymize or delete closed tickets past [privacy] retention_days now")
    rotate = privacy.add_parser("rotate-master-key", help="add a master key (key file) and re-wrap every data key "
                                                          "with the newest master key")
    rotate.add_argument("--rewrap-only", action="store_true", help="re-wrap with the newest key, add none")
    privacy.add_parser("encrypt-existing", help="encrypt message bodies and files stored before encryption")
    for sub in privacy.choices.values():
        sub.add_argument("--data-dir")


async def run(settings: Settings, args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    from contactcenter.db.engine import Database
    from contactcenter.db.migrate import upgrade
    from contactcenter.privacy import service
    from contactcenter.privacy.datakeys import keyring_from_settings
    from contactcenter.privacy.keyring import add_key_file_key
    from contactcenter.storage import AttachmentStore
    settings.data_path.mkdir(parents=True, exist_ok=True)
    added = None
    if args.privacy == "rotate-master-key" and not settings.privacy.master_key \
            and not getattr(args, "rewrap_only", False):
        added = add_key_file_key(settings.data_path)
    db = Database(settings.database_url, pool_size=settings.database.pool_size,
                  keyring=keyring_from_settings(settings))
    store = AttachmentStore(settings.data_path / "attachments", encrypt=True)
    try:
        await upgrade(db.engine)
        if args.privacy == "export":
            archive = await service.export_contact(db, store, args.contact_id, actor=SYSTEM, internal=args.internal)
            await asyncio.to_thread(Path(args.out).write_bytes, archive)
            out(json.dumps({"contact_id": args.contact_id, "file": args.out, "bytes": len(archive)}))
        elif args.privacy == "erase":
            if args.confirm != args.contact_id:
                print("contactcenter: --confirm must repeat the contact id", file=sys.stderr)
                return 1
            done = await service.erase_contact(db, store, args.contact_id, actor=SYSTEM)
            out(json.dumps({"contact_id": done.contact_id, "contacts": len(done.contact_ids),
                            "tickets": done.tickets, "messages": done.messages, "calls": done.calls,
                            "files": len(set(done.files)), "raw_payloads": done.raw_payloads,
                            "channel_events": done.channel_events, "articles": done.articles}))
        elif args.privacy == "retention":
            if settings.privacy.retention_days <= 0:
                print("contactcenter: [privacy] retention_days is 0 (keep for ever)", file=sys.stderr)
                return 1
            run_ = await service.run_retention(db, store, settings.privacy)
            out(json.dumps({"tickets": run_.tickets, "messages": run_.messages,
                            "mode": settings.privacy.retention_mode}))
        elif args.privacy == "rotate-master-key":
            count = await service.rotate_master_key(db)
            assert db.keyring is not None
            out(json.dumps({"added_master_key": added, "newest_master_key": db.keyring.newest, "rewrapped": count}))
        else:
            out(json.dumps(await service.seal_existing(db, store)))
        return 0
    except ActionError as exc:
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
