"""One small router per feature."""
