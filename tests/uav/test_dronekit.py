"""DroneKit interop (dronekit2 fork; upstream 2.9.2 does not import on Python >= 3.10):
our verified upload over a connected dronekit Vehicle, and missions <-> dronekit Commands."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from test_mission_transfer import survey  # noqa: E402

from uav.items import MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.dronekit_interop import (  # noqa: E402
    commands_to_items,
    commands_to_mission,
    mission_to_commands,
    upload_to_dronekit,
)
from uav.link.mission_transfer import MissionTransfer  # noqa: E402
from uav.link.verify import verify_items  # noqa: E402

dronekit = pytest.importorskip("dronekit")
HOME = (43.1, 131.5, 120.0, 0.0)


def test_commands_round_trip_exact_and_float():
    m = survey(12)
    exact = mission_to_commands(m)
    assert len(exact) == 11 and all(isinstance(c, dronekit.CommandInt) for c in exact)
    assert commands_to_items(exact) == [i.with_(lat=round(i.lat, 7), lon=round(i.lon, 7))
                                        for i in m.items[1:]]
    floats = mission_to_commands(m, exact=False)
    assert all(isinstance(c, dronekit.Command) for c in floats)
    back = commands_to_mission(floats, home=m.items[0])
    for a, b in zip(m.items[1:], back.items[1:], strict=True):
        assert a.command == b.command
        assert abs(a.lat - b.lat) < 1e-5 and abs(a.lon - b.lon) < 2e-5  # float32 degrees
    fence_items = commands_to_items(mission_to_commands(m.fence), MissionType.FENCE)
    assert [(i.command, i.param1, round(i.lat, 7)) for i in fence_items] == \
        [(i.command, i.param1, round(i.lat, 7)) for i in m.fence]


@pytest.mark.slow
def test_verified_upload_over_dronekit_vehicle_and_dronekit_upload(vehicle_factory):
    sim = vehicle_factory(home=HOME, speedup=10)
    vehicle = dronekit.connect(sim.connection_string, wait_ready=False, heartbeat_timeout=15)
    try:
        m = survey(80)
        report = upload_to_dronekit(vehicle, m)
        assert report.describe().endswith("mission: 80 items, new, verified")
        assert vehicle.commands.count == 79  # dronekit sees the new mission (home excluded)
        # dronekit downloads with float MISSION_REQUEST: float32 degrees
        assert vehicle.commands[5].x == pytest.approx(m.items[6].lat, abs=1e-5)
        # the other way: our mission uploaded by dronekit itself, then checked by us
        other = survey(15)
        cmds = vehicle.commands
        cmds.clear()
        for c in mission_to_commands(other):
            cmds.add(c)
        cmds.upload(timeout=30)
    finally:
        vehicle.close()
    with connect(sim.connection_string) as link:
        stored = MissionTransfer(link).download(MissionType.MISSION).items
    verify_items(other.items, stored, MissionType.MISSION)
