"""``uav sim start`` through click's runner."""

from __future__ import annotations

from click.testing import CliRunner

from uav.cli import cli


def test_sim_start_prints_a_connection_string_and_stops():
    r = CliRunner().invoke(cli, ["sim", "start", "--backend", "builtin", "--port", "0",
                                 "--home", "43.1,131.9,40,90", "--duration", "0.3"])
    assert r.exit_code == 0, r.output
    assert "connect: tcp:127.0.0.1:" in r.output
    assert "43.100000,131.900000" in r.output


def test_sim_start_rejects_a_swapped_or_broken_home():
    r = CliRunner().invoke(cli, ["sim", "start", "--backend", "builtin", "--home", "131.9,43.1"])
    assert r.exit_code != 0
    assert "latitude must be -90..90" in r.output
    r = CliRunner().invoke(cli, ["sim", "start", "--home", "north"])
    assert "expected LAT,LON" in r.output


def test_sim_start_rejects_an_unknown_parameter():
    r = CliRunner().invoke(cli, ["sim", "start", "--backend", "builtin", "--port", "0",
                                 "--param", "NOT_A_PARAM=1", "--duration", "0.1"])
    assert r.exit_code == 2
    assert "no parameter 'NOT_A_PARAM'" in r.output
