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


def test_sim_start_process_serves_a_gcs_and_sigterm_closes_its_port(sim_backend):
    """The real command in its own process: "connect" is printed only once the copter can
    arm (a GCS arms at once), and SIGTERM stops it cleanly."""
    import signal
    import socket
    import subprocess
    import sys

    from mavtest_helpers import command, connect, set_mode
    from pymavlink.dialects.v20 import ardupilotmega as M

    from simulators.backend import free_sitl_instance

    where = (["--port", "0"] if sim_backend == "builtin"
             else ["--instance", str(free_sitl_instance(40))])
    proc = subprocess.Popen(
        [sys.executable, "-c", "from uav.cli import main; main()", "sim", "start",
         "--backend", sim_backend, *where, "--speedup", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        conn = None
        for line in proc.stdout:
            if line.startswith("connect: "):
                conn = line.split()[1]
                break
        assert conn is not None, "uav sim start printed no connection string"
        m = connect(conn, timeout=10)
        ack = command(m, M.MAV_CMD_REQUEST_MESSAGE, M.MAVLINK_MSG_ID_AUTOPILOT_VERSION)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED
        assert set_mode(m, 4).result == M.MAV_RESULT_ACCEPTED  # GUIDED needs a position
        ack = command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 1)
        assert ack is not None and ack.result == M.MAV_RESULT_ACCEPTED, "not ready to arm"
        command(m, M.MAV_CMD_COMPONENT_ARM_DISARM, 0)
        m.close()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out
        assert "stopping" in out
        host, port = conn.split(":")[1], int(conn.split(":")[2])
        with socket.socket() as s:
            s.settimeout(1.0)
            assert s.connect_ex((host, port)) != 0, f"{conn} still open after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
