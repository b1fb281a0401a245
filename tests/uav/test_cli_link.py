"""`uav upload | download | status | fly` and `uav signing ...` through click's runner,
against the built-in simulated copter over a real TCP socket."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from test_mission_transfer import survey  # noqa: E402

from missions.formats.qgc_plan import read_plan, write_plan  # noqa: E402
from missions.model import Plan, PlanKind  # noqa: E402
from uav.cli import cli  # noqa: E402
from uav.items import Cmd, Frame, Home, Mission, MissionItem, MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.mission_transfer import MissionTransfer  # noqa: E402
from uav.link.upload import upload_verified  # noqa: E402

HOME = (43.1, 131.5, 120.0, 0.0)


@pytest.fixture
def sim(vehicle_factory):
    return vehicle_factory(home=HOME, speedup=20)


def camera_mission() -> Mission:
    """Take off, trigger the camera every 20 m along a 120 m leg, come home."""
    home = Home(*HOME[:3])
    return Mission([home.as_item(), MissionItem(Cmd.NAV_TAKEOFF, alt=15.0),
                    MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=20.0),
                    MissionItem(Cmd.NAV_WAYPOINT, lat=43.1, lon=131.5, alt=15.0),
                    MissionItem(Cmd.NAV_WAYPOINT, lat=43.1 + 120 / 111_000, lon=131.5, alt=15.0),
                    MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=0.0),
                    MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION)])


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def test_upload_download_status(sim, tmp_path):
    plan_path = tmp_path / "sector7.plan"
    write_plan(Plan(kind=PlanKind.SURVEY, sorties=[survey(60), survey(20)]), plan_path)
    url = sim.connection_string
    res = run("upload", plan_path, "--connect", url, "--sortie", 2)
    assert res.exit_code == 0, res.output
    assert "mission: 20 items, new, verified" in res.output
    assert "Verified on the aircraft" in res.output and "sortie 2 of sector7.plan" in res.output
    res = run("upload", plan_path, "--connect", url, "--no-fence", "--no-rally")
    assert res.exit_code == 0, res.output
    assert "fence: not uploaded (skipped)" in res.output and "mission: 60 items" in res.output
    out = tmp_path / "back.plan"
    res = run("download", "--connect", url, "-o", out)
    assert res.exit_code == 0, res.output
    assert "59 mission items (plus home), 4 fence items, 1 rally points" in res.output
    back = read_plan(out)
    assert len(back.sorties[0].items) == 60 and len(back.sorties[0].fence) == 4
    res = run("status", "--connect", url)
    assert res.exit_code == 0, res.output
    assert "mode: STABILIZE, disarmed" in res.output
    assert "on board: mission 59 items (plus home), fence 4 items, rally 1 points" in res.output


def test_upload_errors_are_messages_not_tracebacks(sim, tmp_path):
    plan_path = tmp_path / "p.plan"
    write_plan(Plan(kind=PlanKind.SURVEY, sorties=[survey(10)]), plan_path)
    res = run("upload", plan_path, "--connect", sim.connection_string, "--sortie", 3)
    assert res.exit_code == 2 and "has 1 sortie(s); --sortie 3 does not exist" in res.output
    res = run("upload", plan_path, "--connect", "bogus")
    assert res.exit_code == 2 and "is not understood" in res.output
    res = run("upload", tmp_path / "missing.plan", "--connect", sim.connection_string)
    assert res.exit_code == 2 and "missing.plan" in res.output


@pytest.mark.slow
def test_fly_runs_the_mission_and_records(sim, tmp_path):
    with connect(sim.connection_string) as link:
        upload_verified(link, camera_mission())
    tlog, track = tmp_path / "f.tlog", tmp_path / "f.geojson"
    res = run("fly", "--connect", sim.connection_string, "--takeoff-alt", 15,
              "--tlog", tlog, "--track", track, "--max-time", 120)
    assert res.exit_code == 0, res.output
    assert "Mission started" in res.output and "reached item 6/6" in res.output
    assert "Landed and disarmed" in res.output
    import json

    from pymavlink import mavutil

    doc = json.loads(track.read_text())
    line = doc["features"][0]
    assert line["geometry"]["type"] == "LineString" and len(line["geometry"]["coordinates"]) > 10
    assert line["properties"]["max_alt_rel_m"] > 12
    photos = [f for f in doc["features"] if f["properties"]["kind"] == "camera"]
    assert len(photos) >= 3  # CAMERA_FEEDBACK collected along the 120 m leg, 20 m apart
    lon, lat, _alt = photos[0]["geometry"]["coordinates"]
    assert abs(lat - 43.1) < 0.01 and abs(lon - 131.5) < 0.01
    log = mavutil.mavlink_connection(str(tlog))
    types = set()
    while (m := log.recv_match()) is not None:
        types.add(m.get_type())
    assert {"HEARTBEAT", "GLOBAL_POSITION_INT", "MISSION_ITEM_REACHED", "COMMAND_LONG"} <= types


def test_fly_refuses_without_mission(sim, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default log goes to the current directory
    with connect(sim.connection_string) as link:
        MissionTransfer(link).clear(MissionType.MISSION)
    res = run("fly", "--connect", sim.connection_string)
    assert res.exit_code == 2 and "holds no mission" in res.output
    assert list(tmp_path.iterdir()) == []  # a refused flight leaves no empty log behind


def _drain(url: str, seconds: float = 1.0) -> None:
    """Read and drop what waits on a port: SITL's TCP serial ports hand what was queued for
    the last client (its answers) to the next one."""
    import time

    from pymavlink import mavutil

    m = mavutil.mavlink_connection(url, source_system=250, autoreconnect=False)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        m.recv_match(blocking=True, timeout=0.1)
    m.close()


@pytest.mark.slow
def test_signing_commands(tmp_path, vehicle_factory):
    key = tmp_path / "amur-1.key"
    res = run("signing", "keygen", key)
    assert res.exit_code == 0 and "fingerprint sha256:" in res.output
    assert key.read_bytes().hex() not in res.output
    res = run("signing", "keygen", key)
    assert res.exit_code == 2 and "already exists" in res.output
    secret = key.read_bytes()
    server = vehicle_factory(home=HOME, speedup=20)
    res = run("signing", "setup", "--connect", server.connection_string, "--key", key)
    assert res.exit_code == 0, res.output
    assert "it now answers signed" in res.output
    # the telemetry radio's port: SERIAL0 (USB) would still answer unsigned, as on ArduPilot
    radio = server.telemetry_connection_string
    res = run("signing", "status", "--key", key, "--connect", radio)
    assert res.exit_code == 0 and "answers signed with this key" in res.output
    _drain(radio)
    res = run("status", "--connect", radio, "--timeout", 2)
    assert res.exit_code == 2 and "answered nothing we sent" in res.output
    assert "--signing-key" in res.output
    res = run("status", "--connect", radio, "--signing-key", key)
    assert res.exit_code == 0, res.output
    assert "signed with signing key" in res.output and secret.hex() not in res.output
    assert "mode: STABILIZE, disarmed" in res.output


@pytest.mark.slow
def test_fly_ctrl_c_sends_the_aircraft_home(sim, tmp_path):
    import signal
    import subprocess

    from uav.link import control

    # a 2 km leg: the flight must outlast any delay of a loaded machine before the Ctrl-C
    # (with the 120 m camera leg a busy CI runner once saw the mission end first)
    items = camera_mission().items
    items[4] = MissionItem(Cmd.NAV_WAYPOINT, lat=43.1 + 2000 / 111_000, lon=131.5, alt=15.0)
    with connect(sim.connection_string) as link:
        upload_verified(link, Mission(items))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from uav.cli import main; main()", "fly", "--connect",
         sim.connection_string, "--takeoff-alt", "15", "--tlog", str(tmp_path / "c.tlog")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # started as a shell starts a background job: SIGINT ignored; it must still work
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Mission started" in line:   # printed inside the block that catches Ctrl-C
                proc.send_signal(signal.SIGINT)
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = "".join(lines) + out
    assert "Ctrl-C: returning to launch (RTL)" in text and "RTL engaged" in text, text
    assert (tmp_path / "c.geojson").exists()
    with connect(sim.connection_string) as link:
        hb = link.wait_heartbeat()
        assert control.mode_name(hb.custom_mode) == "RTL"
