"""A vehicle busy with another ground station's transfer: a clear notice, a wait for
ArduPilot's own 8 s timeout, then the transfer goes through (never a crash).  Both backends."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "simulators"))

from mavtest_helpers import connect as raw_connect  # noqa: E402
from mavtest_helpers import wait  # noqa: E402

from uav.items import MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.mission_transfer import MissionTransfer  # noqa: E402

os.environ.setdefault("MAVLINK20", "1")


def _abandon_an_upload(conn_str: str):
    """Another ground station (on the telemetry port: SITL's SERIAL0 takes one TCP client)
    starts an upload of 5 items and goes quiet, as MAVProxy did when stopped mid-transfer."""
    other = raw_connect(conn_str, timeout=10)
    other.mav.mission_count_send(other.target_system, other.target_component, 5, 0)
    assert wait(other, "MISSION_REQUEST", 5) is not None, "the vehicle did not start the upload"
    return other


def test_download_from_a_busy_vehicle_waits_and_succeeds(vehicle_factory):
    v = vehicle_factory(speedup=5.0)
    other = _abandon_an_upload(v.telemetry_connection_string)
    notices = []
    try:
        with connect(v.connection_string, timeout=10) as link:
            t = MissionTransfer(link, on_notice=notices.append)
            got = t.download(MissionType.MISSION)
    finally:
        other.close()
    assert len(notices) == 1 and "busy with another ground station" in notices[0], notices
    assert "8 s" in notices[0]
    assert got.busy_waited_s > 0
    assert got.count >= 1  # home at least: the abandoned upload had cut the mission


def test_upload_to_a_busy_vehicle_waits_and_succeeds(vehicle_factory):
    from uav.items import Mission, MissionItem

    v = vehicle_factory(speedup=5.0)
    h = v.home
    items = [MissionItem(16, 0, 0, 0, 0, 0, h[0], h[1], h[2], True),
             MissionItem(16, 3, 0, 0, 0, 0, h[0] + 1e-4, h[1], 20.0, True)]
    other = _abandon_an_upload(v.telemetry_connection_string)
    stages = []
    try:
        with connect(v.connection_string, timeout=10) as link:
            from uav.link.upload import upload_verified

            rep = upload_verified(link, Mission(items), fence=False, rally=False,
                                  progress=lambda stage, d, n: stages.append(stage))
    finally:
        other.close()
    assert rep.lists[MissionType.MISSION].state == "verified"
    busy = [s for s in stages if "busy with another ground station" in s]
    # ArduPilot lets a second GCS restart an upload only if it is the same system; ours is
    # not, so either the vehicle denied it (then we said so) or the read-back was denied
    assert busy, stages


def test_download_after_a_ground_station_left_mid_upload_on_the_same_port(vehicle_factory):
    """As MAVProxy stopped mid-transfer on a lossy link: the port is ours next, and the
    vehicle's DENIED and its later OPERATION_CANCELLED (meant for the one who left) arrive
    here; the download waits them out and succeeds."""
    v = vehicle_factory(speedup=5.0)  # ArduPilot's 8 s are simulated seconds
    _abandon_an_upload(v.connection_string).close()
    notices = []
    with connect(v.connection_string, timeout=10) as link:
        got = MissionTransfer(link, on_notice=notices.append).download(MissionType.MISSION)
    assert got.count >= 1
    assert notices and "busy with another ground station" in notices[0], notices
