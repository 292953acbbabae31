#!/usr/bin/env bash
# Create .venv in the checkout and install Escalation KB with its dependencies (idempotent).
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi

stamp=".venv/.kb-setup-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras:-base}"
if [ -f "$stamp" ]; then
  exit 0
fi

echo "setup: installing dependencies into .venv (first run takes a few minutes)"
# pip's and the build's output go to a log, shown only when a step fails.
log=".venv/setup.log"
: > "$log"
quietly() {
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: failed: $* (whole output in $log)" >&2
    exit 1
  fi
}
quietly .venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch first: a looser requirement would let pip pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  quietly .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
quietly .venv/bin/python -m pip install --quiet -e "$target"
rm -f .venv/.kb-setup-*
touch "$stamp"
echo "setup: done"
