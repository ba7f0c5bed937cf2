"""docs/market.md and docs/ledger.md against the code, so the two pages cannot drift silently.

Every ``/market/...`` and ``/log/...`` path the pages name must be a route of the app
(with the HTTP method they give it), every market and log route must be documented, the
JSON bodies of the curl examples must fit the routes' request schemas (OpenAPI), every
``liangshan ...`` command and option must exist in the typer app, and the worked proof
example of docs/ledger.md is run as written against a bundle made by the code.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from liangshan.api import create_app
from liangshan.cli import app as cli_app
from liangshan.ledger import merkle
from liangshan.ledger import service as ledger
from liangshan.ledger.bundle import make_bundle
from liangshan.ledger.note import generate_signer

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("market.md", "ledger.md")
METHOD_PATH = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/(?:market|log)/[^\s`'\"?|\\),]*)")
BARE_PATH = re.compile(r"(?<![\w./$])(/(?:market|log)/[A-Za-z0-9_{}/.-]*)")
CURL = re.compile(r"curl\s.*")
CLI = re.compile(r"(?<![\w./-])liangshan((?: [a-z][a-z-]*)+)([^`\n]*)")


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _code(text: str) -> list[str]:
    """Fenced blocks (continuation lines joined) and inline code spans."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    return [b.replace("\\\n", " ") for b in blocks] + re.findall(r"`([^`\n]+)`", rest)


@functools.cache
def _openapi() -> dict[str, Any]:
    return create_app().openapi()


def _routes() -> dict[str, set[str]]:
    """Market and log route templates → HTTP methods, from the app's OpenAPI schema."""
    return {path: {m.upper() for m in ops} for path, ops in _openapi()["paths"].items()
            if path.startswith(("/market/", "/log/"))}


def _match(path: str) -> dict[str, set[str]]:
    """The templates a concrete or template path fits (``{name}`` = one path segment)."""
    path = path.rstrip(".,")
    return {t: m for t, m in _routes().items()
            if t == path or re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(t)), path)}


@pytest.mark.parametrize("page", PAGES)
def test_every_named_path_is_a_route_with_that_method(page: str) -> None:
    code = _code(_text(page))
    named = 0
    for span in code:
        span = span.replace("$H", "")
        for method, path in METHOD_PATH.findall(span):
            named += 1
            routes = _match(path)
            assert routes, f"{page}: {method} {path} is no route of the app"
            assert any(method in m for m in routes.values()), (
                f"{page}: {path} exists but not for {method}")
        for path in BARE_PATH.findall(span):
            named += 1
            assert _match(path), f"{page}: {path} is no route of the app"
        for line in CURL.findall(span):
            path = re.search(r"(/(?:market|log)/[^\s\"'?]*)", line)
            if path is None:
                continue
            given = re.search(r"-X (\w+)", line)
            method = given.group(1) if given else "GET"
            routes = _match(path.group(1))
            assert routes and any(method in m for m in routes.values()), (
                f"{page}: curl {method} {path.group(1)} matches no route")
    assert named > 10, f"{page}: the parser found only {named} paths; the test is broken"


def test_every_market_and_log_route_is_documented() -> None:
    text = _text("market.md") + _text("ledger.md")
    missing = sorted(set(_routes()) - set(BARE_PATH.findall(text)))
    assert not missing, f"routes not documented in docs/market.md or docs/ledger.md: {missing}"


def _schema(openapi: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in ref:
        ref = openapi["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return ref


def test_curl_bodies_fit_the_request_schemas() -> None:
    openapi = _openapi()
    checked = 0
    for span in _code(_text("market.md")):
        for line in CURL.findall(span.replace("$H", "")):
            body = re.search(r"-d '(\{.*?\})'", line)
            if body is None:
                continue
            path = re.search(r"(/market/[^\s\"'?]*)", line)
            assert path is not None, line
            method = re.search(r"-X (\w+)", line)
            assert method is not None, line
            route = next(t for t, m in _match(path.group(1)).items() if method.group(1) in m)
            op = openapi["paths"][route][method.group(1).lower()]
            schema = _schema(openapi, op["requestBody"]["content"]["application/json"]["schema"])
            sent = json.loads(body.group(1))
            unknown = set(sent) - set(schema["properties"])
            missing = set(schema.get("required", ())) - set(sent)
            assert not unknown and not missing, (
                f"{method.group(1)} {route}: unknown fields {unknown}, missing {missing}")
            checked += 1
    assert checked >= 12, f"only {checked} curl bodies checked; the parser is broken"


def _cli_root() -> Any:
    """The typer app as a command tree (typer's own click: groups have ``commands``)."""
    root = typer.main.get_command(cli_app)
    assert hasattr(root, "commands")
    return root


@pytest.mark.parametrize("page", PAGES)
def test_every_named_cli_command_and_option_exists(page: str) -> None:
    root = _cli_root()
    found = 0
    for span in _code(_text(page)):
        for words, rest in CLI.findall(span):
            cmd, tokens, used = root, words.split(), 0
            while hasattr(cmd, "commands") and used < len(tokens) and tokens[used] in cmd.commands:
                cmd, used = cmd.commands[tokens[used]], used + 1
            assert used and not hasattr(cmd, "commands"), (
                f"{page}: 'liangshan{words}' names no command")
            opts = {o for p in cmd.params for o in p.opts}
            tail = " ".join(tokens[used:]) + rest
            for opt in re.findall(r"(?<![\w-])--[a-z][a-z-]*", tail):
                assert opt in opts, f"{page}: 'liangshan{words}' has no option {opt}"
            found += 1
    assert found >= 2, f"{page}: only {found} commands found; the parser is broken"


def test_every_market_and_log_command_is_documented() -> None:
    root = _cli_root()
    text = _text("market.md") + _text("ledger.md")
    for group in ("market", "log"):
        for name in root.commands[group].commands:
            assert f"liangshan {group} {name}" in text, f"'liangshan {group} {name}' undocumented"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", _text("ledger.md"), flags=re.S)
    assert len(blocks) == 1, "docs/ledger.md should hold exactly one python example"
    return blocks[0]


def _run(source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "docs/ledger.md", "exec"), {})  # the doc's own example
    return out.getvalue()


def test_ledger_worked_example_verifies_a_real_bundle(db_session, tmp_path, monkeypatch) -> None:
    """The example needs only bundle.json and log.vkey; it passes, and fails on a changed byte."""
    bank = ledger.open_account(db_session, asset="CNY", kind="external", name="bank")
    fees = ledger.open_account(db_session, asset="CNY", kind="fee", name="market")
    for i in range(5):
        ledger.post_entry(db_session, idempotency_key=f"docs-{i}",
                          postings=[(bank, -100 * (i + 1)), (fees, 100 * (i + 1))])
    signer = generate_signer("liangshan.local/log")
    cp = ledger.sign_checkpoint(db_session, signer)
    db_session.commit()
    index = 4
    leaf = ledger.get_leaf(db_session, index)
    bundle = make_bundle(index, leaf.kind, bytes(leaf.payload),
                         ledger.inclusion_proof(db_session, index, cp.tree_size), cp.note,
                         cp.tree_size)
    (tmp_path / "log.vkey").write_text(signer.verifier().encode(), encoding="utf-8")
    (tmp_path / "bundle.json").write_text(json.dumps(bundle), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    printed = _run(_example()).split()
    assert printed == ["liangshan.local/log", str(cp.tree_size), "journal_entry"], printed
    (tmp_path / "bundle.json").write_text(json.dumps(bundle | {"index": index - 1}),
                                          encoding="utf-8")
    with pytest.raises(merkle.ProofError):
        _run(_example())
