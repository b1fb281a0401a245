"""``uav demo``: the whole loop on the bundled sample sector, on a simulator.

plan a survey → upload it (verified) → fly it with the simulated camera → process the frames →
GeoPackage, exports and review data → what was found against what was planted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from ..errors import UavError

# The demo's planted objects, as offsets in metres (east, north) from the demo sector's centre;
# _plant moves each into the photographed area and vehicles onto the road.
DEMO_OBJECTS = [
    ("fire-1", "fire", -90.0, 60.0, 4.0, 0.0),
    ("fire-2", "fire", 110.0, -70.0, 5.0, 0.0),
    ("smoke-1", "smoke", 40.0, 110.0, 30.0, 0.0),
    ("vehicle-1", "vehicle", -40.0, -40.0, 4.6, 35.0),
    ("vehicle-2", "vehicle", 60.0, 10.0, 4.4, 120.0),
    ("vehicle-3", "vehicle", -130.0, -100.0, 5.2, 80.0),
]


@dataclass
class DemoResult:
    out_dir: Path
    plan_path: Path
    frames_dir: Path
    gpkg_path: Path
    report_path: Path
    exports: dict[str, Path] = field(default_factory=dict)
    rehearsal: object = None
    summary: object = None
    score: object = None
    sightings: object = None        # processing.sightings_score.SightingsScore
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir), "plan": str(self.plan_path),
            "frames": str(self.frames_dir), "gpkg": str(self.gpkg_path),
            "exports": {k: str(v) for k, v in self.exports.items()},
            "rehearsal": self.rehearsal.to_dict() if self.rehearsal else None,
            "score": self.score.to_dict() if self.score else None,
            "sightings": self.sightings.to_dict() if self.sightings else None,
            "seconds": self.seconds,
        }


def _plant(scene, sector, exclusions, road, frame):
    """Plant the demo's objects where the survey photographs: inside the sector, clear of the
    exclusion zones (which are never flown over), vehicles on the forest road."""
    import shapely
    from shapely.ops import nearest_points, unary_union

    from simulators.scene import PlantedObject

    margin = 30.0  # metres clear of the allowed area's edge, so several photos see each object
    allowed = frame.geom_to_metric(sector)
    if exclusions:
        allowed = allowed.difference(unary_union([frame.geom_to_metric(e) for e in exclusions]))
    inner = allowed.buffer(-margin)
    road_m = frame.geom_to_metric(road).intersection(inner) if road is not None else None
    c = sector.centroid
    cx, cy = frame.to_metric(c.x, c.y)
    for oid, kind, de, dn, size, heading in DEMO_OBJECTS:
        p = shapely.Point(cx + de, cy + dn)
        if kind == "vehicle" and road_m is not None and not road_m.is_empty:
            p = nearest_points(road_m, p)[0]
        elif not inner.contains(p):
            p = nearest_points(inner, p)[0]
        lon, lat = frame.to_lonlat(p.x, p.y)
        scene.add(PlantedObject(oid, kind, float(lon), float(lat), size, heading))


def run_demo(out_dir, *, backend: str = "auto", speedup: float = 60.0, quick: bool = False,
             workers: int | None = None, echo=click.echo) -> DemoResult:
    """Run the demo into ``out_dir`` and return what it made and found.

    ``quick`` flies a sparser survey (less overlap, higher) so the loop runs in well under a
    minute, for CI; the full demo flies the survey a ranger would.
    """
    from shapely.geometry import shape

    from missions.data import sample_path
    from missions.formats.qgc_plan import write_plan
    from missions.sectors import read_areas, read_features, read_route, read_sector
    from missions.survey import plan_survey
    from processing.export import export_flight
    from processing.pipeline import process_frames
    from processing.scoring import load_truth_objects, score_flags
    from processing.sightings_score import read_sightings, score_sightings
    from processing.store import FlightStore
    from simulators.rehearsal import rehearse
    from simulators.scene import Scene
    from uav.geo import LocalFrame
    from uav.profiles import get_aircraft, get_camera

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frames_dir = out / "frames"
    gpkg = out / "flight.gpkg"
    for stale in (gpkg, out / "flight.gpkg-wal", out / "flight.gpkg-shm"):
        stale.unlink(missing_ok=True)
    if frames_dir.exists():
        for f in frames_dir.iterdir():
            f.unlink()
    result = DemoResult(out, out / "demo.plan", frames_dir, gpkg, out / "demo-report.json")
    t0 = time.perf_counter()

    # 1. plan ------------------------------------------------------------------------------
    echo("1/5 planning a survey over the bundled demo sector")
    sector = read_sector(sample_path("demo_sector.geojson"))
    exclusions = read_areas(sample_path("demo_exclusion.geojson"))
    road = read_route(sample_path("demo_road.geojson"))
    launch = read_features(sample_path("demo_launch.geojson"))[0]
    launch_lon, launch_lat = launch.geometry.x, launch.geometry.y
    launch_alt = float(launch.properties.get("alt_amsl_m") or 0.0)
    camera = get_camera("mavic3e-wide")
    aircraft = get_aircraft("arducopter-quad")
    plan = plan_survey(sector, camera=camera, aircraft=aircraft, exclusions=exclusions,
                       altitude_m=90.0 if quick else 60.0,
                       front_overlap=0.6 if quick else 0.75,
                       side_overlap=0.3 if quick else 0.65,
                       home=(launch_lat, launch_lon), home_alt_amsl=launch_alt,
                       name="uav demo survey")
    write_plan(plan, result.plan_path)
    s = plan.stats
    echo(f"    {s.transect_count} lines, {s.distance_m / 1000:.1f} km, "
         f"{s.flight_time_s / 60:.1f} min, {s.photo_count} photos at "
         f"{(s.gsd_m or 0) * 100:.1f} cm/px -> {result.plan_path}")
    result.seconds["plan"] = time.perf_counter() - t0

    # 2. fly -------------------------------------------------------------------------------
    t1 = time.perf_counter()
    frame = LocalFrame.for_geometry(sector)
    scene = Scene(shape(plan.sector).buffer(0.0015).bounds, seed=7, ground_alt_amsl=launch_alt,
                  road=road)
    _plant(scene, sector, exclusions, road, frame)
    echo(f"2/5 flying it on the simulator ({backend}, {speedup:g}x) with the simulated camera; "
         f"{len(scene.objects)} objects planted")
    last = [0.0]

    def progress(text):
        now = time.monotonic()
        if now - last[0] > 2.0:
            last[0] = now
            echo(f"    {text}")

    report = rehearse(plan, backend=backend, speedup=speedup, frames_out=frames_dir,
                      scene=scene, track_out=out / "track.geojson", tlog_out=out / "flight.tlog",
                      progress=progress, plan_name=result.plan_path.name)
    result.rehearsal = report
    echo("    " + report.describe().replace("\n", "\n    "))
    if not report.ok:
        raise UavError("the demo flight did not complete: " +
                       "; ".join(p for s_ in report.sorties for p in s_.problems))
    result.seconds["fly"] = time.perf_counter() - t1

    # 3. process ---------------------------------------------------------------------------
    t2 = time.perf_counter()
    frames = sorted(frames_dir.glob("*.jpg"))
    echo(f"3/5 processing {len(frames)} frames (georeference, detect fire/smoke/vehicles)")
    summary = process_frames([str(p) for p in frames], gpkg, workers=workers,
                             detectors=("fire", "smoke", "vehicle"), progress=True)
    result.summary = summary
    echo(f"    {summary}")
    with FlightStore.open(gpkg) as store:
        for feat in json.loads((out / "track.geojson").read_text())["features"]:
            coords = feat["geometry"]["coordinates"]
            if len(coords) >= 2:
                store.add_track(coords, source=f"rehearsal sortie {feat['properties']['sortie']}")
        flags = [{"class": f.cls, "lon": f.lon, "lat": f.lat, "score": f.score}
                 for f in store.flags()]
    result.seconds["process"] = time.perf_counter() - t2

    # 4. exports ---------------------------------------------------------------------------
    echo("4/5 exporting sightings and flags (GeoJSON, KML, CSV, SMART)")
    for fmt, name in (("geojson", "sightings.geojson"), ("kml", "sightings.kml"), ("csv", "sightings.csv"),
                      ("smart", "sightings-smart.json")):
        export_flight(gpkg, fmt, out / name, status="all")
        result.exports[fmt] = out / name
    for fmt, name in (("geojson", "flags.geojson"), ("csv", "flags.csv")):
        export_flight(gpkg, fmt, out / name, status="all", per_flag=True)
        result.exports[f"{fmt} (per flag)"] = out / name

    # 5. score -----------------------------------------------------------------------------
    truth = load_truth_objects(frames_dir / "truth.json")
    score = score_flags(flags, truth, radius_m=15.0)
    result.score = score
    by = score.sightings_by_class()
    parts = [f"{by.get('fire', 0)} fire(s)", f"{by.get('smoke', 0)} smoke plume(s)",
             f"{by.get('vehicle', 0)} vehicle(s)"]
    err = f", mean error {score.mean_error_m:.1f} m" if score.mean_error_m is not None else ""
    # The same object shows in several photos: the flags are grouped into sightings first.
    echo(f"5/5 {', '.join(parts)} flagged ({len(flags)} flags, one per photo that shows an "
         f"object); {score.found} of {score.planted} planted objects found within "
         f"{score.radius_m:.0f} m{err}; {len(score.false_sightings)} false sighting(s)")
    sc = score_sightings(read_sightings(gpkg), truth, radius_m=15.0, flags=len(flags))
    result.sightings = sc
    by_cls: dict[str, int] = {}
    for o in sc.objects:
        by_cls[o["kind"]] = by_cls.get(o["kind"], 0) + (o["sighting"] is not None)
    echo(f"    sightings layer: {sc.sightings} sighting(s) from {sc.flags} flags "
         f"({sc.flags_per_sighting:.1f} flags each); {sc.found} of {sc.planted} planted objects have a "
         f"sighting of their class within {sc.radius_m:.0f} m"
         + (f" (max error {max(sc.errors_m):.1f} m)" if sc.errors_m else "")
         + f"; {len(sc.extra)} extra sighting(s), {len(sc.false)} near no planted object")
    result.seconds["total"] = time.perf_counter() - t0
    result.report_path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


@click.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True,
              type=click.Path(file_okay=False), help="Folder for everything the demo writes.")
@click.option("--backend", type=click.Choice(["auto", "builtin", "ardupilot"]), default="auto",
              show_default=True, help="Simulator: real ArduPilot SITL when found (auto), or the built-in copter.")
@click.option("--speedup", type=float, default=60.0, show_default=True,
              help="Simulation speed-up factor.")
@click.option("--quick", is_flag=True, help="A sparser survey that runs in under a minute.")
@click.option("--workers", type=int, default=None, help="Processing worker processes.")
def demo(out_dir, backend, speedup, quick, workers):
    """Plan, upload, fly, detect and review on the bundled sample sector (no drone needed)."""
    result = run_demo(out_dir, backend=backend, speedup=speedup, quick=quick, workers=workers)
    click.echo("")
    click.echo(f"Plan (QGroundControl):   {result.plan_path}")
    click.echo(f"Frames + truth:          {result.frames_dir}")
    click.echo(f"Flight GeoPackage:       {result.gpkg_path}")
    for fmt, path in result.exports.items():
        click.echo(f"Export ({fmt}):{' ' * (15 - len(fmt))}{path}")
    click.echo(f"Report:                  {result.report_path}")
    click.echo(f"\nReview the sightings:  uav review {result.gpkg_path}")
