"""Table rules drawn on a PDF page, read from PDFium's path objects: the straight lines
pdfplumber's ``TableFinder`` turns into cells (see ``ingest.pdf_tables``)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

_RULE_WIDTH = 3.0  # a path this thin (points) in one direction is a rule, filled or stroked
_MIN_RULE = 8.0  # shorter segments are glyph strokes or bullets, not table rules
_AXIS_TOLERANCE = 0.5  # a segment this far from axis-aligned still counts as straight
_TOUCH = 3.0  # rule ends this close (points) meet


def _edge(x0: float, top: float, x1: float, bottom: float) -> dict[str, Any]:
    return {
        "object_type": "line_edge",
        "x0": x0,
        "x1": x1,
        "top": top,
        "bottom": bottom,
        "doctop": top,
        "width": x1 - x0,
        "height": bottom - top,
        "orientation": "h" if bottom - top < x1 - x0 else "v",
    }


def _path_segments(obj: Any) -> Iterator[tuple[float, float, float, float]]:
    """Straight segments of a path object, in page space (x0, y0, x1, y1)."""
    matrix = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, matrix):
        return
    x, y = ctypes.c_float(), ctypes.c_float()
    start = last = (0.0, 0.0)
    for i in range(pdfium_c.FPDFPath_CountSegments(obj)):
        segment = pdfium_c.FPDFPath_GetPathSegment(obj, i)
        pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
        point = (
            matrix.a * x.value + matrix.c * y.value + matrix.e,
            matrix.b * x.value + matrix.d * y.value + matrix.f,
        )
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            start = point
        elif kind == pdfium_c.FPDF_SEGMENT_LINETO:
            yield (*last, *point)
        if pdfium_c.FPDFPathSegment_GetClose(segment):
            yield (*point, *start)
            point = start
        last = point


def _page_edges(page: pdfium.PdfPage) -> list[dict[str, Any]]:
    """Horizontal and vertical rules drawn on the page, in pdfplumber's top-down coordinates."""
    top_y = page.get_mediabox()[3]
    edges = []
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    for index in range(pdfium_c.FPDFPage_CountObjects(page.raw)):
        obj = pdfium_c.FPDFPage_GetObject(page.raw, index)
        if pdfium_c.FPDFPageObj_GetType(obj) != pdfium_c.FPDF_PAGEOBJ_PATH:
            continue
        pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
        width, height = right.value - left.value, top.value - bottom.value
        if width <= _RULE_WIDTH and height >= _MIN_RULE:  # a rule drawn as a thin box or line
            x = (left.value + right.value) / 2
            edges.append(_edge(x, top_y - top.value, x, top_y - bottom.value))
            continue
        if height <= _RULE_WIDTH and width >= _MIN_RULE:
            y = top_y - (top.value + bottom.value) / 2
            edges.append(_edge(left.value, y, right.value, y))
            continue
        pdfium_c.FPDFPath_GetDrawMode(obj, fill_mode, stroke)
        if not stroke.value:
            continue  # a filled box: shading behind code or a cell, not a rule
        for x0, y0, x1, y1 in _path_segments(obj):
            if abs(y0 - y1) <= _AXIS_TOLERANCE and abs(x1 - x0) >= _MIN_RULE:
                edges.append(_edge(min(x0, x1), top_y - y0, max(x0, x1), top_y - y0))
            elif abs(x0 - x1) <= _AXIS_TOLERANCE and abs(y1 - y0) >= _MIN_RULE:
                edges.append(_edge(x0, top_y - max(y0, y1), x0, top_y - min(y0, y1)))
    return edges


def has_rules(page: pdfium.PdfPage) -> bool:
    """Whether the page draws enough straight rules to hold a table: the cheap pre-check."""
    horizontal = vertical = 0
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    fill_mode, stroke = ctypes.c_int(), ctypes.c_int()
    # Every object on the page is visited (text too), so the C calls are bound once.
    get_object, get_type = pdfium_c.FPDFPage_GetObject, pdfium_c.FPDFPageObj_GetType
    get_bounds, path = pdfium_c.FPDFPageObj_GetBounds, pdfium_c.FPDF_PAGEOBJ_PATH
    raw = page.raw
    for index in range(pdfium_c.FPDFPage_CountObjects(raw)):
        obj = get_object(raw, index)
        if get_type(obj) != path:
            continue
        get_bounds(obj, left, bottom, right, top)
        width, height = right.value - left.value, top.value - bottom.value
        if height <= _RULE_WIDTH and width >= _MIN_RULE:
            horizontal += 1
        elif width <= _RULE_WIDTH and height >= _MIN_RULE:
            vertical += 1
        else:
            pdfium_c.FPDFPath_GetDrawMode(obj, fill_mode, stroke)
            if stroke.value:  # a box or a whole grid in one path
                segments = pdfium_c.FPDFPath_CountSegments(obj) // 2
                horizontal += segments
                vertical += segments
        if horizontal >= 3 and vertical >= 1:
            return True
    return False


def _close_open_sides(edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Side rules for tables ruled only between columns: at the ends of their row rules."""
    horizontal = [e for e in edges if e["orientation"] == "h"]
    vertical = [e for e in edges if e["orientation"] == "v"]
    groups: list[list[dict[str, Any]]] = []
    for v in vertical:
        crossed = [
            h
            for h in horizontal
            if h["x0"] + _TOUCH < v["x0"] < h["x1"] - _TOUCH
            and v["top"] - _TOUCH <= h["top"] <= v["bottom"] + _TOUCH
        ]
        if not crossed:
            continue
        ids = {id(h) for h in crossed}
        joined = [g for g in groups if any(id(h) in ids for h in g)]
        merged = [h for g in joined for h in g if id(h) not in ids] + crossed
        groups = [g for g in groups if g not in joined] + [merged]
    sides = []
    for group in groups:
        # A side at every left or right end shared by two or more rules, over their span.
        for key in ("x0", "x1"):
            ends: dict[int, list[float]] = {}
            for h in group:
                ends.setdefault(round(h[key]), []).append(h["top"])
            for x, tops in ends.items():
                if len(tops) >= 2:
                    sides.append(_edge(x, min(tops), x, max(tops)))
    return edges + sides
