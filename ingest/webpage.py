"""The document in a web page: navigation, tables of contents and page chrome taken out before
the page is parsed.

A manual saved as HTML repeats around every page what is not the page's content: navigation
bars ("Previous / Next / Home"), a sidebar listing the page's questions, a search box, the
chapter's table of contents, a copyright footer. Indexed, they become passages that match
every question about their headings and say nothing (a table-of-contents line "6.3.9. SSH
のトラブルシュート" outranks the section it names), and they fill the answering model's
prompt. unstructured already drops ``<nav>``; this drops what pages mark as navigation or
chrome in other ways, by the page's own markup only (never by guessing from the words):

- ARIA landmark roles (WAI-ARIA 1.2): ``navigation``, ``search``, ``banner`` (the page's
  header) and ``contentinfo`` (its footer); Sphinx's sidebars and bars carry them; and the
  page's footer without the role: a ``<footer>`` (or Sphinx's ``div.footer``) outside every
  article, aside, main and section, which HTML-AAM makes the contentinfo landmark;
- DocBook XSL's chapter tables of contents and navigation bars (``div.toc``,
  ``div.navheader``, ``div.navfooter``; Debian's and many vendors' manuals are DocBook),
  Publican's (``ul.docnav``, ``#banner``: the Debian Handbook, Red Hat's manuals), and
  MediaWiki's table of contents (``#toc``);
- the permalink documentation generators set beside each heading: Sphinx's and MkDocs' "¶"
  (``a.headerlink``), Docusaurus' zero-width "#" (``a.hash-link``). Left in, it ends every
  heading, section path and title ("Why is it called Python?¶").
"""

from __future__ import annotations

import logging

import lxml.etree
import lxml.html

logger = logging.getLogger(__name__)

_LANDMARKS = ("navigation", "search", "banner", "contentinfo")
_CLASSES = ("toc", "navheader", "navfooter", "docnav", "headerlink", "hash-link")
_IDS = ("toc", "banner")


def _has_class(name: str) -> str:
    # XPath 1.0's way to test one class among several
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# A page's footer: HTML-AAM maps a <footer> outside every sectioning element to the
# contentinfo landmark; Sphinx writes its copyright footer as a <div class="footer"> there.
_SECTIONING = "ancestor::article or ancestor::aside or ancestor::main or ancestor::section"
_PAGE_FOOTER = f"(self::footer or {_has_class('footer')}) and not({_SECTIONING})"

_FURNITURE = lxml.etree.XPath(
    "//*["
    + " or ".join(
        [
            *(f"@role='{role}'" for role in _LANDMARKS),
            *map(_has_class, _CLASSES),
            *(f"@id='{name}'" for name in _IDS),
            f"({_PAGE_FOOTER})",
        ]
    )
    + "]"
)


def without_furniture(page: str) -> str:
    """``page`` without the parts its markup marks as navigation or page chrome; ``page``
    unchanged when lxml cannot read it (unstructured then reads it as it can)."""
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(page.encode("utf-8"), parser=parser)
    except (ValueError, lxml.etree.ParserError) as exc:
        logger.debug("page kept whole: %s", exc)
        return page
    found = _FURNITURE(root)
    if not found:
        return page
    for element in found:
        if element.getparent() is not None:  # never the page's root itself
            element.drop_tree()  # its tail text (what follows it) stays
    return lxml.html.tostring(root, encoding="unicode")
