"""Tests for kb.files and `contactcenter kb evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contactcenter.cli import main
from kb.files import ArticleFile, category_title, dump_markdown, read_articles, read_queries


def test_markdown_round_trip(tmp_path: Path) -> None:
    article = ArticleFile(title="بازیابی رمز عبور", body="روی «فراموشی رمز» بزنید.\n\n**مهم**", language="fa",
                          category="account", status="internal", tags=["رمز", "login"],
                          phrasings=["رمزم را فراموش کردم", "cannot log in"])
    (tmp_path / "a.md").write_text(dump_markdown(article), encoding="utf-8")
    (back,) = read_articles(tmp_path)
    assert (back.title, back.body, back.language, back.category, back.status, back.tags, back.phrasings) == (
        article.title, article.body, "fa", "account", "internal", ["رمز", "login"], article.phrasings)


def test_markdown_without_front_matter_takes_the_heading(tmp_path: Path) -> None:
    (tmp_path / "refunds.md").write_text("# How refunds work\n\nWithin 10 days.\n", encoding="utf-8")
    (article,) = read_articles(tmp_path)
    assert (article.title, article.body, article.status) == ("How refunds work", "Within 10 days.", "published")


def test_csv_of_articles_and_of_labelled_questions(tmp_path: Path) -> None:
    articles = tmp_path / "articles.csv"
    articles.write_text("title,body,tags,phrasings\nRefunds,In 10 days,\"billing, money\",money back|refund\n",
                        encoding="utf-8")
    (a,) = read_articles(articles)
    assert (a.title, a.tags, a.phrasings) == ("Refunds", ["billing", "money"], ["money back", "refund"])
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("text,category\nwhere is my card,card_arrival\ncard not here,card_arrival\n",
                        encoding="utf-8")
    (b,) = read_articles(labelled)
    assert (b.title, b.category, b.phrasings) == ("Card arrival", "card_arrival", ["where is my card", "card not here"])
    assert read_queries(labelled)[0] == ("where is my card", "card_arrival")
    assert category_title("lost_or_stolen_card") == "Lost or stolen card"


def test_bad_csv_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="text,category"):
        read_articles(bad)
    with pytest.raises(ValueError, match="text,category"):
        read_queries(bad)


def test_cli_evaluate_prints_accuracy_and_one_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    articles = tmp_path / "train.csv"
    articles.write_text("text,category\nwhere is my card,card_arrival\nmy card has not arrived,card_arrival\n"
                        "I want a refund,refund\nmoney back please,refund\nکارتم کجاست,fa_card\n", encoding="utf-8")
    queries = tmp_path / "queries.csv"
    queries.write_text("text,category\ncard still not arrived,card_arrival\nrefund my money,refund\n"
                       "كارتم كجاست؟,fa_card\nwhat is the weather,oos\n", encoding="utf-8")
    assert main(["kb", "evaluate", "--articles", str(articles), "--queries", str(queries)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["articles"] == 3 and report["queries"] == 4 and report["in_scope"] == 3
    assert report["top1"] == report["top3"] == 1.0
    assert report["auto_precision"] == 1.0
    assert any(line.startswith("top-1 accuracy 1.0000") for line in lines)


def test_cli_evaluate_reports_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "evaluate", "--articles", str(tmp_path / "nope.csv"), "--queries", str(tmp_path)]) == 1
    assert "contactcenter:" in capsys.readouterr().err
