#!/usr/bin/env bash
# Vendors the web page's two libraries from npm into app/static/vendor/ (kura serves them
# itself: nothing from a CDN, the CSP stays script-src 'self'). Run it to update; bump the
# versions here and in app/static/vendor/README.md, then rerun tests/browser.
set -euo pipefail
MARKDOWN_IT=15.0.3
DOMPURIFY=3.5.0
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/app/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "markdown-it@$MARKDOWN_IT" "dompurify@$DOMPURIFY" >/dev/null
mkdir -p "$out"
# The ES module builds, without the source-map line (the maps are not vendored).
sed '/^\/\/# sourceMappingURL=/d' node_modules/markdown-it/dist/browser/markdown-it.esm.min.mjs >"$out/markdown-it.js"
sed '/^\/\/# sourceMappingURL=/d' node_modules/dompurify/dist/purify.es.mjs >"$out/purify.js"
cp node_modules/markdown-it/LICENSE "$out/markdown-it.LICENSE.txt"
cp node_modules/dompurify/LICENSE "$out/dompurify.LICENSE.txt"
echo "vendored markdown-it $MARKDOWN_IT and DOMPurify $DOMPURIFY into $out"
