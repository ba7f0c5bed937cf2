"""The CLI as a user meets it: one clear line and a non-zero exit for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "liangshan.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_unreachable_database_url_is_one_line_and_non_zero():
    result = run_cli("db", "upgrade", env_extra={
        "LIANGSHAN_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert result.returncode != 0
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_first_admin(tmp_path):
    env = {"LIANGSHAN_DATA_DIR": str(tmp_path), "LIANGSHAN_NEW_USER_PASSWORD": "a-long-password"}
    assert run_cli("db", "upgrade", env_extra=env).returncode == 0
    result = run_cli("user", "create", "admin", "--role", "province_admin", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "created user admin" in result.stdout
    again = run_cli("user", "create", "admin", "--role", "province_admin", env_extra=env)
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.parametrize("args,expected", [
    (["user", "create", "op", "--role", "county_operator"], "needs a region_code"),
    (["user", "create", "op", "--role", "emperor"], "role"),
])
def test_user_create_bad_input(tmp_path, args, expected):
    env = {"LIANGSHAN_DATA_DIR": str(tmp_path), "LIANGSHAN_NEW_USER_PASSWORD": "a-long-password"}
    result = run_cli(*args, env_extra=env)
    assert result.returncode != 0
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_invest_run_with_missing_args_file(tmp_path):
    result = run_cli("invest", "run", "carbon", "--args", str(tmp_path / "nope.json"))
    assert result.returncode != 0 and "does not exist" in result.stderr
