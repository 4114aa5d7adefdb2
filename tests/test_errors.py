"""Every exception truckguard defines derives from TruckguardError, so the command line can tell ours from bugs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from telematics.errors import TruckguardError

PACKAGES = ("telematics", "anomaly", "ingest", "can_sim", "web", "workers", "toolkit", "truckguard")
OUTSIDE = {"web.accounts.LoginThrottled", "web.passwords.HashingBusy"}
"""HTTP answers raised inside a view (429 sign-in throttled, 503 sign-in busy); Flask turns them into a response,
so they never reach the command line."""


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(module.__path__, prefix=f"{package}.")
                  if ".migrations" not in m.name and not m.name.endswith("__main__")]
    return names


@pytest.mark.parametrize("module_name", _modules())
def test_our_exceptions_derive_from_truckguard_error(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module_name:
            qualified = f"{module_name}.{name}"
            if qualified not in OUTSIDE:
                assert issubclass(value, TruckguardError), f"{qualified} does not derive from TruckguardError"


def test_the_command_line_prints_our_errors_as_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from truckguard.cli import main

    assert main(["replay", str(tmp_path / "no-such-bundle"), "--alerts", str(tmp_path / "a"),
                 "--stop-requests", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("truckguard replay: ") and "\n" not in err and "Traceback" not in err
