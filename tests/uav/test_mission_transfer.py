"""The mission protocol state machine: all three lists, error acks, stalls, lossy links."""

import sys
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mavlink

sys.path.insert(0, str(Path(__file__).parent))

from _peer import Peer  # noqa: E402

from uav.errors import MissionTransferError, MissionUploadError  # noqa: E402
from uav.items import Cmd, Frame, Home, Mission, MissionItem, MissionType  # noqa: E402
from uav.link import connect  # noqa: E402
from uav.link.mission_transfer import MissionTransfer, TransferSettings  # noqa: E402
from uav.link.upload import upload_verified  # noqa: E402

HOME = Home(43.1, 131.5, 120.0)


def survey(n: int) -> Mission:
    items = [HOME.as_item(), MissionItem(Cmd.NAV_TAKEOFF, alt=40.0)]
    items += [MissionItem(Cmd.NAV_WAYPOINT, lat=43.1 + (i // 20) * 2e-4,
                          lon=131.5 + (i % 20) * 3e-4, alt=40.0 + (i % 7) * 0.01)
              for i in range(n - 3)]
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    fence = [MissionItem(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Frame.GLOBAL_INT, param1=4,
                         lat=43.1 + a, lon=131.5 + b, mission_type=MissionType.FENCE)
             for a, b in [(-0.01, -0.01), (0.02, -0.01), (0.02, 0.02), (-0.01, 0.02)]]
    rally = [MissionItem(Cmd.NAV_RALLY_POINT, lat=43.105, lon=131.505, alt=30.0,
                         mission_type=MissionType.RALLY)]
    return Mission(items, fence=fence, rally=rally, name=f"survey-{n}")


def test_round_trip_of_all_three_lists_with_progress():
    m = survey(40)
    seen = []
    with Peer() as peer, connect(peer.connection_string, timeout=5) as link:
        report = upload_verified(link, m, progress=lambda stage, d, t: seen.append((stage, d, t)))
        assert report.describe() == ("fence: 4 items, new, verified; rally: 1 items, new, "
                                     "verified; mission: 40 items, new, verified")
        t = MissionTransfer(link)
        back = t.download(MissionType.FENCE).items
        assert [i.command for i in back] == [Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION] * 4
        assert t.clear(MissionType.RALLY).count == 0
        assert t.download(MissionType.RALLY).items == []
        mission = t.download(MissionType.MISSION).items
        assert len(mission) == 40 and mission[0].lat == pytest.approx(43.1)
    assert ("mission upload", 40, 40) in seen and ("mission read-back", 40, 40) in seen
    assert ("fence upload", 4, 4) in seen


def test_error_ack_is_reported_by_name():
    with Peer(refuse=mavlink.MAV_MISSION_DENIED) as peer, \
            connect(peer.connection_string, timeout=5) as link:
        with pytest.raises(MissionUploadError, match="MAV_MISSION_DENIED"):
            MissionTransfer(link).upload(survey(5).items)


def test_too_many_items_reports_no_space_and_vehicle_text():
    with Peer(capacity=20) as peer, connect(peer.connection_string, timeout=5) as link:
        with pytest.raises(MissionUploadError) as exc:
            upload_verified(link, survey(30), fence=False, rally=False)
    msg = str(exc.value)
    assert "MAV_MISSION_NO_SPACE" in msg and "Only 20 items are supported" in msg
    assert "mission: holds 0 of the 29 mission items (plus home) sent" in msg


def test_vehicle_that_stops_asking_fails_loudly_with_what_is_left():
    fast = TransferSettings(timeout_s=0.3, item_timeout_s=0.1, retries=2)
    with Peer(stop_after=12, rerequest_s=10) as peer, \
            connect(peer.connection_string, timeout=5) as link:
        with pytest.raises(MissionUploadError) as exc:
            upload_verified(link, survey(30), settings=fast)
    msg = str(exc.value)
    assert "mission upload stopped at item 12 of 30" in msg
    assert "waited 0.3 s x 3 for a request for mission item 13" in msg
    assert "fence: 4 items, new, verified; rally: 1 items, new, verified" in msg
    assert "mission: holds" in msg and "incomplete" in msg


def test_empty_mission_is_refused_before_anything_is_sent():
    with Peer() as peer, connect(peer.connection_string, timeout=5) as link:
        with pytest.raises(MissionTransferError, match="no items"):
            upload_verified(link, Mission([]), fence=False, rally=False)
        assert "MISSION_COUNT" not in peer.received


# --- lossy links, against the simulated copter -------------------------------------------
faults = pytest.importorskip("simulators.faults")
SIM_HOME = (43.1, 131.5, 120.0, 0.0)


def _outcome_over_faulty_link(sim, mission, loss, seed):
    """Upload over a faulty link; then read the vehicle over a clean one.  Returns
    (error message or None, what the vehicle holds)."""
    from uav.errors import UavError
    from uav.link.verify import verify_items

    error = None
    with faults.FaultyLink(sim.connection_string, drop=loss, duplicate=loss / 4,
                           reorder=loss / 4, seed=seed) as proxy:
        try:
            with connect(proxy.connection_string, timeout=10) as link:
                upload_verified(link, mission)
        except UavError as exc:
            error = str(exc)
    with connect(sim.connection_string, timeout=10) as link:
        stored = MissionTransfer(link).download(MissionType.MISSION).items
    if error is None:
        verify_items(mission.items, stored, MissionType.MISSION)  # whole, as reported
    return error, stored


@pytest.mark.slow
@pytest.mark.parametrize("loss", [0.0, 0.05, 0.20])
def test_lossy_link_upload_is_whole_or_fails_loudly(vehicle_factory, loss):
    sim = vehicle_factory(home=SIM_HOME, speedup=5)
    for seed in (1, 2):
        m = survey(40 + seed)
        error, stored = _outcome_over_faulty_link(sim, m, loss, seed)
        if error is not None:
            # never silent: the message says what failed and what the vehicle holds
            assert "On the vehicle now" in error and "Do not fly" in error, error
        elif loss == 0:
            assert len(stored) == len(m.items)
    if loss == 0:
        assert error is None


@pytest.mark.slow
def test_300_items_at_20_percent_loss(vehicle_factory):
    sim = vehicle_factory(home=SIM_HOME, speedup=5)
    m = survey(320)
    error, stored = _outcome_over_faulty_link(sim, m, 0.20, seed=7)
    assert error is None, error
    assert len(stored) == 320
