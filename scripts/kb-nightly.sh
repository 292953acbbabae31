#!/usr/bin/env bash
# Entry point for schedulers (cron, systemd): pull the cases repository, reindex, check quality
# and freshness, keep the JSON report. Exit status: 0 ok, 1 bad case files, 2 failed, 3 quality drop.
# Environment: KB_* settings (KB_CASES_DIR, KB_DATA_DIR, ...) or KB_CONFIG=/path/to/kb.toml.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null || exit 2
report_dir="${KB_DATA_DIR:-kb-data}/reports"
mkdir -p "$report_dir"
exec .venv/bin/kb nightly --pull --report "$report_dir/nightly-last-run.json" >/dev/null
