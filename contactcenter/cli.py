"""`contactcenter serve | migrate | demo | import-mail | mail list|show|replay | admin create-user|create-token |
kb evaluate|tune|import|export | telegram set-webhook|poll | privacy export|erase|retention|rotate-master-key|
encrypt-existing`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy import select

from contactcenter.actions.audit import SYSTEM
from contactcenter.ops.logs import setup_logging
from contactcenter.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from contactcenter.db.engine import Database


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    overrides: dict[str, dict[str, object]] = {}
    if getattr(args, "host", None):
        overrides.setdefault("server", {})["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides.setdefault("server", {})["port"] = args.port
    if getattr(args, "data_dir", None):
        overrides.setdefault("server", {})["data_dir"] = args.data_dir
    return settings.with_overrides(overrides) if overrides else settings


async def _with_db(settings: Settings, work: str, **kwargs: object) -> int:
    from contactcenter.db.engine import Database
    from contactcenter.db.migrate import upgrade
    settings.data_path.mkdir(parents=True, exist_ok=True)
    from contactcenter.privacy.datakeys import keyring_from_settings
    db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo,
                  keyring=keyring_from_settings(settings))
    try:
        await upgrade(db.engine)
        if work == "demo":
            from contactcenter.demo import load_demo
            await load_demo(db, settings, out=print)
        elif work == "create-user":
            from contactcenter.auth import do_create_user
            from contactcenter.domain.enums import Role
            async with db.write() as session:
                user = await do_create_user(session, email=str(kwargs["email"]), name=str(kwargs["name"]),
                                            role=Role(str(kwargs["role"])), password=str(kwargs["password"]),
                                            actor=SYSTEM)
            print(f"created {user.role} {user.email} (id {user.id})")
        elif work == "create-token":
            from contactcenter.auth import do_create_token
            from contactcenter.db.models import User
            async with db.write() as session:
                found = await session.scalar(select(User).where(User.email == str(kwargs["email"]).lower()))
                if found is None:
                    print(f"no user with e-mail {kwargs['email']}", file=sys.stderr)
                    return 1
                _, plain = await do_create_token(session, found, str(kwargs["name"]), actor=SYSTEM)
            print(plain)
        return 0
    finally:
        await db.dispose()


async def _with_mail(settings: Settings, work: str, args: argparse.Namespace,
                     out: Callable[[str], object] = print) -> int:
    """The e-mail commands: import a mailbox, list, show or replay kept mail."""
    from contactcenter.app import build_context, mail_intake
    from contactcenter.db.migrate import upgrade
    settings.data_path.mkdir(parents=True, exist_ok=True)
    ctx = build_context(settings)
    try:
        await upgrade(ctx.db.engine)
        inbox = mail_intake(ctx)
        if work == "import":
            from channels.email.mailbox_import import import_mail
            summary = await import_mail(inbox, Path(args.path), concurrency=args.concurrency, progress=not args.quiet)
            out(json.dumps(summary, ensure_ascii=False))
            return 0
        if work == "list":
            for row in await list_kept(ctx.db, args.status, args.limit):
                out(json.dumps(row, ensure_ascii=False))
            return 0
        if work == "show":
            raw = await kept_bytes(ctx.db, args.id)
            if raw is None:
                print(f"contactcenter: no kept mail #{args.id}", file=sys.stderr)
                return 1
            sys.stdout.buffer.write(raw)
            return 0
        ids = args.ids or [int(r["id"]) for r in await list_kept(ctx.db, None, 100_000)
                           if r["status"] in ("unparsable", "rejected")]
        failed = 0
        for row_id in ids:
            try:
                outcome = await inbox.replay(row_id)
            except LookupError as exc:
                print(f"contactcenter: {exc}", file=sys.stderr)
                failed += 1
                continue
            out(json.dumps({"id": row_id, "outcome": outcome.kind, "ticket": outcome.ticket_id,
                            "reason": outcome.reason}, ensure_ascii=False))
        return 1 if failed else 0
    finally:
        await ctx.intake.wait_idle()
        await ctx.db.dispose()


async def list_kept(db: Database, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Kept inbound mail, newest first: id, status, reason, envelope sender, size and when."""
    from sqlalchemy import func

    from contactcenter.db.models import RawInbound
    query = (select(RawInbound.id, RawInbound.status, RawInbound.reason, RawInbound.envelope,
                    func.length(RawInbound.raw).label("size"), RawInbound.created_at)
             .order_by(RawInbound.id.desc()).limit(limit))
    if status:
        query = query.where(RawInbound.status == status)
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return [{"id": r.id, "status": r.status, "reason": r.reason, "mail_from": (r.envelope or {}).get("mail_from"),
             "bytes": r.size, "created_at": r.created_at.isoformat()} for r in rows]


async def kept_bytes(db: Database, row_id: int) -> bytes | None:
    from contactcenter.db.models import RawInbound
    async with db.read() as session:
        raw: bytes | None = await session.scalar(select(RawInbound.raw).where(RawInbound.id == row_id))
    return raw


def event_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop | None:
    """The server's event loop: uvloop's when asked for and installed, else None (aiohttp makes asyncio's)."""
    if not use_uvloop:
        return None
    try:
        import uvloop
    except ImportError:  # Windows, or installed without it
        return None
    return uvloop.new_event_loop()


def _serve(settings: Settings, demo: bool) -> int:
    from contactcenter.app import create_app
    from contactcenter.ops import heap
    if demo:
        asyncio.run(_with_db(settings, "demo"))
    app = create_app(settings)

    async def settle_heap(_app: web.Application) -> None:  # after every start-up step (the on_startup signal's last)
        heap.settle()

    app.on_startup.append(settle_heap)
    print(f"contactcenter listening on http://{settings.server.host}:{settings.server.port} "
          f"(database: {'SQLite in ' + str(settings.data_path) if not settings.database.url else 'PostgreSQL'})")
    try:
        web.run_app(app, host=settings.server.host, port=settings.server.port, print=None,
                    access_log=None, shutdown_timeout=10, loop=event_loop(settings.server.uvloop))
    except SettingsError as exc:  # found at start (e.g. a master key that does not fit the database)
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 2
    return 0


async def _telegram_set_webhook(settings: Settings, url: str | None, new_secret: bool) -> int:
    """Register our webhook with Telegram, with a secret generated here and kept in the data folder."""
    import os
    import secrets

    from channels.telegram.routes import ALLOWED_UPDATES, WEBHOOK_PATH, secret_path, webhook_secret
    from channels.telegram.sender import make_bot
    if not settings.telegram.bot_token:
        print("contactcenter: set telegram.bot_token (CC_TELEGRAM__BOT_TOKEN) first", file=sys.stderr)
        return 2
    secret = "" if new_secret else webhook_secret(settings)
    if not secret:
        secret = secrets.token_urlsafe(48)  # Telegram allows A-Z a-z 0-9 _ - (1-256 characters)
        path = secret_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        print(f"generated a new webhook secret in {path} (restart the server so that it uses it)")
    target = url or settings.base_url + WEBHOOK_PATH
    bot = make_bot(settings)
    async with bot:
        await bot.set_webhook(url=target, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES))
    print(f"Telegram will post updates to {target}")
    return 0


def _telegram_poll(settings: Settings) -> int:
    """The server, plus a task that fetches Telegram updates (no public URL needed)."""
    from channels.telegram.polling import polling_ctx
    from contactcenter.app import create_app
    if not settings.telegram.bot_token:
        print("contactcenter: set telegram.bot_token (CC_TELEGRAM__BOT_TOKEN) first", file=sys.stderr)
        return 2
    app = create_app(settings)
    app.cleanup_ctx.append(polling_ctx)
    print(f"contactcenter listening on http://{settings.server.host}:{settings.server.port}, "
          "polling Telegram for updates (the webhook is removed)")
    web.run_app(app, host=settings.server.host, port=settings.server.port, print=None, access_log=None,
                shutdown_timeout=10)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contactcenter", description=__doc__)
    parser.add_argument("--config", help="a TOML settings file (else $CC_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (migrates the database first)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.add_argument("--demo", action="store_true", help="load the demo data first")
    for name, text in (("migrate", "create or upgrade the database schema"), ("demo", "load the demo data")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--data-dir")
    imp = commands.add_parser("import-mail", help="import a folder of .eml files, an mbox file or a Maildir")
    imp.add_argument("path")
    imp.add_argument("--concurrency", type=int, default=16, help="messages in flight (they share transactions)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument("--data-dir")
    mail = commands.add_parser("mail", help="inbound mail kept for review").add_subparsers(dest="mail", required=True)
    listing = mail.add_parser("list", help="kept mail (unparsable, rejected, bounce, replayed) as JSON lines")
    listing.add_argument("--status", choices=["unparsable", "rejected", "bounce", "replayed"])
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--data-dir")
    show = mail.add_parser("show", help="write one kept mail's raw bytes to standard output")
    show.add_argument("id", type=int)
    show.add_argument("--data-dir")
    replay = mail.add_parser("replay", help="run kept mail through the inbound path again (after a fix)")
    replay.add_argument("ids", type=int, nargs="*", help="ids (default: every unparsable or rejected mail)")
    replay.add_argument("--data-dir")
    admin = commands.add_parser("admin", help="user administration").add_subparsers(dest="admin", required=True)
    create_user = admin.add_parser("create-user", help="create a staff user")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    create_user.add_argument("--password", help="else read from $CC_PASSWORD or asked for")
    create_user.add_argument("--data-dir")
    create_token = admin.add_parser("create-token", help="create an API token for a user; prints it once")
    create_token.add_argument("--email", required=True)
    create_token.add_argument("--name", default="cli")
    create_token.add_argument("--data-dir")
    kb = commands.add_parser("kb", help="knowledge base").add_subparsers(dest="kb", required=True)
    evaluate = kb.add_parser("evaluate", help="rank labelled queries against articles; prints accuracy and speed")
    evaluate.add_argument("--articles", required=True,
                          help="a folder of Markdown files, an articles CSV, or a text,category CSV")
    evaluate.add_argument("--queries", required=True, help="a CSV with columns text,category")
    evaluate.add_argument("--threshold", type=float,
                          help="automatic-answer threshold (default: [kb] thresholds.webform)")
    evaluate.add_argument("--margin", type=float, help="automatic-answer margin (default: [kb])")
    evaluate.add_argument("--embeddings", choices=("auto", "off"),
                          help="semantic similarity from the embeddings extra (default: [kb] embeddings)")
    evaluate.add_argument("--tune", action="store_true",
                          help="fine-tune the model on these articles first (as `kb tune`; nothing is kept)")
    evaluate.add_argument("--tuned", metavar="DIR", help="use the fine-tuned model kept in DIR (from `kb tune --out`)")
    tune = kb.add_parser("tune", help="fine-tune the embeddings model on the published articles' titles and "
                                      "phrasings and keep it in DATA_DIR/kb (docs/kb.md)")
    tune.add_argument("--articles", help="tune on these articles (a folder, articles CSV or text,category CSV) "
                                         "instead of the database's published ones")
    tune.add_argument("--out", metavar="DIR", help="where to keep the model (default: DATA_DIR/kb)")
    tune.add_argument("--steps", type=int, help="training steps (default: kb.finetune.TuneSettings)")
    tune.add_argument("--layers", type=int, help="top transformer layers that learn")
    tune.add_argument("--quiet", action="store_true", help="no progress lines")
    tune.add_argument("--data-dir")
    kb_import = kb.add_parser("import", help="import articles from a folder of Markdown files or a CSV")
    kb_import.add_argument("path")
    kb_import.add_argument("--quiet", action="store_true", help="no progress bar")
    kb_import.add_argument("--data-dir")
    kb_export = kb.add_parser("export", help="write every article as Markdown files (or one CSV if PATH ends in .csv)")
    kb_export.add_argument("path")
    kb_export.add_argument("--data-dir")
    telegram = commands.add_parser("telegram", help="the Telegram bot").add_subparsers(dest="telegram", required=True)
    set_webhook = telegram.add_parser("set-webhook", help="register {public_url}/webhooks/telegram with Telegram, "
                                                          "with a generated secret")
    set_webhook.add_argument("--url", help="the webhook URL (default: server.public_url + /webhooks/telegram)")
    set_webhook.add_argument("--new-secret", action="store_true", help="generate a new secret even if one exists")
    set_webhook.add_argument("--data-dir")
    from contactcenter.privacy.commands import add_parser as add_privacy
    add_privacy(commands)
    poll = telegram.add_parser("poll", help="run the server and fetch updates by polling (development)")
    poll.add_argument("--host")
    poll.add_argument("--port", type=int)
    poll.add_argument("--data-dir")
    return parser


def _kb(settings: Settings, args: argparse.Namespace) -> int:
    if args.kb == "evaluate":
        return _kb_evaluate(settings, args)
    if args.kb == "tune":
        return asyncio.run(_kb_tune(settings, args))
    if args.kb == "import" and not Path(args.path).exists():
        print(f"contactcenter: {args.path} does not exist", file=sys.stderr)
        return 1
    return asyncio.run(_kb_files(settings, args))


async def _kb_files(settings: Settings, args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    """`kb import` and `kb export`, on a migrated database."""
    from contactcenter.db.engine import Database
    from contactcenter.db.migrate import upgrade
    from kb.transfer import export_articles, import_articles
    settings.data_path.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo)
    try:
        await upgrade(db.engine)
        if args.kb == "import":
            try:
                counts = await import_articles(db, Path(args.path), actor=SYSTEM, progress=not args.quiet)
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                print(f"contactcenter: {exc}", file=sys.stderr)
                return 1
            out(json.dumps(counts))
        else:
            out(json.dumps({"exported": await export_articles(db, Path(args.path))}))
        return 0
    finally:
        await db.dispose()


async def _kb_tune(settings: Settings, args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    """`kb tune`: fine-tune on the published articles (or --articles) and keep the model in DATA_DIR/kb."""
    from kb.finetune import tune_and_keep
    folder = Path(args.out) if args.out else settings.data_path / "kb"
    try:
        if args.articles:
            from kb.evaluate import entries_from_files
            from kb.files import read_articles
            entries = entries_from_files(read_articles(Path(args.articles)))
        else:
            from contactcenter.db.engine import Database
            from contactcenter.db.migrate import upgrade
            from kb.library import published_entries
            settings.data_path.mkdir(parents=True, exist_ok=True)
            db = Database(settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo)
            try:
                await upgrade(db.engine)
                entries = await published_entries(db)
            finally:
                await db.dispose()
        progress = None if args.quiet else (lambda step, loss: out(f"step {step}: loss {loss:.4f}"))
        meta = await asyncio.to_thread(tune_and_keep, entries, folder, steps=args.steps, layers=args.layers,
                                       progress=progress)
    except (OSError, ImportError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 1
    out(f"tuned {meta['base']} on {meta['articles']} articles ({meta['texts']} texts) in {meta['seconds']} s; "
        f"kept in {folder}")
    out(json.dumps(meta))
    return 0


def _kb_evaluate(settings: Settings, args: argparse.Namespace, out: Callable[[str], object] = print) -> int:
    from kb.evaluate import entries_from_files, evaluate
    from kb.files import read_articles, read_queries
    try:
        articles = read_articles(Path(args.articles))
        queries = read_queries(Path(args.queries))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 1
    threshold = settings.kb.threshold("webform") if args.threshold is None else args.threshold
    margin = settings.kb.auto_answer_margin if args.margin is None else args.margin
    mode = settings.kb.embeddings if args.embeddings is None else args.embeddings
    encoder = None
    entries = entries_from_files(articles)
    if mode != "off" or args.tune or args.tuned:
        import tempfile

        from kb.embeddings import load_encoder
        from kb.finetune import tune_and_keep
        tuned = Path(args.tuned) if args.tuned else None
        with tempfile.TemporaryDirectory() as folder:
            if args.tune:
                tuned = Path(folder)
                try:
                    meta = tune_and_keep(entries, tuned)
                except (ImportError, RuntimeError, ValueError) as exc:
                    print(f"contactcenter: {exc}", file=sys.stderr)
                    return 1
                out(f"tuned on {meta['articles']} articles ({meta['texts']} texts) in {meta['seconds']} s")
            encoder = load_encoder("auto", tuned=tuned)
    report = evaluate(entries, queries, threshold=threshold, margin=margin, encoder=encoder,
                      semantic_weight=settings.kb.semantic_weight, tuned_threshold=settings.kb.tuned_threshold)
    out(f"articles {report.articles}, queries {report.queries} ({report.in_scope} with an article), "
        f"ranking: {report.ranking}")
    out(f"top-1 accuracy {report.top1:.4f}, top-3 accuracy {report.top3:.4f}")
    out(f"{report.ms_p50:.3f} ms/query (p50), {report.ms_mean:.3f} ms/query (mean)")
    floor = f" ({report.tuned_threshold} for the fine-tuned model)" if report.tuned_threshold is not None else ""
    out(f"automatic answers at threshold {threshold}{floor} and margin {margin}: {report.auto_answered} given, "
        f"precision {report.auto_precision:.4f}, {report.auto_coverage:.4f} of in-scope queries answered rightly")
    out(json.dumps(report.as_dict()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except SettingsError as exc:
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.server.log_level, settings.logging.format)
    if args.command == "serve":
        return _serve(settings, args.demo)
    if args.command == "migrate":
        code = asyncio.run(_with_db(settings, "migrate"))
        print("database schema is up to date")
        return code
    if args.command == "demo":
        return asyncio.run(_with_db(settings, "demo"))
    if args.command == "import-mail":
        if not Path(args.path).exists():
            print(f"contactcenter: {args.path} does not exist", file=sys.stderr)
            return 1
        return asyncio.run(_with_mail(settings, "import", args))
    if args.command == "mail":
        return asyncio.run(_with_mail(settings, args.mail, args))
    if args.command == "kb":
        return _kb(settings, args)
    if args.command == "privacy":
        from contactcenter.privacy.commands import run as run_privacy
        return asyncio.run(run_privacy(settings, args))
    if args.command == "telegram":
        if args.telegram == "poll":
            return _telegram_poll(settings)
        try:
            return asyncio.run(_telegram_set_webhook(settings, args.url, args.new_secret))
        except Exception as exc:  # one line: the operator needs the reason (never the token), not a traceback
            print(f"contactcenter: setting the Telegram webhook failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    if args.admin == "create-user":
        import os
        password = args.password or os.environ.get("CC_PASSWORD") or getpass.getpass("password: ")
        try:
            return asyncio.run(_with_db(settings, "create-user", email=args.email, name=args.name,
                                        role=args.role, password=password))
        except Exception as exc:  # shown as one line: a CLI user needs the reason, not a traceback
            print(f"contactcenter: {exc}", file=sys.stderr)
            return 1
    return asyncio.run(_with_db(settings, "create-token", email=args.email, name=args.name))
