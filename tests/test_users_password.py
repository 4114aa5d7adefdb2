"""`truckguard users add` without a terminal to ask the password on: one line saying to use --password-stdin."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _users_add(data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    # A new session has no controlling terminal, as under cron, a CI runner or `ssh host cmd < /dev/null`.
    return subprocess.run(
        [sys.executable, "-m", "truckguard", "users", "add", "desk-1", "--role", "rental", "--fleet", "stadtvan"],
        stdin=subprocess.DEVNULL, capture_output=True,
        env={**os.environ, "TRUCKGUARD_DATA_DIR": str(data_dir), "PYTHONWARNINGS": "ignore"}, start_new_session=True,
        timeout=120, check=False)


def test_without_a_terminal_it_says_to_use_password_stdin(tmp_path: Path) -> None:
    result = _users_add(tmp_path / "data")
    errors = result.stderr.decode().strip().splitlines()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode() and "EOFError" not in result.stderr.decode()
    assert len(errors) == 1 and "--password-stdin" in errors[0] and errors[0].startswith("truckguard users:")


def test_with_password_stdin_the_account_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from truckguard.cli import main

    monkeypatch.setenv("TRUCKGUARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("amber lorry seventeen bridges\n"))
    assert main(["users", "add", "desk-1", "--role", "rental", "--fleet", "stadtvan", "--password-stdin"]) == 0
    assert "user desk-1 (rental) created" in capsys.readouterr().out
