"""Planning benchmark: a survey grid over a park-sized sector.

Synthesises a sector like the Land of the Leopard park (~2,600 km², ~500 vertices, ~30 holes)
near 43.1 N 131.2 E and plans the survey geometry at 120 m with a Mavic 3E wide camera:
projection, sector minus holes, fence and flight area, automatic grid angle, exact clipping of
every line, cell-by-cell ordering, turnarounds and the routed transits between pieces.

Baselines measured in the same run: projecting the sector alone, and clipping the same lines
one by one in a Python loop (``line.intersection(area)``) and with one shapely 2 array call.

Run ``python -m benchmarks.planning``; :func:`run` returns the figures as a dict.
"""

from __future__ import annotations

import math
import resource
import time
import tracemalloc

import numpy as np
import shapely
from shapely.geometry import Polygon

from missions.assemble import prepare_area
from missions.fence import build_fence_geometry
from missions.geometry import Router, bearing_rotation, line_offsets, polygonal, rotate_geom
from missions.imaging import grid_spacing
from missions.survey import survey_grid
from uav.geo import LocalFrame, geodesic_area_m2
from uav.profiles import CAMERAS

LON0, LAT0 = 131.2, 43.1


def park_sector(n_vertices: int = 500, n_holes: int = 30, area_km2: float = 2600.0, seed: int = 7) -> Polygon:
    """A wobbly star-shaped polygon with small polygonal holes (lon/lat)."""
    rng = np.random.default_rng(seed)
    f = LocalFrame.around(LON0, LAT0)
    x0, y0 = f.to_metric(LON0, LAT0)
    t = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    wobble = 1 + 0.12 * np.sin(3 * t) + 0.06 * np.sin(11 * t + 1) + 0.03 * rng.standard_normal(n_vertices)
    r = wobble * math.sqrt(area_km2 * 1e6 / np.pi / np.mean(wobble ** 2))
    ext = np.column_stack([x0 + r * np.cos(t), y0 + r * np.sin(t)])
    shell = Polygon(ext)
    holes = []
    while len(holes) < n_holes:
        cx, cy = rng.uniform(*shell.bounds[0::2]), rng.uniform(*shell.bounds[1::2])
        rad = rng.uniform(300, 1500)
        k = int(rng.integers(6, 14))
        a = np.sort(rng.uniform(0, 2 * np.pi, k))
        h = Polygon(np.column_stack([cx + rad * np.cos(a), cy + rad * np.sin(a)]))
        if shell.buffer(-500).contains(h) and all(h.distance(o) > 300 for o in holes):
            holes.append(h)
    poly = Polygon(ext, [np.asarray(h.exterior.coords) for h in holes])
    return f.geom_to_lonlat(poly)


def _timed(fn, repeat: int = 3):
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(altitude_m: float = 120.0, camera: str = "mavic3e-wide", repeat: int = 3) -> dict:
    """Time the survey geometry over the synthetic park; returns the figures."""
    cam = CAMERAS[camera]
    sector = park_sector()
    spacing, trig = grid_spacing(cam, altitude_m, 0.75, 0.65)
    n_vertices = len(sector.exterior.coords) - 1 + sum(len(r.coords) - 1 for r in sector.interiors)

    def plan_geometry():
        area = prepare_area(sector, ())
        fence = build_fence_geometry(area.sector_m, None, buffer_m=50.0)
        router = Router(fence.flight_area(10.0))
        imaging = polygonal(area.allowed_m.intersection(router.area))
        c = imaging.centroid
        grid = survey_grid(imaging, router, spacing_m=spacing, angle_deg="auto",
                           start_xy=(c.x, c.y), turnaround_m=20.0)
        legs = grid.legs
        a = np.array([leg.exit for leg in legs[:-1]])
        b = np.array([leg.entry for leg in legs[1:]])
        ok = router.covers(a, b)
        routed = [router.route(a[k], b[k]) for k in np.flatnonzero(~ok)]
        return grid, imaging, len(routed)

    t_plan, (grid, imaging, n_routed) = _timed(plan_geometry, repeat)
    frame = LocalFrame.for_geometry(sector)
    t_project, _ = _timed(lambda: frame.geom_to_metric(sector), repeat)

    # Same lines, clipped naively: one shapely call per line in a Python loop, and one
    # vectorised shapely 2 call on the array of lines.
    c = imaging.centroid
    rot = rotate_geom(imaging, bearing_rotation(grid.bearing_deg), (c.x, c.y))
    x0, y0, x1, y1 = rot.bounds
    ys = line_offsets(y0, y1, spacing)
    lines = shapely.linestrings(np.stack([np.column_stack([np.full_like(ys, x0 - 1), ys]),
                                          np.column_stack([np.full_like(ys, x1 + 1), ys])], axis=1))

    def naive():
        return [ln.intersection(rot) for ln in lines]

    def array_op():
        return shapely.intersection(lines, rot)

    t_naive, _ = _timed(naive, 1)
    t_array, _ = _timed(array_op, 1)

    # End to end on a real-sized job: the bundled Sector 7 minus its exclusion zones, through
    # items, sorties, fence and validation (what `uav plan survey` does after reading files).
    from missions.data import sample_path
    from missions.sectors import read_areas, read_sector
    from missions.survey import plan_survey
    from uav.profiles import get_aircraft

    s7 = read_sector(sample_path("park_sectors"), name="Sector 7")
    s7_excl = read_areas(sample_path("exclusions"))
    t_s7, s7_plan = _timed(lambda: plan_survey(s7, camera=cam, aircraft=get_aircraft("mavic3e"),
                                               exclusions=s7_excl, altitude_m=100.0), repeat)

    tracemalloc.start()
    plan_geometry()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "sector_area_km2": geodesic_area_m2(sector) / 1e6,
        "sector_vertices": n_vertices,
        "holes": len(sector.interiors),
        "altitude_m": altitude_m,
        "line_spacing_m": spacing,
        "trigger_distance_m": trig,
        "grid_angle_deg": grid.bearing_deg,
        "transects": grid.line_count,
        "imaging_legs": len(grid.legs),
        "routed_transits": n_routed,
        "leg_km": sum(leg.length_m for leg in grid.legs) / 1000,
        "plan_s": t_plan,
        "baseline_project_s": t_project,
        "baseline_naive_loop_clip_s": t_naive,
        "baseline_shapely_array_clip_s": t_array,
        "sector7_full_plan_s": t_s7,
        "sector7_sorties": len(s7_plan.sorties),
        "sector7_km2": (s7_plan.stats.area_m2 or 0.0) / 1e6,
        "peak_traced_mb": peak / 2 ** 20,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    r = run()
    print(f"synthetic park: {r['sector_area_km2']:.0f} km², {r['sector_vertices']} vertices, {r['holes']} holes")
    print(f"survey at {r['altitude_m']:.0f} m: spacing {r['line_spacing_m']:.1f} m, trigger every "
          f"{r['trigger_distance_m']:.1f} m, grid bearing {r['grid_angle_deg']:.0f}°")
    print(f"  transects {r['transects']}, imaging legs {r['imaging_legs']} ({r['leg_km']:.0f} km), "
          f"routed transits {r['routed_transits']}")
    print(f"  plan geometry (project → fence → angle → clip → order → turnarounds → transits): "
          f"{r['plan_s'] * 1000:.0f} ms   [target < 1000 ms, aim 200 ms]")
    print(f"  baseline: project sector only            {r['baseline_project_s'] * 1000:8.1f} ms")
    print(f"  baseline: clip lines in a Python loop     {r['baseline_naive_loop_clip_s'] * 1000:8.1f} ms")
    print(f"  baseline: clip lines, one shapely array op {r['baseline_shapely_array_clip_s'] * 1000:7.1f} ms")
    print(f"  full plan (items, sorties, fence, validation), bundled Sector 7 "
          f"({r['sector7_km2']:.1f} km², {r['sector7_sorties']} sorties): {r['sector7_full_plan_s'] * 1000:.0f} ms")
    print(f"  peak traced memory {r['peak_traced_mb']:.1f} MB, process max RSS {r['max_rss_mb']:.0f} MB "
          "[target < 500 MB]")


if __name__ == "__main__":
    main()
