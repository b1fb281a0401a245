"""Shared fixtures: a simulated vehicle to talk to over a real socket.

Select the backend with ``pytest --backend builtin|ardupilot`` or ``UAV_TEST_BACKEND``
(default builtin).  With ``ardupilot`` and no SITL binary, vehicle tests are skipped with the
reason.  Every vehicle is stopped at teardown and checked for leaked threads and sockets.
"""

from __future__ import annotations

import os
import threading

import pytest

SITL_MISSING = "no ArduPilot SITL binary: set ARDUPILOT_SITL or put arducopter on PATH"


def pytest_addoption(parser):
    parser.addoption("--backend", action="store", default=None,
                     choices=("builtin", "ardupilot"),
                     help="vehicle backend for simulator tests (default: $UAV_TEST_BACKEND "
                          "or builtin)")


@pytest.fixture(scope="session")
def vehicle_backend(request) -> str:
    backend = request.config.getoption("--backend") or os.environ.get("UAV_TEST_BACKEND",
                                                                        "builtin")
    if backend not in ("builtin", "ardupilot"):
        raise pytest.UsageError(f"UAV_TEST_BACKEND={backend!r}: use builtin or ardupilot")
    return backend


def _vehicle_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("builtin-vehicle",
                                                                   "faulty-link"))}


@pytest.fixture
def vehicle_factory(vehicle_backend):
    """``make(**options)`` starts a vehicle (speedup, params, signing_key, home...).

    All vehicles made are stopped at teardown; a test fails if one leaves a thread behind.
    """
    from simulators.backend import find_sitl, start_vehicle

    if vehicle_backend == "ardupilot" and find_sitl() is None:
        pytest.skip(SITL_MISSING)
    before = _vehicle_threads()
    started = []
    instance = [0]

    def make(**options):
        options.setdefault("backend", vehicle_backend)
        if options["backend"] == "ardupilot":
            options.setdefault("instance", instance[0])
            instance[0] += 1
        v = start_vehicle(**options)
        started.append(v)
        return v

    yield make
    for v in started:
        v.stop()
    leaked = _vehicle_threads() - before
    assert not leaked, f"vehicle threads left running: {sorted(t.name for t in leaked)}"


@pytest.fixture
def vehicle(vehicle_factory):
    """A running vehicle at real-time speed; ``vehicle.connection_string`` to connect."""
    return vehicle_factory()
