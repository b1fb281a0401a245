"""Shared fixtures: a simulated vehicle to talk to over a real socket.

Select the backend with ``pytest --backend builtin|ardupilot`` or ``UAV_TEST_BACKEND``
(default builtin).  With ``ardupilot`` and no SITL binary, vehicle tests are skipped with the
reason.  Every vehicle is stopped at teardown and checked for leaked threads and sockets.
"""

from __future__ import annotations

import os
import socket
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


def _sitl_missing_reason() -> str:
    """Why there is no SITL, in the launcher's words (where to get one), else the short form."""
    try:
        from simulators.sitl import find_sitl_binary

        find_sitl_binary()
    except Exception as exc:  # SitlNotFoundError, or the launcher failing to import
        return f"{SITL_MISSING}. {' '.join(str(exc).split())}"
    return SITL_MISSING


def _vehicle_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("builtin-vehicle",
                                                                   "faulty-link"))}


def tcp_listening(conn_str: str) -> bool:
    """Whether anything still accepts connections at ``tcp:HOST:PORT``."""
    _, _, rest = conn_str.partition(":")
    host, _, port = rest.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect((host, int(port)))
        except OSError:
            return False
        return True


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def leftovers(v) -> list[str]:
    """What a stopped vehicle left behind: a live process, a listening port, a bound UDP port."""
    out = []
    proc = getattr(v, "process", None)
    if proc is not None and proc.poll() is None:
        out.append(f"SITL process {proc.pid} still running")
    conn = getattr(v, "_conn_str_at_start", None)
    if conn and conn.startswith("tcp:") and tcp_listening(conn):
        out.append(f"{conn} still accepts connections")
    udp = getattr(getattr(v, "server", None), "udp_port", None)
    if udp and not udp_port_free(udp):
        out.append(f"UDP port {udp} still bound")
    return out


@pytest.fixture
def vehicle_factory(vehicle_backend):
    """``make(**options)`` starts a vehicle (speedup, params, signing_key, home...), ready to
    arm (heartbeat past BOOT, 3D fix, EKF position, pre-arm checks passing), as every path
    that starts one in the project does.

    All vehicles made are stopped at teardown; a test fails if one leaves a thread, a
    process, a listening TCP port or a bound UDP port behind.
    """
    from simulators.backend import find_sitl, start_vehicle

    if vehicle_backend == "ardupilot" and find_sitl() is None:
        pytest.skip(_sitl_missing_reason())
    before = _vehicle_threads()
    started = []

    def make(**options):
        options.setdefault("backend", vehicle_backend)
        if options["backend"] == "ardupilot":
            # the first free instance: other test runs or simulators may hold 5760 and up
            options.setdefault("instance", None)
        v = start_vehicle(**options)  # returns once the vehicle can arm
        try:
            v._conn_str_at_start = v.connection_string
        except AttributeError:  # a backend object with slots: check what it exposes later
            pass
        started.append(v)
        return v

    yield make
    for v in started:
        v.stop()
    leaked = _vehicle_threads() - before
    assert not leaked, f"vehicle threads left running: {sorted(t.name for t in leaked)}"
    left = [x for v in started for x in leftovers(v)]
    assert not left, "stopped vehicles left behind: " + "; ".join(left)


@pytest.fixture
def vehicle(vehicle_factory):
    """A running vehicle at real-time speed; ``vehicle.connection_string`` to connect."""
    return vehicle_factory()


@pytest.fixture
def sim_backend(vehicle_backend) -> str:
    """The backend name for tests that start their own vehicles (rehearsal, demo)."""
    from simulators.backend import find_sitl

    if vehicle_backend == "ardupilot" and find_sitl() is None:
        pytest.skip(_sitl_missing_reason())
    return vehicle_backend
