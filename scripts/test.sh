#!/usr/bin/env bash
# Set up and run the whole test suite: every tier (fast, real model, PostgreSQL, browser).
# As root it installs Debian's chromium and postgresql when missing and starts a private
# PostgreSQL server for the store tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi "noto sans cjk" || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test: installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test: missing Debian packages ${need_apt[*]} (run as root or install them)" >&2
  fi
fi

if [ -z "${KB_TEST_DATABASE_URL:-}" ]; then
  source scripts/pg-test-server.sh
fi

export PYTHONDONTWRITEBYTECODE=1
echo "test: ruff format --check, ruff check, mypy"
.venv/bin/ruff format --check --quiet .
.venv/bin/ruff check --quiet .
.venv/bin/mypy
status=0
.venv/bin/python -m pytest "$@" || status=$?
exit $status
