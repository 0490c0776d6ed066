"""Clause labels, cross references and defined terms, on real licences nobody here wrote.

Apache-2.0 comes from data/samples; GPL-3.0 and the Japanese licences from ScanCode's licence
database, the licensedcode-data package (a dev dependency): Creative Commons BY-SA 2.1 Japan
(第1条…第9条, 「…」とは…をいう。, 第7条b) and a Brother Industries licence (（以下…といいます）,
前号).
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from pathlib import Path

import pytest

from ingest.legal import (
    clause_label,
    clause_path,
    find_definitions,
    find_references,
    join_label,
    paragraph_labels,
    resolve_relative,
    terms_used,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _scancode(relative: str) -> str:
    """A licence text from licensedcode-data, YAML front matter dropped, NFKC-normalised."""
    spec = importlib.util.find_spec("licensedcode")
    assert spec is not None, "licensedcode-data is a dev dependency"
    assert spec.submodule_search_locations is not None
    root = Path(next(iter(spec.submodule_search_locations)))
    raw = (root / "data" / relative).read_text(encoding="utf-8")
    return unicodedata.normalize("NFKC", raw.split("---", 2)[2])


def _sections(text: str, heading: str) -> dict[str, str]:
    """The text split at lines matching ``heading``, keyed by each part's clause label."""
    parts = re.split(rf"\n(?={heading})", text)
    return {label: part for part in parts[1:] if (label := clause_label(part.strip()))}


@pytest.fixture(scope="module")
def apache() -> str:
    return (REPO / "data" / "samples" / "apache-license-2.0.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def gpl3() -> str:
    return _scancode("licenses/gpl-3.0.LICENSE")


@pytest.fixture(scope="module")
def cc_jp() -> str:
    return _scancode("licenses/cc-by-sa-2.1-jp.LICENSE")


# --- real texts --------------------------------------------------------------------------


def test_apache_definitions(apache: str) -> None:
    definitions = find_definitions(apache)
    for term in ("License", "Licensor", "Legal Entity", "You", "Your", "Source", "Object"):
        assert term in definitions, term
    for term in ("Work", "Derivative Works", "Contribution", "Contributor", "control"):
        assert term in definitions, term
    assert definitions["Licensor"].startswith('"Licensor" shall mean the copyright owner')
    assert definitions["Your"] == definitions["You"]  # "You" (or "Your") shall mean
    assert "NOTICE" not in definitions  # quoted, but not defined
    assert all(len(sentence) <= 402 for sentence in definitions.values())
    assert "\n" not in definitions["Legal Entity"]


def test_apache_section_4_and_its_subclauses(apache: str) -> None:
    sections = _sections(apache, r"   \d+\. ")
    assert list(sections)[:4] == ["Section 1", "Section 2", "Section 3", "Section 4"]
    body = sections["Section 4"].split("\n", 1)[1]  # the body, without "4. Redistribution."
    subclauses = paragraph_labels(body)
    assert [s.label for s in subclauses] == ["(a)", "(b)", "(c)", "(d)"]
    b = subclauses[1]
    assert body[b.start :].startswith("(b) You must cause")
    assert join_label("Section 4", b.label) == "Section 4(b)"
    assert clause_path(("Apache License", "4. Redistribution.", "(b)")) == "Section 4(b)"


def test_apache_references_and_terms(apache: str) -> None:
    definitions = find_definitions(apache)
    expected = [f"Section {n}" for n in range(1, 10)]  # "Sections 1 through 9"
    assert find_references(definitions["License"]) == expected
    grant = _sections(apache, r"   \d+\. ")["Section 2"]
    assert "Subject to the terms and conditions of this License" in " ".join(grant.split())
    assert find_references(grant) == []
    a_clause = "(a) You must give any other recipients of the Work or\n Derivative Works a copy"
    assert terms_used(a_clause, definitions) == ["You", "Work", "Derivative Works"]


def test_gpl3_definitions_use_refers_to_and_means(gpl3: str) -> None:
    definitions = find_definitions(gpl3)
    assert definitions["This License"] == (
        '"This License" refers to version 3 of the GNU General Public License.'
    )
    assert definitions["The Program"].startswith('"The Program" refers to any copyrightable')
    for term in ("covered work", "you", "modify", "convey", "Corresponding Source"):
        assert term in definitions, term
    assert "Appropriate Legal Notices" not in definitions  # "displays ... to the extent"


def test_gpl3_subsection_references_match_the_subclause_labels(gpl3: str) -> None:
    sections = _sections(gpl3, r"  \d+\. ")
    assert "Section 0" in sections
    assert "Section 17" in sections
    conveying = sections["Section 6"].split("\n", 1)[1]
    labels = [join_label("Section 6", s.label) for s in paragraph_labels(conveying)]
    assert labels == [f"Section 6({x})" for x in "abcde"]
    references = find_references(conveying)
    assert "Section 6(b)" in references  # "in accord with subsection 6b"
    assert "Section 6(d)" in references
    assert find_references(sections["Section 17"]) == ["Section 15", "Section 16"]


def test_cc_jp_articles_and_definitions(cc_jp: str) -> None:
    articles = _sections(cc_jp, r"第\d+条")
    assert list(articles) == [f"第{n}条" for n in range(1, 10)]
    definitions = find_definitions(cc_jp)
    assert (
        definitions["許諾者"]
        == "「許諾者」とは、この利用許諾の条項の下で本作品を提供する個人又は団体をいう。"
    )
    assert definitions["二次的著作物"].startswith("「二次的著作物」とは、著作物を翻訳し")
    for term in ("あなた", "原著作者", "本作品", "ライセンス要素"):  # 「…」とは
        assert term in definitions, term
    for term in ("この利用許諾", "本著作物", "編集著作物等"):  # （以下「…」という。）
        assert term in definitions, term
    assert "以下「本著作物」という" in definitions["本著作物"]


def test_cc_jp_references_resolve_to_article_labels(cc_jp: str) -> None:
    articles = _sections(cc_jp, r"第\d+条")
    # （第7条bに定める期間） names sub-clause b of 第7条, which paragraph_labels finds there
    assert find_references(articles["第3条"], "第3条") == ["第7条(b)"]
    sub_b = paragraph_labels(articles["第7条"])[1]
    assert join_label("第7条", sub_b.label) == "第7条(b)"
    assert find_references(articles["第5条"], "第5条") == ["第3条", "第4条"]
    # 第1条、第2条、第4条から第9条は…存続する
    survivors = ["第1条", "第2条", "第4条", "第5条", "第6条", "第8条", "第9条"]
    assert find_references(articles["第7条"], "第7条") == survivors
    # 著作権法第30条〜49条, 第18条2項〜4項、第19条…: the Copyright Act's articles, not these
    assert find_references(articles["第2条"], "第2条") == []


def test_cc_jp_terms_used(cc_jp: str) -> None:
    definitions = find_definitions(cc_jp)
    limits = _sections(cc_jp, r"第\d+条")["第5条"]
    used = terms_used(limits, definitions)
    for term in ("あなた", "この利用許諾", "本作品", "二次的著作物", "編集著作物等", "本著作物"):
        assert term in used, term


def test_brother_licence_unquoted_terms_and_preceding_item() -> None:
    text = _scancode("rules/proprietary-license_and_gpl-2.0_4.RULE")
    definitions = find_definitions(text)
    for term in ("本ソフトウェア", "ブラザー", "お客様", "GPL対象モジュール", "GPLv2"):
        assert term in definitions, term  # （以下単に本ソフトウェアといいます）
    subclauses = paragraph_labels(text)
    item = next(i for i, s in enumerate(subclauses) if "前号" in text[s.start :].split("\n")[0])
    this, previous = subclauses[item], subclauses[item - 1]
    assert this.label == "(3)(3)"
    line = text[this.start :].split("\n")[0]
    assert find_references(line, this.label) == [previous.label]  # 前号に基づく


# --- each pattern --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "label"),
    [
        ("Article 12", "Article 12"),
        ("ARTICLE IV - PAYMENT", "Article 4"),
        ("Section 12.3 Confidentiality", "Section 12.3"),
        ("12.3.1 Scope", "Section 12.3.1"),
        ("4. Redistribution. You may reproduce", "Section 4"),
        ("4(b)", "Section 4(b)"),
        ("Clause 5", "Section 5"),
        ("§ 3", "Section 3"),
        ("Exhibit A", "Exhibit A"),
        ("(b)", "(b)"),
        ("b. 「許諾者」とは", "(b)"),
        ("a) Convey the object code", "(a)"),
        ("第12条", "第12条"),
        ("第十二条(秘密保持)", "第12条"),
        ("第二十一条", "第21条"),
        ("第12条第3項", "第12条第3項"),
        ("第12条の2", "第12条の2"),
        ("第3項", "第3項"),
        ("第2号", "第2号"),
        ("第4章 総則", "第4章"),
        ("1.本ソフトウェアは", "Section 1"),
        ("Apache License", None),
        ("2004 was a good year", None),
        ("(定義)", None),
    ],
)
def test_clause_label(heading: str, label: str | None) -> None:
    assert clause_label(heading) == label


@pytest.mark.parametrize(
    ("path", "label"),
    [
        (("第4章 秘密保持", "第12条(秘密情報)", "第3項", "第2号"), "第12条第3項第2号"),
        (("第十二条", "第3項"), "第12条第3項"),
        (("Section 4", "(b)", "(iii)"), "Section 4(b)(iii)"),
        (("Article 5", "Section 5.2"), "Section 5.2"),
        (("Section 12.3", "12.3.1 Notice"), "Section 12.3.1"),
        (("Apache License", "APPENDIX: How to apply"), None),
    ],
)
def test_clause_path(path: tuple[str, ...], label: str | None) -> None:
    assert clause_path(path) == label


def test_english_references() -> None:
    text = (
        "Subject to Section 9 and as set forth in Section 4(b), under Article XII, "
        "Sections 3 and 4 apply; see also Section 7(a) and (c), §§ 10-12 and subsection 6b."
    )
    assert find_references(text) == [
        "Section 9", "Section 4(b)", "Article 12", "Section 3", "Section 4",
        "Section 7(a)", "Section 7(c)", "Section 10", "Section 11", "Section 12",
        "Section 6(b)",
    ]  # fmt: skip
    assert find_references("as provided in paragraph (c)", "Section 4(a)") == ["Section 4(c)"]
    assert find_references("as provided in paragraph (c)") == []  # relative, nothing to resolve


def test_japanese_references() -> None:
    text = "第十二条第3項及び第14条の規定にかかわらず、前条及び前項に定める場合を除く。"
    assert find_references(text) == ["第12条第3項", "第14条"]
    assert find_references(text, "第15条第2項") == ["第12条第3項", "第14条", "第15条第1項"]
    assert find_references("前条の規定", "第15条") == ["第14条"]
    assert find_references("第2項及び第3号", "第15条第4項") == ["第15条第2項", "第15条第4項第3号"]
    assert find_references("民法第415条及び第416条、法律第89号") == []
    assert find_references("第4条から第6条まで") == ["第4条", "第5条", "第6条"]


def test_a_heading_is_not_a_reference_to_itself() -> None:
    assert find_references("第7条 終了\n第3条の規定により終了する。") == ["第3条"]
    assert find_references("Section 4. Fees\nFees are due under Section 2.") == ["Section 2"]


@pytest.mark.parametrize(
    ("ref", "current", "targets"),
    [
        ("前条", "第12条第3項", ["第11条"]),
        ("次条", "第12条", ["第13条"]),
        ("前条", "第12条の2", ["第12条"]),
        ("前項", "第12条第3項", ["第12条第2項"]),
        ("前項", "第12条", []),  # the first paragraph has none before it
        ("前各項", "第5条第3項", ["第5条第1項", "第5条第2項"]),
        ("前号", "第5条第2項第3号", ["第5条第2項第2号"]),
        ("前二条", "第10条", ["第8条", "第9条"]),
        ("第2項", "第12条第3項", ["第12条第2項"]),
        ("(ii)", "Section 4(b)(i)", ["Section 4(b)(ii)"]),
        ("(c)", "Section 4(b)(ii)", ["Section 4(c)"]),
        ("Section 9", "第12条", ["Section 9"]),
        ("前条", "Section 4", []),
    ],
)
def test_resolve_relative(ref: str, current: str, targets: list[str]) -> None:
    assert resolve_relative(ref, current) == targets


def test_paragraph_labels_japanese_paragraphs_and_items() -> None:
    body = (
        "甲は乙に通知する。\n2 乙は、次の各号に掲げる事項を守る。\n"
        "一 秘密の保持\n二 目的外使用の禁止\n3 前項の規定は…"
    )
    found = paragraph_labels(body)
    assert [(s.marker, s.label) for s in found] == [
        ("", "第1項"),
        ("2", "第2項"),
        ("一", "第2項第1号"),
        ("二", "第2項第2号"),
        ("3", "第3項"),
    ]
    assert body[found[2].start :].startswith("一 秘密")
    assert join_label("第12条", found[3].label) == "第12条第2項第2号"


def test_paragraph_labels_english_nesting() -> None:
    body = "Intro:\n(a) first;\n  (i) one;\n  (ii) two;\n(b) second;\n(h) eighth;\n(i) ninth;\n"
    labels = [s.label for s in paragraph_labels(body)]
    assert labels == ["(a)", "(a)(i)", "(a)(ii)", "(b)", "(h)", "(i)"]  # (i) after (h) is a letter
    assert paragraph_labels("Fees are due in 30 days (see below).\nNo marker here.") == []


def test_definitions_synthetic() -> None:
    english = (
        'This Master Agreement (the "Agreement") is made by Acme Inc. ("Supplier").\n'
        "“Confidential Information” shall mean any information marked confidential."
    )
    definitions = find_definitions(english)
    assert set(definitions) == {"Agreement", "Supplier", "Confidential Information"}
    assert definitions["Confidential Information"].startswith("“Confidential Information” shall")
    japanese = (
        "株式会社A(以下「甲」という。)と株式会社B(以下「乙」という。)は、次のとおり契約する。\n"
        "本契約において「秘密情報」とは、甲が乙に開示する一切の情報をいう。"
    )
    definitions = find_definitions(japanese)
    assert set(definitions) == {"甲", "乙", "秘密情報"}
    assert (
        definitions["秘密情報"]
        == "本契約において「秘密情報」とは、甲が乙に開示する一切の情報をいう。"
    )
    assert definitions["甲"].endswith("次のとおり契約する。")


def test_terms_used() -> None:
    terms = ["Work", "Derivative Works", "Licensor", "covered work", "秘密情報", "甲"]
    text = "A covered work, or the work of the Licensor's, and Derivative Works thereof."
    assert terms_used(text, terms) == ["covered work", "Licensor", "Derivative Works"]
    assert terms_used("Covered works and Works.", terms) == ["covered work", "Work"]
    assert terms_used("乙は秘密情報を甲に返還する。", terms) == ["秘密情報", "甲"]
