"""The web page in a real browser (Chromium through Playwright) against a live kura."""
