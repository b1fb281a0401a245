"""The ArduPilot SITL launcher: finding the binary, its command line, ports, parameters, a launch.

The real launch test needs ArduPilot's own ``arducopter`` SITL binary (``--sitl-bin`` style
lookup: ``ARDUPILOT_SITL`` or PATH) and is skipped, with the reason, when none is found.  Nothing
here pretends to be ArduPilot.
"""

from __future__ import annotations

import os
import socket
import stat
import sys

import pytest

from simulators.sitl import (
    DEFAULT_PARAMS,
    ENV_VAR,
    ArduPilotSITL,
    Home,
    find_sitl_binary,
    ports_for_instance,
    read_parm_file,
)
from uav.errors import InvalidInputError, SimulatorError, SitlNotFoundError


@pytest.fixture
def no_sitl_anywhere(monkeypatch, tmp_path):
    """An environment with no ARDUPILOT_SITL and a PATH holding no arducopter."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_not_found_says_how_to_get_one(no_sitl_anywhere):
    with pytest.raises(SitlNotFoundError) as err:
        find_sitl_binary()
    text = str(err.value)
    assert "'arducopter' was not found" in text
    assert "./waf configure --board sitl" in text and "./waf copter" in text
    assert "firmware.ardupilot.org" in text and "Setting up SITL" in text
    assert ENV_VAR in text and "--sitl-bin" in text and "--backend builtin" in text
    assert isinstance(err.value, FileNotFoundError)  # catchable as the builtin too


def test_env_var_pointing_to_a_missing_file(no_sitl_anywhere, monkeypatch, tmp_path):
    missing = tmp_path / "nowhere" / "arducopter"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(SitlNotFoundError, match=rf"{ENV_VAR} environment variable points to .*nowhere.*does not exist"):
        find_sitl_binary()


def test_env_var_pointing_to_a_non_executable_file(no_sitl_anywhere, monkeypatch, tmp_path):
    plain = tmp_path / "arducopter"
    plain.write_bytes(b"not a program")
    plain.chmod(stat.S_IRUSR | stat.S_IWUSR)
    monkeypatch.setenv(ENV_VAR, str(plain))
    with pytest.raises(SitlNotFoundError, match="is not executable"):
        find_sitl_binary()
    with pytest.raises(SitlNotFoundError, match="is a folder"):
        find_sitl_binary(tmp_path)


def test_explicit_path_comes_first(no_sitl_anywhere, monkeypatch, tmp_path):
    # Lookup only checks the file is an executable; nothing is run here.
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    assert str(find_sitl_binary(sys.executable)) == os.path.realpath(sys.executable)
    with pytest.raises(SitlNotFoundError, match="--sitl-bin points to"):
        find_sitl_binary(tmp_path / "also-missing")


def test_ports_and_command_line_per_instance(tmp_path):
    assert ports_for_instance(0)["serial0"] == 5760
    p3 = ports_for_instance(3)
    assert (p3["serial0"], p3["serial1"], p3["serial2"], p3["sim_in"], p3["sim_out"]) == (5790, 5792, 5793, 9033, 9032)
    sitl = ArduPilotSITL(home="43.1,131.2,100,90", speedup=20, instance=3, workdir=tmp_path / "i3",
                         params={"SIM_WIND_SPD": 4})
    assert sitl.port == 5790 and sitl.connection_string == "tcp:127.0.0.1:5790"
    args = sitl.arguments()
    assert args[:8] == ["--model", "quad", "--home", "43.1000000,131.2000000,100.00,90.0",
                        "--speedup", "20", "-I", "3"]
    defaults = args[args.index("--defaults") + 1].split(",")
    assert defaults == [str(DEFAULT_PARAMS.resolve()), str(tmp_path / "i3" / "amur-extra.parm")]
    assert args[-1] == "--wipe"
    # Two instances never share ports or working folders.
    other = ArduPilotSITL(instance=4, workdir=tmp_path / "i4")
    assert set(other.ports.values()).isdisjoint(sitl.ports.values())
    assert "--wipe" not in ArduPilotSITL(wipe=False).arguments()
    assert ArduPilotSITL(model="x").params["FRAME_TYPE"] == 1.0


def test_bad_settings_are_refused_with_reasons():
    with pytest.raises(InvalidInputError, match="instance must be a whole number 0-99"):
        ArduPilotSITL(instance=-1)
    with pytest.raises(InvalidInputError, match="speed-up must be above 0"):
        ArduPilotSITL(speedup=0)
    with pytest.raises(InvalidInputError, match="latitude first"):
        ArduPilotSITL(home=(131.2, 43.1, 100, 0))
    with pytest.raises(InvalidInputError, match="LAT,LON"):
        Home.parse("somewhere")
    with pytest.raises(InvalidInputError, match="'wp_speed' is not an ArduPilot parameter name"):
        ArduPilotSITL(params={"wp_speed": 5})
    with pytest.raises(InvalidInputError, match="not an ArduPilot parameter name"):
        ArduPilotSITL(params={"A_NAME_LONGER_THAN_16": 1})
    with pytest.raises(InvalidInputError, match="model must be a name"):
        ArduPilotSITL(model="quad; rm -rf /")


def test_busy_port_is_reported_before_anything_runs(tmp_path):
    # Find an instance whose ports are free, then occupy its SERIAL0 with a real listener.
    for instance in range(40, 99):
        ports = ports_for_instance(instance)
        holder = socket.socket()
        try:
            holder.bind(("127.0.0.1", ports["serial0"]))
        except OSError:
            holder.close()
            continue
        break
    else:
        pytest.skip("no free SITL port range on this machine")
    try:
        holder.listen(1)
        sitl = ArduPilotSITL(instance=instance, workdir=tmp_path)
        with pytest.raises(SimulatorError, match=rf"TCP port {ports['serial0']} \(SERIAL0 of SITL instance {instance}\) is already in use"):
            sitl.start()
        assert not sitl.running
    finally:
        holder.close()


def test_wait_ready_needs_a_running_sitl():
    with pytest.raises(SimulatorError, match="call start"):
        ArduPilotSITL().wait_ready(1)


def test_our_parameter_file_parses():
    params = read_parm_file(DEFAULT_PARAMS)
    # What a copter needs to arm and fly a mission in SITL, as the file promises.
    assert params["FRAME_CLASS"] == 1
    assert params["ARMING_CHECK"] == 1
    assert params["BATT_MONITOR"] == 4 and params["BATT_CAPACITY"] == 10000
    assert params["WPNAV_SPEED"] == 1000  # cm/s, the arducopter-quad profile's 10 m/s
    assert params["FENCE_ACTION"] == 1
    assert all(params[f"RC{i}_MIN"] == 1000 and params[f"RC{i}_MAX"] == 2000 for i in range(1, 5))
    assert all(len(name) <= 16 for name in params)
    text = DEFAULT_PARAMS.read_text().splitlines()
    names = [ln.split()[0] for ln in text if ln.strip() and not ln.startswith("#")]
    assert len(names) == len(set(names)), "a parameter is set twice"


def test_parameter_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.parm"
    bad.write_text("# ok\nFRAME_CLASS 1\nWPNAV_SPEED fast\n")
    with pytest.raises(InvalidInputError, match=r"bad.parm:3: WPNAV_SPEED value 'fast' is not a number"):
        read_parm_file(bad)
    bad.write_text("frame_class 1\n")
    with pytest.raises(InvalidInputError, match=r"bad.parm:1: 'frame_class' is not an ArduPilot parameter name"):
        read_parm_file(bad)
    with pytest.raises(InvalidInputError, match="cannot read parameter file"):
        read_parm_file(tmp_path / "none.parm")


def _sitl_or_skip():
    try:
        return find_sitl_binary()
    except SitlNotFoundError as exc:
        first = str(exc).splitlines()[0]
        pytest.skip(f"needs ArduPilot's arducopter SITL binary ({ENV_VAR}, --sitl-bin or PATH): {first}")


@pytest.mark.slow
@pytest.mark.sitl
def test_real_sitl_starts_gets_ready_and_stops_clean():
    binary = _sitl_or_skip()
    instance = next((i for i in range(60, 99)
                     if all(_free(p) for p in ports_for_instance(i).values())), None)
    if instance is None:
        pytest.skip("no free SITL port range on this machine")
    from pymavlink.dialects.v20 import ardupilotmega as mav

    with ArduPilotSITL(binary, home=(43.1, 131.2, 100.0, 90.0), speedup=5, instance=instance) as sitl:
        assert sitl.running
        status = sitl.wait_ready(timeout=180)
        assert status.autopilot == mav.MAV_AUTOPILOT_ARDUPILOTMEGA
        assert status.vehicle_type == mav.MAV_TYPE_QUADROTOR
        assert status.gps_fix_type >= 3 and status.prearm_ok
        workdir = sitl.workdir
        assert (workdir / "eeprom.bin").exists()
    assert not sitl.running
    assert _free(sitl.port), "SITL left its port open"
    assert not workdir.exists(), "a clean run should leave no working folder behind"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
