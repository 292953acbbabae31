#!/usr/bin/env bash
# Set up, index the bundled sample cases, and serve the search UI on http://127.0.0.1:${KB_PORT:-5000}.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KB_CASES_DIR="${KB_CASES_DIR:-cases}" KB_DATA_DIR="${KB_DATA_DIR:-kb-data}"
.venv/bin/kb lint "$KB_CASES_DIR" >/dev/null 2>&1 || .venv/bin/kb lint "$KB_CASES_DIR" || true
.venv/bin/kb index
exec .venv/bin/kb serve --host "${KB_HOST:-127.0.0.1}" --port "${KB_PORT:-5000}"
