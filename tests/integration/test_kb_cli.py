"""`contactcenter kb import` and `kb export` on a real database."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from contactcenter.cli import main
from contactcenter.db.engine import Database
from contactcenter.db.models import KbArticle
from contactcenter.settings import Settings


def _run(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("CC_SERVER__DATA_DIR", str(settings.data_path))
    if settings.database.url:
        monkeypatch.setenv("CC_DATABASE__URL", settings.database.url)
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def _articles(settings: Settings) -> list[KbArticle]:
    db = Database(settings.database_url)
    try:
        async with db.read() as session:
            return list((await session.scalars(select(KbArticle).order_by(KbArticle.id))).all())
    finally:
        await db.dispose()


def test_import_export_round_trip(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "card.md").write_text(
        "---\ntitle: کارت من کی می‌رسد؟\nlanguage: fa\ncategory: کارت\nstatus: published\ntags: کارت, ارسال\n"
        "phrasings:\n  - هنوز کارتم نرسیده\n---\n\nکارت‌ها ظرف **۵ روز** ارسال می‌شوند.\n", encoding="utf-8")
    (folder / "refund.md").write_text("# Getting a refund\n\nRefunds take 10 days.\n", encoding="utf-8")
    code, out, _ = _run(settings, monkeypatch, capsys, "kb", "import", str(folder), "--quiet")
    assert code == 0 and json.loads(out.strip().splitlines()[-1]) == {"created": 2, "updated": 0, "unchanged": 0}
    code, out, _ = _run(settings, monkeypatch, capsys, "kb", "import", str(folder), "--quiet")
    assert json.loads(out.strip().splitlines()[-1]) == {"created": 0, "updated": 0, "unchanged": 2}

    articles = asyncio.run(_articles(settings))
    assert [(a.title, a.language, a.status, a.phrasings) for a in articles] == [
        ("کارت من کی می‌رسد؟", "fa", "published", ["هنوز کارتم نرسیده"]),
        ("Getting a refund", "en", "published", []),
    ]

    for target in (tmp_path / "export", tmp_path / "export.csv"):
        code, out, _ = _run(settings, monkeypatch, capsys, "kb", "export", str(target))
        assert code == 0 and json.loads(out.strip()) == {"exported": 2}
        code, out, _ = _run(settings, monkeypatch, capsys, "kb", "import", str(target), "--quiet")
        assert json.loads(out.strip().splitlines()[-1]) == {"created": 0, "updated": 0, "unchanged": 2}

    (folder / "bad.md").write_text("---\ntitle: Bad\nstatus: secret\n---\nbody\n", encoding="utf-8")
    code, _, err = _run(settings, monkeypatch, capsys, "kb", "import", str(folder), "--quiet")
    assert code == 1 and "bad.md" in err
    assert len(asyncio.run(_articles(settings))) == 2  # nothing of the failed import was kept
    (folder / "bad.md").write_text("---\ntitle: Bad\nlanguage: not-a-language\n---\nbody\n", encoding="utf-8")
    code, _, err = _run(settings, monkeypatch, capsys, "kb", "import", str(folder), "--quiet")
    assert code == 1 and "bad.md" in err and "not a language code" in err
    code, _, err = _run(settings, monkeypatch, capsys, "kb", "import", str(tmp_path / "missing"))
    assert code == 1 and "does not exist" in err

