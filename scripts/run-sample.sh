#!/usr/bin/env bash
# Set up, index the bundled sample cases, and serve the search UI on http://127.0.0.1:${PORT:-5000}
# (HOST and PORT choose the address; on a loopback address there is no login: local mode).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export KB_CASES_DIR="${KB_CASES_DIR:-cases}" KB_DATA_DIR="${KB_DATA_DIR:-kb-data}"
.venv/bin/kb lint "$KB_CASES_DIR" >/dev/null 2>&1 || .venv/bin/kb lint "$KB_CASES_DIR" || true
.venv/bin/kb index
exec .venv/bin/kb serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
