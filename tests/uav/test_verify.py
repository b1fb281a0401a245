"""Read-back comparison: ArduPilot's storage rounding is tolerated, real differences are named."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _peer import Peer  # noqa: E402

from uav.errors import MissionUploadError, MissionVerifyError  # noqa: E402
from uav.items import Cmd, Frame, Home, Mission, MissionItem, MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.upload import upload_verified  # noqa: E402
from uav.link.verify import compare_items, verify_items  # noqa: E402

HOME = Home(43.1, 131.5, 120.0)


def wp(lat, lon, alt, **kw):
    return MissionItem(Cmd.NAV_WAYPOINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat=lat, lon=lon, alt=alt,
                       **kw)


def stored_like_ardupilot(item: MissionItem) -> MissionItem:
    """What ArduPilot answers for a waypoint: float frame, cm altitude (cut), p1 whole s."""
    return item.with_(frame=Frame.GLOBAL_RELATIVE_ALT, alt=int(item.alt * 100) / 100,
                      param1=float(int(item.param1)), param2=0.0, param3=0.0, param4=0.0,
                      lat=round(item.lat * 1e7) / 1e7, lon=round(item.lon * 1e7) / 1e7)


def test_storage_rounding_is_tolerated():
    sent = [HOME.as_item(), wp(43.10000004, 131.50000006, 50.129, param1=2.7, param2=3, param4=90)]
    vehicle_home = Home(43.2, 131.6, 150.0).as_item()  # the vehicle keeps its own home
    stored = [vehicle_home, stored_like_ardupilot(sent[1])]
    assert compare_items(sent, stored, MissionType.MISSION) == []
    verify_items(sent, stored, MissionType.MISSION)


def test_difference_names_item_field_and_values():
    sent = [HOME.as_item(), wp(43.1, 131.5, 50.0), wp(43.101, 131.501, 60.0)]
    stored = [HOME.as_item(), stored_like_ardupilot(sent[1]),
              stored_like_ardupilot(sent[2]).with_(alt=65.0)]
    with pytest.raises(MissionVerifyError) as exc:
        verify_items(sent, stored, MissionType.MISSION)
    err = exc.value
    assert (err.seq, err.field, err.sent, err.stored) == (2, "altitude", 60.0, 65.0)
    assert "mission item 2: altitude sent 60, vehicle stored 65" in str(err)


def test_short_read_back_is_an_error():
    sent = [HOME.as_item()] + [wp(43.1 + i * 1e-4, 131.5, 50) for i in range(5)]
    stored = [stored_like_ardupilot(i) for i in sent[:4]]
    with pytest.raises(MissionVerifyError, match="6 items sent but the vehicle holds 4"):
        verify_items(sent, stored, MissionType.MISSION)


def test_position_and_command_differences():
    sent = [HOME.as_item(), wp(43.1, 131.5, 50)]
    moved = [HOME.as_item(), stored_like_ardupilot(sent[1]).with_(lat=43.1000003)]
    diffs = compare_items(sent, moved, MissionType.MISSION)
    assert [(d.seq, d.field) for d in diffs] == [(1, "latitude")]
    other = [HOME.as_item(), MissionItem(Cmd.NAV_LAND, lat=43.1, lon=131.5)]
    diffs = compare_items(sent, other, MissionType.MISSION)
    assert diffs[0].field == "command" and "NAV_LAND" in diffs[0].describe()


def test_fence_and_rally_rules():
    fence = [MissionItem(Cmd.NAV_FENCE_CIRCLE_INCLUSION, Frame.GLOBAL_INT, param1=300, lat=43.1,
                         lon=131.5, mission_type=MissionType.FENCE)]
    fence_back = [fence[0].with_(frame=Frame.GLOBAL)]
    assert compare_items(fence, fence_back, MissionType.FENCE) == []
    rally = [MissionItem(Cmd.NAV_RALLY_POINT, Frame.GLOBAL_RELATIVE_ALT_INT, lat=43.1, lon=131.5,
                         alt=40.7, mission_type=MissionType.RALLY)]
    rally_back = [rally[0].with_(frame=Frame.GLOBAL_RELATIVE_ALT, alt=40.0)]  # whole metres
    assert compare_items(rally, rally_back, MissionType.RALLY) == []
    wrong = [fence[0].with_(param1=200)]
    assert [d.field for d in compare_items(fence, wrong, MissionType.FENCE)] == ["param1"]


def test_corrupting_vehicle_is_caught_and_state_reported():
    items = [HOME.as_item()] + [wp(43.1 + i * 1e-4, 131.5, 50) for i in range(8)]
    with Peer(corrupt_seq=5) as peer, connect(peer.connection_string, timeout=5) as link:
        with pytest.raises(MissionVerifyError) as exc:
            upload_verified(link, Mission(items))
    msg = str(exc.value)
    assert "mission item 5: altitude sent 50, vehicle stored 55" in msg
    assert "fence: cleared (empty), verified" in msg and "Do not fly" in msg
    assert isinstance(exc.value, MissionUploadError)


def test_change_speed_keeps_no_change_throttle_and_byte_speed_type():
    # AP_Mission keeps DO_CHANGE_SPEED's speed type in one unsigned byte and the throttle as a
    # float, so -1 ("no change", as QGroundControl writes it) must come back as -1.
    sent = [MissionItem(Cmd.NAV_WAYPOINT), MissionItem(Cmd.DO_CHANGE_SPEED, param1=1, param2=8, param3=-1)]
    verify_items(sent, list(sent), MissionType.MISSION)
    wrong = [sent[0], MissionItem(Cmd.DO_CHANGE_SPEED, param1=1, param2=8, param3=255)]
    with pytest.raises(MissionVerifyError, match="param3"):
        verify_items(sent, wrong, MissionType.MISSION)
