"""Hostile document shapes, generated at run time: big, deep, long or crafted, English and Japanese.

Each builder takes ``scale`` (1.0 = the size a hostile probe of kura used; tests use a small
fraction) and returns the file's bytes. Office files are assembled as ZIP archives directly (the
XML is written as text), so even the full-size ones take seconds to make, not minutes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1 << 20

_CONTENT_TYPES_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
)
_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


@dataclass(frozen=True)
class Hostile:
    """One hostile shape: ``name`` (with the extension a user would give it) and its builder."""

    name: str
    build: Callable[[float], bytes]
    what: str


def _zip(members: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _rels(*targets: tuple[str, str, str]) -> str:
    body = "".join(
        f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>'
        for rid, kind, target in targets
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    return f'{head}<Relationships xmlns="{_RELS_NS}">{body}</Relationships>'


def docx_from_body(body: str, headers: int = 0, header_xml: bytes = b"") -> bytes:
    """A minimal valid DOCX whose document body is ``body`` (WordprocessingML paragraphs), with
    ``headers`` header parts of ``header_xml`` each (all loaded when the file is opened)."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    header = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
    overrides = "".join(
        f'<Override PartName="/word/header{n}.xml" ContentType="{header}"/>' for n in range(headers)
    )
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": _CONTENT_TYPES_HEAD
        + f'<Override PartName="/word/document.xml" ContentType="{main}"/>{overrides}</Types>',
        "_rels/.rels": _rels(("rId1", f"{_DOC_REL}/officeDocument", "word/document.xml")),
        "word/document.xml": '<?xml version="1.0" encoding="UTF-8"?>'
        f'<w:document xmlns:w="{_W}"><w:body>{body}</w:body></w:document>',
    }
    if headers:
        members["word/_rels/document.xml.rels"] = _rels(
            *((f"rIdH{n}", f"{_DOC_REL}/header", f"header{n}.xml") for n in range(headers))
        )
        for n in range(headers):
            members[f"word/header{n}.xml"] = header_xml
    return _zip(members)


def _paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def docx_paragraphs(scale: float) -> bytes:
    """200,000 short paragraphs (full scale), alternating English and Japanese."""
    count = max(1, int(200_000 * scale))
    texts = ("Check the coolant level before each shift.", "始業前に冷却水の量を確認すること。")
    return docx_from_body("".join(_paragraph(f"{i} {texts[i % 2]}") for i in range(count)))


def docx_bomb(scale: float) -> bytes:
    """A ZIP bomb inside kura's archive checks: 100 header parts (full scale) of just under
    10 MiB each, the size below which the compression ratio is not checked, 1,000 MiB in all
    (the limit is 1 GiB). Each is 1.7 million empty paragraphs (~1,000:1, 10 KB zipped); the
    DOCX reader parses every header when it opens the file: ~200 MB of XML tree each."""
    headers = max(1, int(100 * scale))
    size = 10 * MIB - 4096
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:hdr xmlns:w="{_W}">'.encode()
    tail = b"</w:hdr>"
    header_xml = head + b"<w:p/>" * ((size - len(head) - len(tail)) // 6) + tail
    return docx_from_body(_paragraph("保守手順 Maintenance"), headers, header_xml)


def xlsx_rows(scale: float) -> bytes:
    """300,000 rows of three columns (full scale), inline strings, one sheet."""
    count = max(1, int(300_000 * scale))
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rows = "".join(
        f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>HX-{i}</t></is></c>'
        f'<c r="B{i}" t="inlineStr"><is><t>部品 part {i}</t></is></c>'
        f'<c r="C{i}"><v>{i % 97}</v></c></row>'
        for i in range(1, count + 1)
    )
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    book = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES_HEAD
            + f'<Override PartName="/xl/workbook.xml" ContentType="{book}"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{sheet}"/></Types>',
            "_rels/.rels": _rels(("rId1", f"{_DOC_REL}/officeDocument", "xl/workbook.xml")),
            "xl/workbook.xml": f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{ns}" '
            f'xmlns:r="{_DOC_REL}"><sheets><sheet name="Parts" sheetId="1" r:id="rId1"/>'
            "</sheets></workbook>",
            "xl/_rels/workbook.xml.rels": _rels(
                ("rId1", f"{_DOC_REL}/worksheet", "worksheets/sheet1.xml")
            ),
            "xl/worksheets/sheet1.xml": f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<worksheet xmlns="{ns}"><sheetData>{rows}</sheetData></worksheet>',
        }
    )


def pptx_slides(scale: float) -> bytes:
    """2,000 slides (full scale), each with a title and a line of text, made with python-pptx
    from one slide copied as XML."""
    import pptx

    count = max(1, int(2000 * scale))
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Slide SLIDE_NO"
    slide.placeholders[1].text = "Inspect the spindle SLIDE_NO. 主軸を点検する。"
    buffer = io.BytesIO()
    deck.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    slide_xml = members.pop("ppt/slides/slide1.xml").decode()
    slide_rels = members.pop("ppt/slides/_rels/slide1.xml.rels")
    kind = "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"
    types = members["[Content_Types].xml"].decode()
    types = types.replace(f'<Override PartName="/ppt/slides/slide1.xml" ContentType="{kind}"/>', "")
    overrides = "".join(
        f'<Override PartName="/ppt/slides/slide{n}.xml" ContentType="{kind}"/>'
        for n in range(1, count + 1)
    )
    members["[Content_Types].xml"] = types.replace("</Types>", overrides + "</Types>")
    rels = members["ppt/_rels/presentation.xml.rels"].decode()
    presentation = members["ppt/presentation.xml"].decode()
    old_rel = next(
        part for part in rels.split("<Relationship ") if 'Target="slides/slide1.xml"' in part
    )
    rid = old_rel.split('Id="', 1)[1].split('"', 1)[0]
    rels = rels.replace("<Relationship " + old_rel.split("/>", 1)[0] + "/>", "")
    new_rels = "".join(
        f'<Relationship Id="rIdS{n}" Type="{_DOC_REL}/slide" Target="slides/slide{n}.xml"/>'
        for n in range(1, count + 1)
    )
    members["ppt/_rels/presentation.xml.rels"] = rels.replace(
        "</Relationships>", new_rels + "</Relationships>"
    )
    head, rest = presentation.split("<p:sldIdLst>", 1)
    _, tail = rest.split("</p:sldIdLst>", 1)
    ids = "".join(f'<p:sldId id="{256 + n}" r:id="rIdS{n}"/>' for n in range(1, count + 1))
    members["ppt/presentation.xml"] = f"{head}<p:sldIdLst>{ids}</p:sldIdLst>{tail}"
    assert rid  # the template's own slide relation was found and dropped
    for n in range(1, count + 1):
        members[f"ppt/slides/slide{n}.xml"] = slide_xml.replace("SLIDE_NO", str(n))
        members[f"ppt/slides/_rels/slide{n}.xml.rels"] = slide_rels
    return _zip(members)


def markdown_nested(scale: float) -> bytes:
    """A Markdown list nested 2,000 levels deep (full scale)."""
    depth = max(2, int(2000 * scale))
    return "".join(f"{'  ' * i}- level {i} 階層\n" for i in range(depth)).encode()


def markdown_headings(scale: float) -> bytes:
    """10,000 Markdown headings (full scale), each with a line of text, English and Japanese."""
    count = max(1, int(10_000 * scale))
    lines = [
        f"{'#' * (1 + i % 6)} Heading {i} 見出し\n\nThe pump {i} needs oil. ポンプ{i}に給油する。\n"
        for i in range(count)
    ]
    return "\n".join(lines).encode()


def text_numbered_headings(scale: float) -> bytes:
    """10,000 numbered headings (full scale) in plain text, ever deeper: 1, 1.1, 1.1.1, ..."""
    count = max(1, int(10_000 * scale))
    lines = []
    for i in range(count):
        number = ".".join(["1"] * (1 + i % 30))
        lines.append(f"{number} Section {i}\nThe valve {i} must be closed. 弁{i}を閉じる。")
    return "\n".join(lines).encode()


def text_long_line(scale: float) -> bytes:
    """One 3 MB line of English words without punctuation (full scale)."""
    size = max(1000, int(3_000_000 * scale))
    words = b"pump valve coolant spindle housing bolt torque pressure sensor lamp "
    return (words * (size // len(words) + 1))[:size]


def text_long_line_ja(scale: float) -> bytes:
    """One 3 MB line of Japanese without punctuation or spaces (full scale)."""
    size = max(1000, int(3_000_000 * scale))
    phrase = "冷却水ポンプの圧力センサーとスピンドルハウジングのボルトのトルク値"
    text = phrase * (size // len(phrase.encode()) + 1)
    return text.encode()[: size - size % 3]


def text_one_line(scale: float) -> bytes:
    """A 20 MB text on one line (full scale), with sentences."""
    size = max(1000, int(20_000_000 * scale))
    sentence = b"Check the coolant level before each shift. "
    return (sentence * (size // len(sentence) + 1))[:size]


def text_big(scale: float) -> bytes:
    """A 50 MB text of ordinary lines (full scale)."""
    size = max(1000, int(50_000_000 * scale))
    line = "Close the valve before you open the housing. 作業前に弁を閉じること。\n".encode()
    return (line * (size // len(line) + 1))[:size]


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file from its numbered objects (1-based), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def pdf_huge_page(scale: float) -> bytes:
    """A page 14,400 points square (PDF's largest) and no text: an OCR render of it at 200 dpi
    would be a 40,000-pixel-square bitmap (several GB). The page holds one small drawing."""
    side = max(200, int(14_400 * min(1.0, scale * 10)))
    content = b"0 0 1 rg 10 10 100 100 re f"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R >>" % (side, side),
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        ]
    )


def pdf_many_lines(scale: float) -> bytes:
    """One page holding 200,000 text lines without sentence ends (full scale)."""
    count = max(10, int(200_000 * scale))
    ops = [b"BT /F1 1 Tf 1 0 0 1 10 10 Tm 0 -1 TL"]
    ops += [b"(valve %d housing bolt) '" % i for i in range(count)]
    ops.append(b"ET")
    content = b"\n".join(ops)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


_PAGE_SENTENCES = [
    b"Inspect the coolant pump every week.",
    b"Replace the spindle belt after 2,000 hours.",
    b"Check the hydraulic oil level before each shift.",
    b"Clean the chip conveyor at the end of the day.",
    b"Grease the way covers once a month.",
    b"Test the emergency stop button every morning.",
    b"Calibrate the tool length sensor after a crash.",
]


def pdf_many_pages(scale: float) -> bytes:
    """20,000 pages (full scale), each with its own short line of text (seven sentences in
    turn, so that no line repeats on most pages like a running header)."""
    count = max(1, int(20_000 * scale))
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(count):
        sentence = _PAGE_SENTENCES[i % len(_PAGE_SENTENCES)]
        content = b"BT /F1 12 Tf 72 720 Td (%s Page %d.) Tj ET" % (sentence, i)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    return _pdf(objects)


def pdf_grid(scale: float) -> bytes:
    """One page ruled as a 2,000 x 2,000 grid (full scale) over a line of text: a table
    finder sees millions of cells in a 100 KB file."""
    lines = max(4, int(2000 * scale))
    step = 700 / lines
    ops = [b"0.1 w"]
    ops += [b"50 %.3f m 750 %.3f l S" % (50 + i * step, 50 + i * step) for i in range(lines + 1)]
    ops += [b"%.3f 50 m %.3f 750 l S" % (50 + i * step, 50 + i * step) for i in range(lines + 1)]
    ops.append(b"BT /F1 12 Tf 60 770 Td (Spare parts of the HX-400 grid.) Tj ET")
    content = zlib.compress(b"\n".join(ops), 9)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 800 800] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
            + content
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


HOSTILE: list[Hostile] = [
    Hostile("bomb.docx", docx_bomb, "ZIP bomb as DOCX: 100 headers of 10 MiB expanded"),
    Hostile("paragraphs.docx", docx_paragraphs, "200k-paragraph DOCX"),
    Hostile("rows.xlsx", xlsx_rows, "300k-row XLSX"),
    Hostile("slides.pptx", pptx_slides, "2,000-slide PPTX"),
    Hostile("nested.md", markdown_nested, "Markdown list nested 2,000 deep"),
    Hostile("headings.md", markdown_headings, "10k Markdown headings"),
    Hostile("numbered.txt", text_numbered_headings, "10k numbered headings, ever deeper"),
    Hostile("long-line.txt", text_long_line, "3 MB line without punctuation"),
    Hostile("long-line-ja.txt", text_long_line_ja, "3 MB Japanese line without punctuation"),
    Hostile("one-line.txt", text_one_line, "20 MB text on one line"),
    Hostile("big.txt", text_big, "50 MB text"),
    Hostile("huge-page.pdf", pdf_huge_page, "PDF page 14,400 pt square, no text (OCR)"),
    Hostile("many-lines.pdf", pdf_many_lines, "PDF page with 200k lines"),
    Hostile("many-pages.pdf", pdf_many_pages, "PDF of 20,000 pages"),
    Hostile("grid.pdf", pdf_grid, "PDF page ruled as a 2,000 x 2,000 grid"),
]
