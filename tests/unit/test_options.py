"""The option dataclasses take their defaults and values from the settings, stated once there."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from ingest.parse import ParseOptions
from ingest.prepare import PrepareOptions
from ingest.settings import IndexSettings
from ingest.worker import ParseLimits

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, **values: object) -> IndexSettings:
    return IndexSettings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg,arg-type]


def test_parse_options_default_to_the_settings_defaults(tmp_path: Path) -> None:
    assert ParseOptions() == _settings(tmp_path).parse_options
    assert ParseOptions().ocr_languages == IndexSettings.model_fields["ocr_languages"].default


def test_parse_options_keep_positional_and_keyword_overrides() -> None:
    assert ParseOptions("unstructured").pdf_parser == "unstructured"
    options = ParseOptions(ocr=False, ocr_languages="jpn")
    assert (options.ocr, options.ocr_languages, options.pdf_tables) == (False, "jpn", True)


def test_prepare_options_from_settings(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        chunk_size=120,
        chunk_overlap=20,
        max_document_chunks=7,
        ocr=False,
        ocr_languages="jpn",
    )
    options = PrepareOptions.from_settings(settings, max_tokens=256, model_dir="/models/ja")
    assert options == PrepareOptions(
        parse=ParseOptions(ocr=False, ocr_languages="jpn"),
        chunk_size=120,
        chunk_overlap=20,
        max_tokens=256,
        model_dir="/models/ja",
        max_chunks=7,
    )
    # a worker process receives it pickled
    assert pickle.loads(pickle.dumps(options)) == options


def test_prepare_options_max_chunks_defaults_to_the_setting() -> None:
    options = PrepareOptions(ParseOptions(), 200, 30, 256, "/models/en")
    assert options.max_chunks == IndexSettings.model_fields["max_document_chunks"].default


def test_parse_limits_from_settings(tmp_path: Path) -> None:
    limits = ParseLimits.from_settings(_settings(tmp_path, parse_timeout=12.5, parse_memory_mb=512))
    assert limits == ParseLimits(seconds=12.5, memory_mb=512)
    assert limits.memory_bytes == 512 * 2**20
