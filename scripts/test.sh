#!/usr/bin/env bash
# Install Liangshan with its test extras into ./.venv and run the whole test suite.
# Database tests run on SQLite and on PostgreSQL (LIANGSHAN_TEST_PG_URL, default
# postgresql+psycopg://postgres@127.0.0.1:5432/liangshan_test; the suite creates a
# fresh database per run). Arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-test ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch .venv/.installed-test
fi
# The browser tests drive Debian's Chromium (installed once with apt-get).
if [ "${LIANGSHAN_SKIP_BROWSER:-0}" != 1 ]; then
  bash scripts/install_browser.sh
fi
# The InVEST-parity tests compare against natcap.invest itself (optional extra).
if [ -f scripts/install_invest.sh ] && [ "${LIANGSHAN_SKIP_INVEST:-0}" != 1 ]; then
  bash scripts/install_invest.sh .venv
fi
exec .venv/bin/python -m pytest "$@"
