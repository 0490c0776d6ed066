"""Helpers that tests and benchmarks import (fakes at the boundary, no MagicMock)."""
