"""The vendored front-end files match the lockfile, and no page refers to the internet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "liangshan" / "web"
VENDOR = WEB / "static" / "vendor"

#: package name → (vendored file, pattern that captures the version the file declares)
VENDORED = {
    "echarts": ("echarts.min.js", r'version\s*=\s*"([0-9][^"]*)"'),
    "htmx.org": ("htmx.min.js", r'version\s*:\s*"([0-9][^"]*)"'),
}


def _lock() -> dict:
    return json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("package", sorted(VENDORED))
def test_vendored_file_has_the_locked_version(package):
    locked = _lock()["packages"][f"node_modules/{package}"]["version"]
    declared = json.loads((ROOT / "package.json").read_text())["dependencies"][package]
    assert declared == locked, "package.json pins an exact version; run npm install to relock"
    filename, pattern = VENDORED[package]
    text = (VENDOR / filename).read_text(encoding="utf-8")
    found = set(re.findall(pattern, text))
    assert found == {locked}, f"{filename} declares {found}, the lockfile has {locked}: " \
                              "run scripts/build_web_assets.sh"
    recorded = json.loads((VENDOR / "versions.json").read_text())[package]
    assert recorded["version"] == locked
    assert recorded["integrity"] == _lock()["packages"][f"node_modules/{package}"]["integrity"]


def test_vendored_licences_are_shipped():
    for name in ("echarts.LICENSE", "echarts.NOTICE", "htmx.LICENSE"):
        assert (VENDOR / name).stat().st_size > 0


def test_our_templates_and_scripts_load_nothing_from_the_internet():
    """src=/href=/url() to another host would break offline networks (DESIGN §6)."""
    external = re.compile(r"""(?:src|href|action)\s*=\s*["']\s*(?:https?:)?//|"""
                          r"""url\(\s*["']?(?:https?:)?//|"""
                          r"""fetch\(\s*["'](?:https?:)?//|@import""", re.IGNORECASE)
    files = [*WEB.glob("templates/*.html"), *WEB.glob("static/js/*.js"),
             *WEB.glob("static/css/*.css")]
    assert len(files) >= 8
    for path in files:
        hits = external.findall(path.read_text(encoding="utf-8"))
        assert not hits, f"{path.relative_to(ROOT)} refers to another host: {hits}"
