#!/usr/bin/env bash
# Install kura, index data/samples and ask a question about them.
# Uses the Ollama at KURA_OLLAMA_HOST (default http://127.0.0.1:11434) when it answers; when none
# runs, starts the test stand-in (extractive answers, not gpt-oss) so the whole path can be seen.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
source .venv/bin/activate

host="${KURA_OLLAMA_HOST:-http://127.0.0.1:11434}"
if ! python - "$host" <<'PY' 2>/dev/null
import sys, httpx
httpx.get(sys.argv[1] + "/api/tags", timeout=2).raise_for_status()
PY
then
  port=11435
  echo "No Ollama at $host: starting the Ollama stand-in on port $port (answers are extractive," \
       "not gpt-oss; install Ollama and run 'ollama pull gpt-oss:20b' for real answers)." >&2
  python -m tests.support.ollama_standin --port "$port" >/dev/null &
  standin=$!
  trap 'kill $standin 2>/dev/null || true' EXIT
  export KURA_OLLAMA_HOST="http://127.0.0.1:$port"
  for _ in $(seq 50); do
    python -c "import httpx,sys; httpx.get('$KURA_OLLAMA_HOST/api/tags', timeout=1)" 2>/dev/null && break
    sleep 0.2
  done
fi

kura ingest data/samples --collection samples
kura ask "What does apt-get offer that makes it suitable for major upgrades?" --collection samples
kura ask "aptitude コマンドの代わりに何を使うべきですか？" --collection samples
