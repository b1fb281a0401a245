"""Errors a newcomer meets first say what to do next (nothing listening, a port taken)."""

import socket

import pytest
from click.testing import CliRunner

from uav.cli import cli
from uav.errors import SimulatorError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_asks_whether_a_simulator_is_running():
    res = CliRunner().invoke(cli, ["status", "--connect", f"tcp:127.0.0.1:{_free_port()}"])
    assert res.exit_code == 2
    assert "Connection refused: nothing listens there" in res.output
    assert "uav sim start" in res.output and "Traceback" not in res.output


def test_a_port_taken_names_the_port_option():
    from simulators.backend import start_vehicle

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        with pytest.raises(SimulatorError, match=r"uav sim start --port PORT"):
            start_vehicle("builtin", port=port)
