"""Helpers for the planning-geometry tests: build sectors in metres, replay mission items.

The replay functions read only mission items (what the vehicle gets), never planner
internals, so the tests check the plan the way a flight would.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from uav.geo import LocalFrame
from uav.items import Cmd, Frame
from uav.profiles import AIRCRAFT, CAMERAS

LON0, LAT0 = 131.2, 43.1
FRAME = LocalFrame.around(LON0, LAT0)
X0, Y0 = FRAME.to_metric(LON0, LAT0)
# The camera and aircraft the planning tests fly unless a test needs another.
CAM = CAMERAS["mavic3e-wide"]
QUAD = AIRCRAFT["arducopter-quad"]  # SITL-measured: 19.6 min at cruise, 25 % reserve: 14.7 min usable


def ll(coords):
    """Metric offsets (east, north) from the test origin -> lon/lat tuples."""
    return [tuple(float(v) for v in FRAME.to_lonlat(X0 + x, Y0 + y)) for x, y in coords]


def poly(coords, holes=()) -> Polygon:
    return Polygon(ll(coords), [ll(h) for h in holes])


def to_m(geom):
    return FRAME.geom_to_metric(geom)


def u_sector() -> Polygon:
    """A concave (U-shaped) 1.2 x 0.9 km sector with a square hole."""
    return poly([(0, 0), (1200, 0), (1200, 900), (800, 900), (800, 300), (400, 300), (400, 900), (0, 900)],
                holes=[[(100, 100), (250, 100), (250, 250), (100, 250)]])


def exclusion() -> Polygon:
    return poly([(900, 400), (1100, 400), (1100, 600), (900, 600)])


def positions(mission):
    """Flown positions in order as (seq, x, y) metric: home, NAV items, home again at RTL."""
    home = mission.items[0]
    out = [(0, *FRAME.to_metric(home.lon, home.lat))]
    for seq, it in enumerate(mission.items[1:], start=1):
        if it.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_TURNS):
            out.append((seq, *FRAME.to_metric(it.lon, it.lat)))
        elif it.command == Cmd.NAV_RETURN_TO_LAUNCH:
            out.append((seq, *FRAME.to_metric(home.lon, home.lat)))
    return out


def flight_path(mission) -> LineString:
    return LineString([(x, y) for _, x, y in positions(mission)])


def photo_points(mission):
    """Replay the camera: (x, y, heading_rad) of each photo.

    DO_SET_CAM_TRIGG_DIST d (param3 = 1 shoots at once) then a photo every d metres flown;
    DO_DIGICAM_CONTROL shoots where the aircraft is.
    """
    home = mission.items[0]
    pos = np.array(FRAME.to_metric(home.lon, home.lat))
    heading = 0.0
    d_trig, since = 0.0, 0.0
    shots = []
    for it in mission.items[1:]:
        if it.command == Cmd.DO_SET_CAM_TRIGG_DIST:
            d_trig = it.param1
            since = 0.0
            if d_trig > 0 and it.param3 == 1:
                shots.append((pos[0], pos[1], heading))
        elif it.command == Cmd.DO_DIGICAM_CONTROL:
            shots.append((pos[0], pos[1], heading))
        elif it.command == Cmd.NAV_WAYPOINT:
            nxt = np.array(FRAME.to_metric(it.lon, it.lat))
            seg = nxt - pos
            L = float(np.hypot(*seg))
            if L > 1e-6:
                heading = math.atan2(seg[0], seg[1])
                if d_trig > 0:
                    s = d_trig - since
                    while s <= L + 1e-9:
                        p = pos + seg * (s / L)
                        shots.append((p[0], p[1], heading))
                        s += d_trig
                    since = L - (s - d_trig)
            pos = nxt
    return shots


def footprints(shots, across_m, along_m):
    """Footprint rectangles (metric): ``across_m`` perpendicular to the heading."""
    out = []
    for x, y, h in shots:
        u = np.array([math.sin(h), math.cos(h)])   # along track
        n = np.array([u[1], -u[0]])                 # across track
        c = np.array([x, y])
        pts = [c + a * u * along_m / 2 + b * n * across_m / 2 for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))]
        out.append(Polygon(pts))
    return shapely.union_all(out)


def coverage(mission_list, camera, altitude_m, area_m) -> float:
    across, along = camera.footprint_m(altitude_m)
    shots = [s for m in mission_list for s in photo_points(m)]
    cov = footprints(shots, across, along)
    return cov.intersection(area_m).area / area_m.area


def frame_pos(it):
    return Point(FRAME.to_metric(it.lon, it.lat))


def nav_items(mission):
    return [(seq, it) for seq, it in enumerate(mission.items)
            if seq > 0 and it.command == Cmd.NAV_WAYPOINT and it.frame != Frame.GLOBAL]
