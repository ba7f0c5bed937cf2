#!/usr/bin/env bash
# Vendor the web pages' front-end libraries from the npm registry (pinned by
# package-lock.json) into src/liangshan/web/static/vendor/. The vendored files are
# committed, so installing the Python package needs no Node.js, and pages never
# load anything from the internet (many government networks are offline).
# Run after changing package.json; tests/web/test_assets.py checks the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --ignore-scripts --no-audit --no-fund
vendor=src/liangshan/web/static/vendor
tmp="$(mktemp -d "$vendor.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cp node_modules/echarts/dist/echarts.min.js "$tmp/echarts.min.js"
cp node_modules/echarts/LICENSE "$tmp/echarts.LICENSE"
cp node_modules/echarts/NOTICE "$tmp/echarts.NOTICE"
cp node_modules/htmx.org/dist/htmx.min.js "$tmp/htmx.min.js"
cp node_modules/htmx.org/LICENSE "$tmp/htmx.LICENSE"
node -e '
  const lock = require("./package-lock.json");
  const out = {};
  for (const name of ["echarts", "htmx.org"]) {
    const entry = lock.packages["node_modules/" + name];
    out[name] = {version: entry.version, integrity: entry.integrity};
  }
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
' > "$tmp/versions.json"
rm -rf "$vendor"
mv "$tmp" "$vendor"
trap - EXIT
echo "vendored into $vendor:"; ls -l "$vendor"
