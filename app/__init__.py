"""kura's read side: the HTTP API, retrieval, answering through Ollama, the CLI."""

import ingest  # noqa: F401  (switches telemetry and hub look-ups off before anything loads)
