#!/usr/bin/env bash
# Install Liangshan into ./.venv (once) and run the main job: `liangshan demo`.
# Arguments are passed on, e.g. `scripts/demo.sh --no-serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/liangshan ] || [ pyproject.toml -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  touch .venv/.installed
fi
exec .venv/bin/liangshan demo "$@"
