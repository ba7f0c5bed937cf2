#!/usr/bin/env bash
# Install natcap.invest 3.20.2 (the InVEST-compatibility anchor) into a venv.
#
# Usage: scripts/install_invest.sh [VENV_DIR]      (default: .venv)
#
# Idempotent: exits 0 at once if `import natcap.invest` already works in the venv.
# Recipe (docs: /work/shared/reference/INVEST_NOTES.md §1 [V]): there is no Linux wheel for
# natcap.invest 3.20.2, so it and pygeoprocessing 2.4.11 compile from source. Two traps:
#   * Cython >= 3.2 cannot compile pygeoprocessing 2.4.11 -> pin cython<3.2 in the build env;
#   * the isolated build env would pull the newest GDAL, which does not match system libgdal
#     -> pin gdal==$(gdal-config --version) in the build env as well.
# pip >= 26 ignores PIP_CONSTRAINT inside isolated build envs, hence --build-constraint.
# Needs root (or sudo) only if libgdal-dev is missing.
set -euo pipefail

VENV="${1:-.venv}"
PY="$VENV/bin/python"
INVEST_VERSION="3.20.2"

if [ ! -x "$PY" ]; then
    echo "install_invest: no python at $PY; create the venv first (python3.11 -m venv $VENV)" >&2
    exit 2
fi

if "$PY" -c "import natcap.invest, sys; sys.exit(0 if natcap.invest.__version__.startswith('$INVEST_VERSION') else 1)" 2>/dev/null; then
    echo "install_invest: natcap.invest $INVEST_VERSION already importable in $VENV"
    exit 0
fi

if ! command -v gdal-config >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "install_invest: gdal-config missing; installing libgdal-dev with apt-get"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        libgdal-dev gdal-bin g++ python3-dev
fi
GDAL_VERSION="$(gdal-config --version)"
echo "install_invest: system GDAL $GDAL_VERSION"

"$PY" -m pip install -q -U pip setuptools wheel
# The GDAL bindings must be built against the venv's numpy (2.x), so no build isolation.
if ! "$PY" -c "from osgeo import gdal, gdal_array" 2>/dev/null; then
    "$PY" -m pip install -q "numpy>=2"
    "$PY" -m pip install --no-build-isolation --no-cache-dir --force-reinstall \
        "gdal==$GDAL_VERSION"
fi

CONSTRAINTS="$(mktemp -t invest-build-constraints.XXXXXX)"
trap 'rm -f "$CONSTRAINTS"' EXIT
printf 'cython<3.2\ngdal==%s\n' "$GDAL_VERSION" > "$CONSTRAINTS"
"$PY" -m pip install --build-constraint "$CONSTRAINTS" "natcap.invest==$INVEST_VERSION"

"$PY" -c "from osgeo import gdal, gdal_array; import natcap.invest, pygeoprocessing; \
print('install_invest: natcap.invest', natcap.invest.__version__, \
'pygeoprocessing', pygeoprocessing.__version__, 'GDAL', gdal.__version__)"
