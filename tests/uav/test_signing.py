"""MAVLink2 signing: key files, signed links, strict policy, wrong key and unsigned vehicles."""

import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _peer import Peer  # noqa: E402

from uav.errors import SigningError  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.signing import (  # noqa: E402
    generate_key,
    load_key,
    next_timestamp,
    now_timestamp,
    setup_signing,
    signing_status,
)


def test_keygen_file_is_private_and_never_shown(tmp_path):
    key = generate_key(tmp_path / "amur-1.key")
    mode = stat.S_IMODE(os.stat(key.path).st_mode)
    assert mode == 0o600
    assert key.path.read_bytes() == key.secret and len(key.secret) == 32
    assert key.secret.hex() not in repr(key) and key.secret.hex() not in str(key)
    assert key.fingerprint.startswith("sha256:") and key.fingerprint in str(key)
    with pytest.raises(SigningError, match="already exists"):
        generate_key(key.path)


def test_bad_key_files_are_refused(tmp_path):
    with pytest.raises(SigningError, match="does not exist; make one with `uav signing keygen`"):
        load_key(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    with pytest.raises(SigningError, match="holds 16 bytes, not 32"):
        load_key(short)
    key = generate_key(tmp_path / "open.key")
    key.path.chmod(0o644)
    with pytest.raises(SigningError, match="can be read by other users.*chmod 600"):
        load_key(key.path)


def test_timestamps_never_go_backwards(tmp_path):
    key = generate_key(tmp_path / "a.key")
    future = now_timestamp() + 10_000_000
    key.timestamp_path.write_text(str(future))  # as if the clock was set back since
    assert next_timestamp(key) == future + 1


def test_signed_link_to_signing_vehicle(tmp_path):
    key = generate_key(tmp_path / "a.key")
    with Peer(signing_key=key.secret) as peer:
        with connect(peer.connection_string, timeout=5, signing_key=key.path) as link:
            assert link.vehicle.firmware == "4.7.0-dev"
            status = signing_status(link)
            assert status["enabled"] and status["good_signatures"] > 0
            assert status["fingerprint"] == key.fingerprint
            used = link.mav.signing.timestamp
        assert peer.rejected == 0 and "COMMAND_LONG" in peer.received
    assert int(key.timestamp_path.read_text()) > used - 1


def test_wrong_key_is_a_clear_error(tmp_path):
    right = generate_key(tmp_path / "right.key")
    wrong = generate_key(tmp_path / "wrong.key")
    with Peer(signing_key=right.secret) as peer:
        with pytest.raises(SigningError, match="signs its messages with a different key"):
            connect(peer.connection_string, timeout=2, signing_key=wrong.path)


def test_signing_link_refuses_unsigned_vehicle(tmp_path):
    key = generate_key(tmp_path / "a.key")
    with Peer() as peer:
        with pytest.raises(SigningError, match="answers unsigned.*uav signing setup"):
            connect(peer.connection_string, timeout=2, signing_key=key.path)


FORGER = r"""
import os, sys, time
os.environ["MAVLINK20"] = "1"
from pymavlink import mavutil
m = mavutil.mavlink_connection(sys.argv[1], source_system=255, source_component=190)
m.wait_heartbeat(timeout=10)
answers = 0
for _ in range(3):
    m.mav.param_set_send(1, 1, b"FENCE_ENABLE", 1.0, 2)
    m.mav.command_long_send(1, 1, 400, 0, 1, 21196, 0, 0, 0, 0, 0)  # force arm
    end = time.time() + 0.5
    while time.time() < end:
        msg = m.recv_match(type=["PARAM_VALUE", "COMMAND_ACK"], blocking=True, timeout=0.1)
        if msg is not None:
            answers += 1
print("answers:", answers)
"""
HOME = (43.1, 131.5, 120.0, 0.0)


def test_vehicle_rejects_forged_unsigned_commands(tmp_path, vehicle_factory):
    import subprocess

    from uav.link import control, params

    key = generate_key(tmp_path / "a.key")
    sim = vehicle_factory(home=HOME, speedup=10)
    with connect(sim.connection_string, timeout=10) as link:  # as over USB
        setup_signing(link, key)
    # over the telemetry radio (SERIAL1): ArduPilot accepts unsigned messages on SERIAL0 (USB)
    # whatever the signing set-up, and so does the built-in copter on its first port
    forged = subprocess.run([sys.executable, "-c", FORGER, sim.telemetry_connection_string],
                            capture_output=True, text=True, timeout=60)
    assert forged.returncode == 0, forged.stderr
    assert "answers: 0" in forged.stdout
    with connect(sim.telemetry_connection_string, timeout=5, signing_key=key.path) as link:
        assert params.read(link, "FENCE_ENABLE") == 0
        assert not control.is_armed(link.wait_heartbeat())
        assert params.set_param(link, "FENCE_ENABLE", 1) == 1  # the signed one is obeyed


def test_wrong_key_against_simulator(tmp_path, vehicle_factory):
    right = generate_key(tmp_path / "right.key")
    wrong = generate_key(tmp_path / "wrong.key")
    sim = vehicle_factory(home=HOME, speedup=10)
    with connect(sim.connection_string, timeout=10) as link:
        setup_signing(link, right)
    with pytest.raises(SigningError) as exc:
        connect(sim.connection_string, timeout=3, signing_key=wrong.path)
    assert "signs its messages with a different key" in str(exc.value)
