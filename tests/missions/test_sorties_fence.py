"""Sorties fit the battery, drones share the work evenly, fences and rally points are right."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely
from plangeo_helpers import FRAME, coverage, exclusion, flight_path, ll, poly, to_m, u_sector
from shapely.geometry import LineString, Point

from missions.estimate import estimate_mission
from missions.fence import build_fence_geometry, fence_items, fence_polygons, rally_items
from missions.sorties import split_among_drones, split_sorties
from missions.survey import plan_survey
from uav.errors import PlanningError, PlanValidationError
from uav.items import Cmd, MissionItem, MissionType
from uav.profiles import AIRCRAFT, CAMERAS

CAM = CAMERAS["mavic3e-wide"]
QUAD = AIRCRAFT["arducopter-quad"]  # SITL-measured: 19.6 min at cruise, 25 % reserve: 14.7 min usable


@pytest.fixture(scope="module")
def multi():
    return plan_survey(u_sector(), camera=CAM, aircraft=QUAD, exclusions=[exclusion()], altitude_m=60)


def imaging_segments(mission):
    """(start, end) metric points of each camera-on stretch."""
    items = mission.items
    out, last, start = [], None, None
    for it in items[1:]:
        if it.command == Cmd.NAV_WAYPOINT:
            last = np.array(FRAME.to_metric(it.lon, it.lat))
        elif it.command == Cmd.DO_SET_CAM_TRIGG_DIST:
            if it.param1 > 0:
                start = last
            else:
                out.append((start, last))
    return out


def test_long_plan_is_cut_into_sorties_that_each_fit(multi):
    assert multi.stats.sortie_count >= 3
    for m in multi.sorties:
        est = estimate_mission(m, QUAD)
        assert est.time_s <= QUAD.usable_endurance_s
        assert m.items[0].command == Cmd.NAV_WAYPOINT and m.items[1].command == Cmd.NAV_TAKEOFF
        assert m.items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
        assert m.fence and m.fence == multi.sorties[0].fence
    assert multi.stats.sortie_times_s == pytest.approx([estimate_mission(m, QUAD).time_s for m in multi.sorties], rel=0.02)
    assert multi.stats.flight_time_s == pytest.approx(sum(multi.stats.sortie_times_s))


def test_sorties_overlap_by_one_line_and_cover_together(multi):
    for a, b in zip(multi.sorties, multi.sorties[1:]):
        last = imaging_segments(a)[-1]
        first = imaging_segments(b)[0]
        assert np.allclose(last[0], first[0], atol=0.05) and np.allclose(last[1], first[1], atol=0.05)
    allowed = to_m(u_sector()).difference(to_m(exclusion()))
    assert coverage(multi.sorties, CAM, 60, allowed) >= 0.99


def test_item_limit_cuts_more_sorties():
    plan = plan_survey(u_sector(), camera=CAM, aircraft=QUAD, exclusions=[exclusion()], altitude_m=60,
                       max_items=60)
    assert all(len(m.items) <= 60 for m in plan.sorties)
    assert plan.stats.sortie_count > 4


def test_split_among_drones_is_balanced_and_disjoint():
    plans = plan_survey(u_sector(), camera=CAM, aircraft=QUAD, exclusions=[exclusion()], altitude_m=60,
                        drones=3)
    assert len(plans) == 3
    times = [p.stats.flight_time_s for p in plans]
    assert max(times) / min(times) < 1.25, times
    legs = [shapely.union_all([to_m(LineString(leg)) for leg in p.legs]) for p in plans]
    for i in range(3):
        for j in range(i + 1, 3):
            assert legs[i].intersection(legs[j]).length < 0.01
    allowed = to_m(u_sector()).difference(to_m(exclusion()))
    assert coverage([m for p in plans for m in p.sorties], CAM, 60, allowed) >= 0.99
    assert [p.settings["drone"] for p in plans] == [1, 2, 3]


def test_split_sorties_unit_and_errors():
    # Ten 100 s legs, 10 s links, 50 s overhead, 400 s budget.
    r = split_sorties([100] * 10, [10] * 9, budget_s=400, overhead_s=lambda i, j: 50)
    assert r[0] == (0, 2)
    assert all(b >= a for a, b in r) and r[-1][1] == 9
    assert all(r[k + 1][0] == r[k][1] for k in range(len(r) - 1))  # one leg repeated
    with pytest.raises(PlanningError, match="leg 2 cannot be flown in one sortie"):
        split_sorties([100, 1000], [0], budget_s=400, overhead_s=lambda i, j: 0)
    assert split_among_drones([1, 1, 1, 1, 4], 2) == [(0, 3), (4, 4)]
    with pytest.raises(PlanningError, match="too few to share among 4 drones"):
        split_among_drones([1, 2], 4)


def test_a_leg_too_far_for_one_battery_is_refused():
    far = poly([(20000, 0), (20300, 0), (20300, 300), (20000, 300)])
    lat, lon = 43.1, 131.2
    with pytest.raises(PlanningError, match="cannot be flown in one sortie"):
        plan_survey(far, camera=CAM, aircraft=QUAD, altitude_m=60, home=(lat, lon), fence_buffer_m=50)


def test_fence_contains_sector_with_buffer_and_exclusions_with_holes():
    sector_m, excl_m = to_m(u_sector()), to_m(exclusion())
    fg = build_fence_geometry(sector_m, excl_m, buffer_m=50.0)
    assert fg.inclusion.covers(sector_m.buffer(40.0))
    assert not fg.inclusion.covers(sector_m.buffer(60.0))
    union = shapely.union_all(fg.exclusions)
    assert union.covers(excl_m)
    hole = to_m(poly([(100, 100), (250, 100), (250, 250), (100, 250)]))
    assert union.covers(hole)
    items = fence_items(fg, FRAME)
    assert all(it.mission_type == MissionType.FENCE for it in items)
    inc = [it for it in items if it.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    assert len(inc) == inc[0].param1
    back_inc, back_exc = fence_polygons(items)
    assert len(back_inc) == 1 and len(back_exc) == 2
    assert to_m(back_inc[0]).symmetric_difference(fg.inclusion).area < 1.0


def test_multipart_sector_gets_one_inclusion_polygon_and_inside_transits():
    a = poly([(0, 0), (300, 0), (300, 300), (0, 300)])
    b = poly([(800, 0), (1100, 0), (1100, 300), (800, 300)])
    sector = shapely.MultiPolygon([a, b])
    plan = plan_survey(sector, camera=CAM, aircraft=AIRCRAFT["mavic3e"], altitude_m=60)
    inc, _ = fence_polygons(plan.fence)
    assert len(inc) == 1
    inc_m = to_m(inc[0])
    for m in plan.sorties:
        assert inc_m.covers(flight_path(m))


def test_home_outside_sector_is_inside_fence_and_transit_avoids_exclusion():
    sector = poly([(0, 0), (400, 0), (400, 400), (0, 400)])
    # Home west of the sector; an exclusion between home and the sector's west edge.
    home_xy = ll([(-500, 200)])[0]
    wall = poly([(-300, 100), (-200, 100), (-200, 300), (-300, 300)])
    plan = plan_survey(sector, camera=CAM, aircraft=AIRCRAFT["mavic3e"], altitude_m=60,
                       home=(home_xy[1], home_xy[0]), exclusions=[wall], fence_buffer_m=150)
    wall_m = to_m(wall)
    for m in plan.sorties:
        assert not flight_path(m).intersects(wall_m)
    inc, _ = fence_polygons(plan.fence)
    assert to_m(inc[0]).covers(Point(FRAME.to_metric(*home_xy)))


def test_rally_points():
    items = rally_items([(43.1, 131.2), (43.11, 131.21, 40)], default_alt_m=60)
    assert [it.command for it in items] == [Cmd.NAV_RALLY_POINT] * 2
    assert all(it.mission_type == MissionType.RALLY for it in items)
    assert items[0].alt == 60 and items[1].alt == 40
    with pytest.raises(PlanningError, match="rally point 1 .* is not a latitude,longitude pair"):
        rally_items([(131.2, 43.1)], default_alt_m=60)
    plan = plan_survey(poly([(0, 0), (300, 0), (300, 300), (0, 300)]), camera=CAM,
                       aircraft=AIRCRAFT["mavic3e"], altitude_m=60, rally_points=[ll([(150, 150)])[0][::-1]])
    assert len(plan.rally) == 1 and plan.rally[0].command == Cmd.NAV_RALLY_POINT


def test_fence_items_with_bad_counts_are_rejected():
    bad = [MissionItem(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, param1=4, lat=43.1, lon=131.2,
                       mission_type=MissionType.FENCE)] * 3
    with pytest.raises(PlanValidationError, match="polygon of 4 vertices"):
        fence_polygons(bad)


def test_lines_far_from_home_are_cut_to_what_one_battery_reaches(monkeypatch):
    # A 4.6 km strip flown from one end with a camera that forces 5 m/s imaging (transits at
    # cruise): a fixed piece length leaves the far pieces out of reach; cutting by distance
    # from home makes every piece flyable, and together they still cover each whole line.
    from missions.assemble import Planner
    from missions.validate import validate_plan
    from uav.profiles import CameraProfile

    slow = CameraProfile("slow", 13.2, 8.8, 8.8, 5472, 3648, min_trigger_interval_s=3.0)
    sector = poly([(0, 0), (4600, 0), (4600, 60), (0, 60)])
    home = ll([(-30, 30)])[0][::-1]
    # the strip's far end must be within one battery's reach: a quad of 25 min at cruise
    quad = replace(QUAD, endurance_s=25 * 60)
    plan = plan_survey(sector, camera=slow, aircraft=quad, altitude_m=60, home=home)
    assert plan.settings["speed_ms"] < quad.cruise_speed_ms
    assert max(plan.stats.sortie_times_s) <= quad.usable_endurance_s
    assert validate_plan(plan) == []
    x0, _, x1, _ = to_m(sector).bounds
    by_line: dict[int, list] = {}
    for leg in plan.legs:
        m = np.asarray(to_m(LineString(leg)).coords)
        by_line.setdefault(round(float(m[:, 1].mean())), []).append((m[:, 0].min(), m[:, 0].max()))
    assert len(by_line) == plan.stats.transect_count >= 1
    for pieces in by_line.values():
        pieces.sort()
        assert pieces[0][0] < x0 + 15 and pieces[-1][1] > x1 - 15       # end to end ...
        assert all(b[0] <= a[1] + 1e-3 for a, b in zip(pieces, pieces[1:]))  # ... with no gap
    monkeypatch.setattr(Planner, "fit_legs", lambda self, legs: legs)     # the old fixed cut only
    with pytest.raises(PlanningError, match=r"the flight line starting at .* km from home, .* cannot be flown"):
        plan_survey(sector, camera=slow, aircraft=quad, altitude_m=60, home=home)
