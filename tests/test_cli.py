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


@pytest.mark.slow
def test_gep_run_compare_and_log_verify(tmp_path):
    """A user's path: sample data, two accounts (one published), comparison, log check."""
    env = {"LIANGSHAN_DATA_DIR": str(tmp_path / "data")}
    study = tmp_path / "study"
    assert run_cli("sample-data", str(study), "--counties", "520381", "--resolution", "2000",
                   env_extra=env).returncode == 0
    first = run_cli("gep", "run", str(study), "--year", "2022", "--out", str(tmp_path / "a"),
                    env_extra=env)
    assert first.returncode == 0, first.stderr
    assert "(draft)" in first.stdout
    assert (tmp_path / "a" / "gep_tables.xlsx").exists()
    second = run_cli("gep", "run", str(study), "--year", "2023", "--out", str(tmp_path / "b"),
                     "--publish", env_extra=env)
    assert second.returncode == 0 and "(published)" in second.stdout
    compared = run_cli("gep", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                       str(tmp_path / "cmp"), env_extra=env)
    assert compared.returncode == 0, compared.stderr
    assert "520381" in compared.stdout and (tmp_path / "cmp" / "comparison_totals.csv").exists()
    verified = run_cli("log", "verify", env_extra=env)
    assert verified.returncode == 0 and "1 leaves" in verified.stdout


def test_sample_data_unknown_county_and_existing_folder(tmp_path):
    result = run_cli("sample-data", str(tmp_path / "s"), "--counties", "529999")
    assert result.returncode != 0 and "529999" in result.stderr
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    result = run_cli("sample-data", str(tmp_path / "notes"), "--resolution", "2000")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"


def test_gep_compare_rejects_a_folder_without_an_account(tmp_path):
    result = run_cli("gep", "compare", str(tmp_path), str(tmp_path))
    assert result.returncode != 0 and "does not exist" in result.stderr


def test_invest_run_takes_an_invest_datastack_with_relative_paths(tmp_path):
    """InVEST's workbench saves ``{"model_id", "args"}`` with paths relative to the file."""
    import json

    from tests.accounting.invest.conftest import make_invest_inputs

    make_invest_inputs(tmp_path / "inputs", n=20)
    datastack = {"model_id": "carbon", "invest_version": "3.20.2", "args": {
        "workspace_dir": "ws", "lulc_bas_path": "inputs/lulc.tif",
        "carbon_pools_path": "inputs/carbon_pools.csv", "results_suffix": ""}}
    (tmp_path / "carbon.invs.json").write_text(json.dumps(datastack))
    result = run_cli("invest", "run", "carbon", "--args", str(tmp_path / "carbon.invs.json"),
                     cwd="/")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ws" / "c_storage_bas.tif").exists()
