"""kura's write side: parse, chunk, embed and index documents into Qdrant.

Importing this package opts every dependency out of telemetry and hub look-ups. That is the one
thing done at import time, on purpose: unstructured pings an analytics host when *it* is imported
and Hugging Face libraries look up the hub on first use, so the switches must be in the
environment before any of them load, whoever imports them first. Values a user already set win.
"""

import os

_OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
for _name, _value in _OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
