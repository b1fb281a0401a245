"""Survey grids checked geometrically: legs inside the allowed area, coverage, spacing, angle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from plangeo_helpers import (
    CAM,
    FRAME,
    QUAD,
    coverage,
    exclusion,
    flight_path,
    ll,
    poly,
    positions,
    to_m,
    u_sector,
)
from shapely.geometry import LineString

from missions.geometry import scanline_segments
from missions.imaging import grid_spacing
from missions.model import AltitudeMode, PlanKind
from missions.survey import best_angle, plan_survey
from uav.errors import InvalidSectorError, PlanningError
from uav.items import Cmd, Frame
from uav.profiles import AircraftProfile, CameraProfile

# Plenty of battery so the plan stays one sortie unless a test wants more.
LONG = AircraftProfile("long-endurance", endurance_s=4 * 3600, reserve_fraction=0.25)


@pytest.fixture(scope="module")
def u_plan():
    return plan_survey(u_sector(), camera=CAM, aircraft=LONG, exclusions=[exclusion()],
                       altitude_m=60, max_items=5000)


def allowed_m():
    return to_m(u_sector()).difference(to_m(exclusion()))


def test_every_leg_inside_sector_minus_exclusions_and_holes(u_plan):
    allowed = allowed_m()
    assert u_plan.kind == PlanKind.SURVEY
    assert len(u_plan.legs) > 20
    for leg in u_plan.legs:
        line = to_m(LineString(leg))
        assert allowed.buffer(0.01).covers(line), f"leg {leg[0]}..{leg[-1]} leaves the allowed area"
    # Legs are clipped, not bridged: nothing crosses the hole or the notch of the U.
    hole = to_m(poly([(100, 100), (250, 100), (250, 250), (100, 250)]))
    notch = to_m(poly([(400, 300), (800, 300), (800, 900), (400, 900)]))
    legs = shapely.union_all([to_m(LineString(leg)) for leg in u_plan.legs])
    assert legs.intersection(hole).length < 0.01
    assert legs.intersection(notch).length < 0.01


def test_footprints_cover_the_allowed_area(u_plan):
    frac = coverage(u_plan.sorties, CAM, 60, allowed_m())
    assert frac >= 0.99, f"photos cover only {frac:.2%} of the allowed area"


def test_whole_flight_path_avoids_exclusions_and_holes(u_plan):
    hole = to_m(poly([(100, 100), (250, 100), (250, 250), (100, 250)]))
    zone = to_m(exclusion())
    for m in u_plan.sorties:
        path = flight_path(m)
        assert not path.intersects(zone), "a transit cuts across the exclusion zone"
        assert not path.intersects(hole), "a transit flies over the sector's hole"


def test_spacing_and_trigger_distance_follow_the_gsd_formula(u_plan):
    # Independent formula: footprint = sensor * h / f; long side (width) across track.
    across = CAM.sensor_width_mm * 60 / CAM.focal_length_mm
    along = CAM.sensor_height_mm * 60 / CAM.focal_length_mm
    assert u_plan.stats.line_spacing_m == pytest.approx(across * 0.35)
    assert u_plan.stats.trigger_distance_m == pytest.approx(along * 0.25)
    assert u_plan.stats.gsd_m == pytest.approx(60 * CAM.sensor_width_mm / (CAM.focal_length_mm * CAM.image_width_px))
    trig = [it.param1 for it in u_plan.mission.items if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0]
    assert trig and all(t == pytest.approx(along * 0.25) for t in trig)
    # Measured spacing: offsets of the legs across the line direction.
    # stats give the bearing from true north; the metric frame's y axis is grid north
    b = math.radians(u_plan.stats.grid_angle_deg + u_plan.settings["grid_north_offset_deg"])
    normal = np.array([math.cos(b), -math.sin(b)])
    offs = sorted({round(float(np.mean(np.array([FRAME.to_metric(*p) for p in leg]) @ normal)), 3)
                   for leg in u_plan.legs})
    gaps = np.diff(offs)
    gaps = gaps[gaps > 1.0]
    assert np.allclose(gaps / (across * 0.35), np.round(gaps / (across * 0.35)), atol=1e-3)
    assert gaps.min() == pytest.approx(across * 0.35, rel=1e-3)


def test_items_follow_ardupilot_conventions(u_plan):
    items = u_plan.mission.items
    assert items[0].command == Cmd.NAV_WAYPOINT and items[0].frame == Frame.GLOBAL
    assert items[1].command == Cmd.NAV_TAKEOFF
    assert items[2].command == Cmd.DO_CHANGE_SPEED and items[2].param2 == QUAD.cruise_speed_ms
    assert items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
    wps = [it for it in items[3:-1] if it.command == Cmd.NAV_WAYPOINT]
    assert all(it.frame == Frame.GLOBAL_RELATIVE_ALT_INT and it.alt == 60 for it in wps)
    on = [i for i, it in enumerate(items) if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 > 0]
    off = [i for i, it in enumerate(items) if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 == 0]
    assert len(on) == len(off) == len(u_plan.legs)
    assert all(a < b for a, b in zip(on, off))
    assert u_plan.altitude_mode == AltitudeMode.RELATIVE
    assert u_plan.stats.photo_count > 100
    assert u_plan.stats.area_m2 == pytest.approx(allowed_m().area, rel=0.01)


def test_turnarounds_extend_legs_only_inside_the_fence(u_plan):
    # The waypoint before each camera-on and after each camera-off is a turnaround point: it
    # must lie on the leg's line and inside the inclusion fence, outside exclusions.
    pos = {seq: (x, y) for seq, x, y in positions(u_plan.mission)}
    items = u_plan.mission.items
    inc = shapely.Polygon([FRAME.to_metric(it.lon, it.lat) for it in u_plan.fence
                           if it.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION])
    extended = 0
    for i, it in enumerate(items):
        if it.command == Cmd.DO_SET_CAM_TRIGG_DIST and it.param1 == 0 and items[i + 1].command == Cmd.NAV_WAYPOINT:
            end = np.array(pos[i - 1])
            after = np.array(pos[i + 1])
            ext = float(np.hypot(*(after - end)))
            if 0 < ext <= 20.0 + 1e-6:
                extended += 1
                assert inc.buffer(-9.0).covers(shapely.Point(after))
    assert extended > 10


def test_auto_angle_runs_along_the_long_side():
    # 2000 x 300 m rectangle rotated to a bearing of 30 degrees.
    rect = np.array([(0, 0), (2000, 0), (2000, 300), (0, 300)], float)
    b = math.radians(60)  # rotate the long side (east, bearing 90) by -60 deg -> bearing 30
    rot = rect @ np.array([[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]])
    sector = poly(rot.tolist())
    plan = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=80, max_items=5000)
    assert plan.stats.grid_angle_deg == pytest.approx(30, abs=2)
    across = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=80, angle_deg=120, max_items=5000)
    assert plan.stats.transect_count < across.stats.transect_count
    assert plan.stats.flight_time_s < across.stats.flight_time_s
    assert best_angle(to_m(sector), 30.0) == pytest.approx(30, abs=2)


def test_crosshatch_adds_a_perpendicular_pass():
    sector = poly([(0, 0), (600, 0), (600, 400), (0, 400)])
    single = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=60, angle_deg=0, max_items=5000)
    cross = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=60, angle_deg=0, crosshatch=True,
                        max_items=5000)
    from uav.geo import bearing_deg

    bearings = {round(float(bearing_deg(*leg[0], *leg[-1]))) % 180 for leg in cross.legs}
    assert {0, 90} <= {b if b < 179 else 0 for b in bearings}  # true bearings
    assert len(cross.legs) > len(single.legs)
    assert cross.stats.photo_count > 1.5 * single.stats.photo_count


def test_scanline_clip_matches_shapely_intersection():
    area = to_m(u_sector()).difference(to_m(exclusion()))
    ys = np.linspace(area.bounds[1] + 3, area.bounds[3] - 3, 57)
    k, x0, x1 = scanline_segments(area, ys)
    lines = shapely.linestrings([[[area.bounds[0] - 5, y], [area.bounds[2] + 5, y]] for y in ys])
    ref = shapely.intersection(lines, area)
    assert np.sum(x1 - x0) == pytest.approx(shapely.length(ref).sum(), rel=1e-9)
    assert len(k) == sum(len(shapely.get_parts(g)) for g in ref)


def test_home_given_and_transit_from_outside_the_sector():
    sector = poly([(0, 0), (500, 0), (500, 400), (0, 400)])
    lon, lat = FRAME.to_lonlat(FRAME.to_metric(131.2, 43.1)[0] - 300, FRAME.to_metric(131.2, 43.1)[1] + 200)
    plan = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=60, home=(lat, lon), max_items=5000)
    assert plan.mission.items[0].lat == pytest.approx(lat) and plan.mission.items[0].lon == pytest.approx(lon)
    inc = shapely.Polygon([FRAME.to_metric(it.lon, it.lat) for it in plan.fence
                           if it.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION])
    assert inc.covers(shapely.Point(FRAME.to_metric(lon, lat)))


def test_amsl_mode_writes_absolute_altitudes():
    sector = poly([(0, 0), (300, 0), (300, 300), (0, 300)])
    plan = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=50, altitude_mode="amsl",
                       home_alt_amsl=212.0, max_items=5000)
    wps = [it for it in plan.mission.items[3:] if it.command == Cmd.NAV_WAYPOINT]
    assert all(it.frame == Frame.GLOBAL_INT and it.alt == pytest.approx(262.0) for it in wps)
    assert plan.altitude_mode == AltitudeMode.AMSL
    assert plan.mission.items[0].alt == 212.0


def test_hover_and_capture_holds_and_shoots():
    sector = poly([(0, 0), (300, 0), (300, 200), (0, 200)])
    plan = plan_survey(sector, camera=CAM, aircraft=LONG, altitude_m=60, trigger="hover", max_items=5000)
    items = plan.mission.items
    shots = [i for i, it in enumerate(items) if it.command == Cmd.DO_DIGICAM_CONTROL]
    assert len(shots) == plan.stats.photo_count > 10
    assert all(items[i - 1].command == Cmd.NAV_WAYPOINT and items[i - 1].param1 >= 1 for i in shots)
    assert not any(it.command == Cmd.DO_SET_CAM_TRIGG_DIST for it in items)
    assert coverage(plan.sorties, CAM, 60, to_m(sector)) >= 0.99


def test_speed_lowered_when_the_camera_is_slow():
    slow = CameraProfile("slow", 13.2, 8.8, 8.8, 5472, 3648, min_trigger_interval_s=3.0)
    sector = poly([(0, 0), (300, 0), (300, 200), (0, 200)])
    plan = plan_survey(sector, camera=slow, aircraft=LONG, altitude_m=60, max_items=5000)
    # Replay the items: whenever the camera is on, the commanded speed leaves 3 s per photo;
    # with the camera off (transits, turns) the aircraft goes back to its cruise speed.
    speed, trig, on_speeds, off_speeds = None, 0.0, set(), set()
    for it in plan.mission.items[1:]:
        if it.command == Cmd.DO_CHANGE_SPEED:
            speed = it.param2
        elif it.command == Cmd.DO_SET_CAM_TRIGG_DIST:
            trig = it.param1
            if trig > 0:
                on_speeds.add(speed)
        elif it.command == Cmd.NAV_WAYPOINT:
            (on_speeds if trig > 0 else off_speeds).add(speed)
    assert on_speeds and all(plan.stats.trigger_distance_m / v >= 3.0 for v in on_speeds)
    assert max(on_speeds) < LONG.cruise_speed_ms
    assert plan.mission.items[2].param2 == LONG.cruise_speed_ms and LONG.cruise_speed_ms in off_speeds
    assert "speed lowered" in plan.settings["speed_note"]


def test_refuses_a_camera_too_slow_for_any_speed():
    glacial = CameraProfile("glacial", 13.2, 8.8, 8.8, 5472, 3648, min_trigger_interval_s=60.0)
    with pytest.raises(PlanningError, match="needs 60.0 s between photos"):
        plan_survey(poly([(0, 0), (300, 0), (300, 200), (0, 200)]), camera=glacial, aircraft=LONG,
                    altitude_m=30)


def test_bad_inputs_have_clear_messages():
    sector = poly([(0, 0), (300, 0), (300, 200), (0, 200)])
    with pytest.raises(PlanningError, match="above the 'arducopter-quad' ceiling of 120 m"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=150)
    with pytest.raises(PlanningError, match=r"GSD 9.00 cm/px is unreachable .* needs \d+ m above ground"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, gsd_m=0.09)
    with pytest.raises(PlanningError, match="exclusion zones cover the whole sector"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=60,
                    exclusions=[poly([(-10, -10), (310, -10), (310, 210), (-10, 210)])])
    with pytest.raises(PlanningError, match="give a flight altitude"):
        plan_survey(sector, camera=CAM, aircraft=QUAD)
    with pytest.raises(PlanningError, match="either an altitude or a target GSD"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=50, gsd_m=0.02)
    with pytest.raises(PlanningError, match="side overlap must be a fraction"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=50, side_overlap=65)
    with pytest.raises(PlanningError, match="camera trigger must be"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=50, trigger="sometimes")
    with pytest.raises(PlanningError, match="grid angle must be degrees or 'auto'"):
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=50, angle_deg="north")
    with pytest.raises(InvalidSectorError, match="the sector is empty"):
        plan_survey(shapely.Polygon(), camera=CAM, aircraft=QUAD, altitude_m=50)
    with pytest.raises(PlanningError, match="home .* is inside an exclusion zone"):
        lon, lat = FRAME.to_lonlat(*(np.array(FRAME.to_metric(131.2, 43.1)) + 150))
        plan_survey(sector, camera=CAM, aircraft=QUAD, altitude_m=50, home=(lat, lon),
                    exclusions=[poly([(100, 100), (200, 100), (200, 190), (100, 190)])])


def test_grid_spacing_values():
    spacing, trig = grid_spacing(CAM, 100, 0.8, 0.7)
    w, h = CAM.footprint_m(100)
    assert spacing == pytest.approx(w * 0.3) and trig == pytest.approx(h * 0.2)
    assert w > h  # long side across track


@pytest.mark.parametrize("angle", [0.0, 90.0, 30.0])
def test_grid_angle_is_measured_from_true_north(angle):
    from missions.imaging import true_north_grid_bearing
    from uav.geo import bearing_deg

    # 2.2 degrees east of zone 52's central meridian: grid north is ~1.5 degrees off true north,
    # so a grid-north bearing would miss by far more than the tolerance below.
    centre = to_m(shapely.Point(ll([(600, 450)])[0]))
    assert abs(true_north_grid_bearing(FRAME, (centre.x, centre.y))) > 1.0
    plan = plan_survey(poly([(0, 0), (1200, 0), (1200, 900), (0, 900)]), camera=CAM, aircraft=LONG,
                       altitude_m=80, angle_deg=angle, max_items=5000)
    assert plan.stats.grid_angle_deg == pytest.approx(angle, abs=1e-6)
    longest = max(plan.legs, key=lambda leg: shapely.LineString(to_m(shapely.LineString(leg)).coords).length)
    (lon1, lat1), (lon2, lat2) = longest[0], longest[-1]
    b = float(bearing_deg(lon1, lat1, lon2, lat2)) % 180.0
    assert min(abs(b - angle), 180.0 - abs(b - angle)) < 0.05
