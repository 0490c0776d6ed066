"""What of a web page kura indexes: the document, not its navigation, table of contents or
page chrome, with headings only where the page marks them up (real unstructured, real
chunker)."""

from __future__ import annotations

import pytest

from ingest.chunk import Chunk, chunk_blocks
from ingest.detect import DocType
from ingest.errors import EmptyDocument
from ingest.headings import heading_depth
from ingest.parse import parse_document

# A Sphinx page (the Python docs): a navigation bar above and below, a sidebar with the
# page's own table of contents and "This Page / Show Source", a search box.
SPHINX = """<!DOCTYPE html><html><head><title>Programming FAQ</title></head><body>
<div class="related" role="navigation" aria-label="related navigation"><h3>Navigation</h3>
<ul><li><a href="index.html">3.11.2 Documentation</a> &#187;</li></ul></div>
<div class="document"><div class="body" role="main">
<section id="programming-faq"><h1>Programming FAQ</h1>
<section id="how-do-i-copy"><h2>How do I copy an object in Python?</h2>
<p>Use copy.deepcopy() for a deep copy; sequences can be copied by slicing.</p></section>
<section id="loop-backwards"><h2>How do I iterate over a sequence in reverse order?</h2>
<p>Use the reversed() built-in function.</p></section>
</section></div></div>
<div class="sphinxsidebar" role="navigation" aria-label="main navigation">
<h3>Table of Contents</h3><ul><li><a href="#how-do-i-copy">How do I copy an object in
Python?</a></li><li><a href="#loop-backwards">How do I iterate over a sequence in reverse
order?</a></li></ul><div role="note"><h3>This Page</h3><ul><li>Report a Bug</li>
<li>Show Source</li></ul></div><div id="searchbox" role="search"><h3>Quick search</h3>
</div></div>
<div class="footer">Copyright 2001-2023, Python Software Foundation.</div>
</body></html>"""

# A DocBook page (Debian Reference ja; with the Debian Handbook's Publican banner and bar): a
# chapter's table of contents, previous/next bars, and a list whose items open with a year.
DOCBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><meta charset="UTF-8"/>
<title>第4章認証とアクセスの制御</title></head><body>
<div id="banner"><a href="http://debian-handbook.info/get/">Download the ebook</a></div>
<ul class="docnav top"><li class="previous"><a href="ch03.ja.html">前へ</a></li></ul>
<div class="navheader"><table><tr><th colspan="3">第4章認証とアクセスの制御</th></tr>
<tr><td><a href="ch03.ja.html">前へ</a></td><td><a href="ch05.ja.html">次へ</a></td></tr>
</table></div>
<div class="chapter"><div class="titlepage"><h1 class="title">第4章認証とアクセスの制御</h1></div>
<div class="toc"><p><b>目次</b></p><dl class="toc">
<dt><span class="section"><a href="#_unix_auth">4.1. 通常の Unix 認証</a></span></dt>
<dt><span class="section"><a href="#_good_password">4.3. 良好なパスワード</a></span></dt>
</dl></div>
<div class="section"><h2 class="title">4.1. 通常の Unix 認証</h2>
<p>"/etc/shadow" のエントリーはコロンで区切られ、それぞれ次の意味です。</p>
<div class="itemizedlist"><ul class="itemizedlist">
<li class="listitem"><p> ログイン名 </p></li>
<li class="listitem"><p> 1970 年 1 月 1 日からアカウントが使用不能になる日までの日数 </p></li>
</ul></div></div>
<div class="section"><h2 class="title">4.3. 良好なパスワード</h2>
<p>アカウント作成やパスワード変更の際には、推測されにくいパスワードを選びます。</p></div>
</div>
<div class="navfooter"><table><tr><td><a href="ch03.ja.html">前へ</a></td>
<td>ホーム</td><td><a href="ch05.ja.html">次へ</a></td></tr></table></div>
</body></html>"""


def chunks_of(page: str, name: str) -> list[Chunk]:
    parsed = parse_document(page.encode("utf-8"), DocType.HTML, name)
    return chunk_blocks(parsed.blocks, chunk_size=200, overlap=0, count_tokens=len, max_tokens=512)


def test_a_sphinx_pages_navigation_and_sidebar_are_not_indexed() -> None:
    chunks = chunks_of(SPHINX, "programming.html")
    text = "\n".join(c.text for c in chunks)
    for furniture in (
        "Navigation",
        "Documentation",
        "Table of Contents",
        "This Page",
        "Show Source",
        "Quick search",
        "Copyright",
    ):
        assert furniture not in text, furniture
    assert [c.section[-1] for c in chunks] == [
        "How do I copy an object in Python?",
        "How do I iterate over a sequence in reverse order?",
    ]
    assert "copy.deepcopy()" in chunks[0].text
    assert "reversed()" in chunks[1].text


def test_a_docbook_chapters_table_of_contents_and_bars_are_not_indexed() -> None:
    chunks = chunks_of(DOCBOOK, "ch04.ja.html")
    text = "\n".join(c.text for c in chunks)
    for furniture in ("目次", "前へ", "次へ", "Download the ebook"):
        assert furniture not in text, furniture
    # every chunk says something: no table-of-contents line stands alone as a passage
    assert all(c.text.strip() != c.section[-1] for c in chunks)
    assert [c.section for c in chunks] == [
        ("第4章認証とアクセスの制御", "4.1. 通常の Unix 認証"),
        ("第4章認証とアクセスの制御", "4.3. 良好なパスワード"),
    ]
    # the list item that opens with a year stays in its section's text, not a heading
    assert "1970 年 1 月 1 日からアカウントが使用不能" in chunks[0].text
    assert "推測されにくいパスワード" in chunks[1].text
    assert all(c.language == "ja" for c in chunks)


def test_a_year_or_a_programs_output_is_not_a_numbered_heading() -> None:
    assert heading_depth("1970 年 1 月 1 日からアカウントが使用不能になる日までの日数") is None
    assert heading_depth("2024 Annual maintenance plan") is None
    assert heading_depth("3 3.141593") is None  # R's output, in the R FAQ
    assert heading_depth("2 * x") is None
    assert heading_depth("3.2 「設定」メニュー") == 1


def test_a_wrapped_cross_reference_is_not_a_heading() -> None:
    # lines of the Debian Reference PDF that a wrap left opening with "Section"
    # and of the R FAQ's (GNU Texinfo's "Section N [Title], page P" references)
    for line in (
        "Section 1.4.8.",
        "Section 2.1.5).",
        "Section 1.1.4 and Section 7.8.",
        "Section 2.10 [What is CRAN?], page 9).",
    ):
        assert heading_depth(line) is None, line
    for heading in (
        "Chapter 2",
        "Chapter 2: R Basics",
        "Section 12 Confidentiality",
        "Article 12. Term",
        "Part II Installation",
        "Section 3 保守",
    ):
        assert heading_depth(heading) == 0, heading


def test_a_numbered_question_heads_a_faq_section_but_not_a_checklist_step() -> None:
    assert heading_depth("2.11 Can I use R for commercial purposes?") == 1
    assert heading_depth("3.4 ポンプが動かないのはなぜですか？") == 1
    assert heading_depth("1. Is the power cable connected to the wall socket?") is None
    assert heading_depth("12.3 Torque values") == 1
    assert heading_depth("100 Spare parts") == 0


def test_a_footer_inside_an_article_is_content() -> None:
    page = """<html><body><article><h1>保守契約</h1><p>本契約は保守業務を定める。</p>
    <footer><p>署名: 甲 株式会社キタノ製作所</p></footer></article>
    <footer><p>© 2026 Kitano Intranet</p></footer></body></html>"""
    text = "\n".join(c.text for c in chunks_of(page, "contract.html"))
    assert "株式会社キタノ製作所" in text
    assert "Kitano Intranet" not in text


def test_a_page_that_is_all_furniture_is_reported_empty() -> None:
    page = '<html><body><div role="navigation"><a href="/">Home</a></div></body></html>'
    with pytest.raises(EmptyDocument, match=r"menu\.html"):
        parse_document(page.encode(), DocType.HTML, "menu.html")


# Permalinks beside headings, as documentation generators write them: Sphinx's and MkDocs'
# "¶" (a.headerlink), Docusaurus' zero-width "#" (a.hash-link).
PERMALINKS = """<!DOCTYPE html><html><head><title>プログラミング FAQ</title></head><body>
<div class="body" role="main"><section id="faq">
<h1>プログラミング FAQ<a class="headerlink" href="#faq" title="Link to this heading">¶</a></h1>
<section id="copy"><h2>オブジェクトをコピーするには?<a class="headerlink" href="#copy"
title="この見出しへのパーマリンク">¶</a></h2>
<p>深いコピーには copy.deepcopy() を使います。</p></section>
<section id="reverse"><h2 id="rev">How do I iterate over a sequence in reverse order?<a
class="hash-link" aria-label="Direct link" href="#rev">&#8203;</a></h2>
<p>Use the reversed() built-in function.</p></section>
<section id="mkdocs"><h2 id="bin">How do I read a binary file?<a class="headerlink"
href="#bin" title="Permanent link">&para;</a></h2>
<p>Open it with mode "rb".</p></section>
</section></div></body></html>"""


def test_a_headings_permalink_is_not_part_of_it() -> None:
    parsed = parse_document(PERMALINKS.encode("utf-8"), DocType.HTML, "faq.html")
    assert parsed.title == "プログラミング FAQ"
    chunks = chunks_of(PERMALINKS, "faq.html")
    assert [c.section[-1] for c in chunks] == [
        "オブジェクトをコピーするには?",
        "How do I iterate over a sequence in reverse order?",
        "How do I read a binary file?",
    ]
    text = "\n".join(c.text for c in chunks)
    assert "¶" not in text
    assert "\u200b" not in text
    assert "copy.deepcopy()" in chunks[0].text
