"""Builds a folder with one document of every supported type, English and Japanese.

The office files are written with the same libraries unstructured reads them with
(python-docx, python-pptx, openpyxl); the PDFs are real pages of Debian Reference from data/.
"""

from __future__ import annotations

import shutil
from email.message import EmailMessage
from pathlib import Path

import docx
import openpyxl
import pptx
from docx.enum.text import WD_BREAK
from docx.oxml import OxmlElement

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"

# A Japanese contract whose first clause is longer than the embedding model reads (256 word
# pieces), so chunking must split it, and must do so at sentence ends.
JA_CONTRACT_SENTENCES = [
    "本契約は、甲が乙に対して工作機械HX-400の保守業務を委託し、乙がこれを受託することに関する基本的事項を定めることを目的とする。",
    "乙は、保守業務の実施にあたり、甲の定める安全規則を遵守しなければならない。",
    "乙は、定期点検を毎月第一営業日に実施し、その結果を書面により甲に報告するものとする。",
    "点検の結果、部品の交換が必要と認められた場合、乙は速やかに甲に通知し、甲の承認を得た上で交換作業を行う。",
    "緊急の故障が発生した場合、乙は甲からの連絡を受けてから四時間以内に現地に到着しなければならない。",
    "乙が前項の期限を守れなかった場合、甲は保守料金の減額を請求することができる。",
    "保守業務に用いる消耗品の費用は、別段の定めがない限り乙の負担とする。",
    "乙は、保守業務を第三者に再委託する場合、事前に甲の書面による承諾を得なければならない。",
]


def _docx(path: Path) -> None:
    document = docx.Document()
    document.add_heading("HX-400 Maintenance Manual", level=1)
    document.add_heading("Fault codes", level=2)
    document.add_paragraph(
        "Error E-417 means the coolant temperature sensor reports overheating. "
        "Stop the spindle, let the machine cool for ten minutes and check the coolant pump."
    )
    document.add_paragraph("Error E-212 means the door interlock is open.")
    table = document.add_table(rows=1, cols=3)
    for cell, name in zip(table.rows[0].cells, ("Code", "Meaning", "Action"), strict=True):
        cell.text = name
    for row in (
        ("E-101", "Low lubricant pressure", "Refill the way lubricant tank"),
        ("E-417", "Coolant overheating", "Stop the spindle and check the coolant pump"),
    ):
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    heading = document.add_heading("Torque values", level=2)
    # DOCX has no pages of its own; Word records where its layout broke pages with
    # w:lastRenderedPageBreak, and that is what unstructured reads page numbers from.
    heading.runs[0]._r.insert(0, OxmlElement("w:lastRenderedPageBreak"))
    document.add_paragraph("Tighten the spindle housing bolts to 48 Nm in a star pattern.")
    document.save(path)


def _pptx(path: Path) -> None:
    deck = pptx.Presentation()
    for title, body in [
        ("Safety briefing", "Wear eye protection whenever the HX-400 enclosure is open."),
        ("Daily checks", "Check the hydraulic oil level before the first shift every day."),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(path)


def _xlsx(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Spare parts"
    sheet.append(["Part number", "Description", "Stock"])
    sheet.append(["HX-7731", "Coolant pump impeller", 4])
    sheet.append(["HX-8810", "Spindle belt", 2])
    book.save(path)


def _eml(path: Path) -> None:
    message = EmailMessage()
    message["From"] = "service@example.com"
    message["To"] = "plant@example.com"
    message["Subject"] = "Firmware update for HX-400"
    message["Date"] = "Mon, 02 Nov 2026 09:00:00 +0900"
    message.set_content(
        "Firmware version 3.2 fixes the false E-417 alarms reported after power loss. "
        "Install it during the next planned stop."
    )
    path.write_bytes(bytes(message))


def _ja_contract(path: Path) -> None:
    text = "\n".join(
        [
            "保守業務委託契約書",
            "",
            "第1条(目的)",
            "".join(JA_CONTRACT_SENTENCES * 2),
            "",
            "第2条(契約期間)",
            "本契約の有効期間は、2026年4月1日から2027年3月31日までの一年間とする。",
            "",
        ]
    )
    path.write_bytes(text.encode("shift_jis"))


def build_corpus(folder: Path) -> Path:
    """Write the corpus into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for sample in SAMPLES.iterdir():
        shutil.copy(sample, folder / sample.name)
    _docx(folder / "hx400-manual.docx")
    _pptx(folder / "safety-briefing.pptx")
    _xlsx(folder / "spare-parts.xlsx")
    _eml(folder / "firmware-notice.eml")
    _ja_contract(folder / "保守契約.txt")
    (folder / "guide.html").write_text(
        "<html><head><title>Operator guide</title></head><body>"
        "<h1>Operator guide</h1><h2>Starting the machine</h2>"
        "<p>Turn the main switch to ON and wait for the green READY lamp before loading a part.</p>"
        "<h2>操作パネル</h2><p>非常停止ボタンを押すと、すべての軸が直ちに停止します。</p>"
        "<h2>故障コード</h2><table><caption>故障コード表</caption>"
        "<tr><th>コード</th><th>内容</th><th>処置</th></tr>"
        "<tr><td>E-501</td><td>油圧低下</td><td>作動油を補充する</td></tr>"
        "<tr><td>E-502</td><td>油温上昇</td><td>冷却ファンを点検する</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    (folder / "changelog.md").write_text(
        "# Changelog\n\n## Version 3.2\n\nThe coolant pump now restarts automatically after a "
        "power loss.\n\n## Version 3.1\n\nAdded the E-212 door interlock message.\n",
        encoding="utf-8",
    )
    return folder
