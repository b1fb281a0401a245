"""``uav plan``: from a map of a park sector to a flight plan QGroundControl can open.

Commands: ``survey`` (photo grid over a sector), ``corridor`` (along a road), ``lookout``
(orbit salt licks / watch points), ``perimeter`` (patrol a sector's boundary), ``show``
(statistics and validation of a plan file), ``export`` (to .waypoints, KML/KMZ, GeoJSON, DJI
Pilot 2 routes) and ``import`` (a DJI Pilot 2 route back into a plan).
Heavy imports happen inside the commands so ``uav --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InvalidInputError, PlanValidationError
from ..limits import ARDUPILOT

OUTPUT_HELP = ("Output file: .plan (QGroundControl; default), or .waypoints/.kml/.kmz/.geojson. "
               "Several sorties also get OUT-sortieN files; several drones OUT-droneN files.")


# --------------------------------------------------------------------------------------------
# option parsing
# --------------------------------------------------------------------------------------------
def parse_fraction(value, name: str) -> float:
    """An overlap given as 75, 75% or 0.75 -> 0.75."""
    text = str(value).strip().rstrip("%")
    try:
        x = float(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be a percentage like 75 or a fraction like 0.75, "
                                f"got {value!r}") from None
    if x > 1.0 or str(value).strip().endswith("%"):
        x /= 100.0
    if not 0.0 <= x <= 0.95:
        raise InvalidInputError(f"{name} must be between 0 and 95 %, got {value!r}")
    return x


def parse_angle(value: str):
    if str(value).strip().lower() == "auto":
        return "auto"
    try:
        return float(value) % 360.0
    except ValueError:
        raise InvalidInputError(f"--angle must be degrees clockwise from north or 'auto', got {value!r}") from None


def parse_home(values) -> list[tuple[float, ...]]:
    from ..geo import parse_latlon

    return [parse_latlon(v) for v in values or ()]


def _camera(camera: str | None, profiles_file):
    from ..profiles import get_camera

    return get_camera(camera, profiles_file) if camera else None


def _fits(flight, camera) -> None:
    """A camera the aircraft cannot carry is refused at plan time, naming its cameras."""
    flight.aircraft.check_camera(camera)


def imaging_options(f):
    """Height (or GSD) and overlaps, for the commands that photograph an area."""
    opts = [
        click.option("--alt", type=float, default=None, help="Flight height in metres (or give --gsd)."),
        click.option("--gsd", type=float, default=None, help="Target ground sample distance in cm/px."),
        click.option("--front-overlap", default="75", show_default=True, help="Along-track overlap, 75 or 0.75."),
        click.option("--side-overlap", default="65", show_default=True, help="Between-lines overlap, 65 or 0.65."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def common_options(f):
    """Options every planning command shares (aircraft, home, fence, output)."""
    opts = [
        click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
                     help=OUTPUT_HELP),
        click.option("--name", default=None, help="Plan name shown in QGroundControl and Google Earth."),
        click.option("--max-items", type=click.IntRange(3, None), default=ARDUPILOT.max_items, show_default=True,
                     help="Vehicle mission storage; longer sorties are cut (ArduPilot SITL: 650)."),
        click.option("--max-fence-points", type=click.IntRange(3, None), default=ARDUPILOT.max_fence_points,
                     show_default=True,
                     help="Vehicle fence storage in points (ArduCopter on-board storage: about 60; "
                          "more when the fence is kept on the SD card, BRD_SD_FENCE)."),
        click.option("--rally", "rally", multiple=True, metavar="LAT,LON[,ALT]",
                     help="Rally (safe landing) point; repeat for several."),
        click.option("--fence-buffer", type=click.FloatRange(0, None), default=50.0, show_default=True,
                     help="Inclusion fence this many metres outside the area."),
        click.option("--speed", type=click.FloatRange(0.5, None), default=None,
                     help="Flight speed m/s (default: the aircraft's cruise speed)."),
        click.option("--terrain-follow", is_flag=True, help="Hold the height above ground from --dem."),
        click.option("--dem", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="DEM GeoTIFF for terrain following and home elevation."),
        click.option("--alt-mode", type=click.Choice(["relative", "amsl", "terrain"]), default="relative",
                     show_default=True, help="Altitude frame of the waypoints."),
        click.option("--home", "home", multiple=True, metavar="LAT,LON[,ALT]",
                     help="Launch point (latitude first; ALT = ground elevation AMSL). Default: inside the area near its centre."),
        click.option("--profiles", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="TOML/JSON file with your own camera and aircraft profiles."),
        click.option("--aircraft", default=None, help="Aircraft profile (default arducopter-quad)."),
    ]
    for opt in opts:
        f = opt(f)
    return f


def _imaging(camera: str, profiles_file, alt, gsd, front_overlap, side_overlap, trigger):
    """The imaging options of a survey or corridor (exactly one of --alt and --gsd)."""
    from missions import ImagingOptions

    if (alt is None) == (gsd is None):
        raise click.UsageError("give exactly one of --alt M or --gsd CM")
    if gsd is not None and gsd <= 0:
        raise click.UsageError("--gsd must be positive (centimetres per pixel)")
    return ImagingOptions(
        _camera(camera, profiles_file), altitude_m=alt, gsd_m=gsd / 100.0 if gsd is not None else None,
        front_overlap=parse_fraction(front_overlap, "--front-overlap"),
        side_overlap=parse_fraction(side_overlap, "--side-overlap"), trigger=trigger)


def _flight(common: dict, *, default_name: str):
    """The options every planning command shares, as :class:`missions.request.FlightOptions`."""
    from missions import FlightOptions

    from ..limits import VehicleLimits
    from ..profiles import DEFAULT_AIRCRAFT, get_aircraft

    if common["terrain_follow"] and not common["dem"]:
        raise click.UsageError("--terrain-follow needs --dem FILE (a DEM GeoTIFF)")
    homes = parse_home(common["home"])
    flight = FlightOptions(
        aircraft=get_aircraft(common["aircraft"] or DEFAULT_AIRCRAFT, common["profiles"]),
        altitude_mode="terrain" if common["terrain_follow"] else common["alt_mode"],
        dem_path=common["dem"], terrain_follow=common["terrain_follow"], speed_ms=common["speed"],
        fence_buffer_m=common["fence_buffer"],
        rally_points=[tuple(p[:3]) for p in parse_home(common["rally"])] or None,
        limits=VehicleLimits(common["max_items"], common["max_fence_points"]),
        name=common["name"] or default_name)
    if homes:
        flight.home = (homes[0][0], homes[0][1])
        if len(homes[0]) >= 3:
            flight.home_alt_amsl = float(homes[0][2])
    return flight, homes


# --------------------------------------------------------------------------------------------
# output and summary
# --------------------------------------------------------------------------------------------
def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min"


def summary_lines(plan) -> list[str]:
    from missions import plan_figures

    f = plan_figures(plan)
    title = f"{f['kind']} plan" + (f" \u201c{f['name']}\u201d" if f["name"] else "")
    lines = [title]
    if f["area_m2"]:
        # A perimeter or lookout flight images no area: its figure is the sector's size.
        label = "area to image" if f["kind"] in ("survey", "corridor") else "sector area  "
        lines.append(f"  {label}   {f['area_m2'] / 1e6:,.3f} km\u00b2")
    if f["altitude_m"] is not None:
        lines.append(f"  altitude        {f['altitude_m']:.1f} m ({f['altitude_mode']})")
    if f["gsd_m"]:
        lines.append(f"  GSD             {f['gsd_m'] * 100:.2f} cm/px"
                     + (f" ({f['camera']})" if f["camera"] else ""))
    if f["line_spacing_m"]:
        angle = f", bearing {f['grid_angle_deg']:.0f}\u00b0 true" if f["grid_angle_deg"] is not None else ""
        lines.append(f"  lines           {f['transect_count']} at {f['line_spacing_m']:.1f} m spacing{angle}")
    if f["trigger_distance_m"]:
        lines.append(f"  photo every     {f['trigger_distance_m']:.1f} m")
    if f["photo_count"]:
        lines.append(f"  photos          {f['photo_count']:,}")
    lines.append(f"  distance        {f['distance_m'] / 1000:,.2f} km")
    est = f" (estimated for {f['estimated_with']})" if f.get("estimated_with") else ""
    lines.append(f"  flight time     {_minutes(f['flight_time_s'])}{est}")
    if f["sorties"] > 1 or f["sortie_times_s"]:
        times = f["sortie_times_s"]
        per = ""
        if times:
            per = f" (longest {_minutes(max(times))}, shortest {_minutes(min(times))})" if len(times) > 6 \
                else " (" + ", ".join(_minutes(t) for t in times) + ")"
        lines.append(f"  sorties         {f['sorties']}{per}")
    if plan.aircraft is not None:
        lines.append(f"  aircraft        {plan.aircraft.name}: usable endurance "
                     f"{_minutes(plan.aircraft.usable_endurance_s)} per battery")
    dji = _dji_line(plan)
    if dji:
        lines.append(dji)
    if f["rally_points"]:
        lines.append(f"  rally points    {f['rally_points']} (RTL lands at the nearest of these or home)")
    else:
        lines.append("  rally points    none: RTL returns to the launch point (add safe landing spots "
                     "with --rally LAT,LON)")
    counts = f["items"]
    shown = ", ".join(str(n) for n in counts) if len(counts) <= 6 else f"{min(counts)} to {max(counts)} per sortie"
    lines.append(f"  mission items   {shown} (home included)")
    note = plan.settings.get("speed_note") if isinstance(plan.settings, dict) else None
    if note:
        lines.append(f"  note            {note}")
    return lines


def _dji_line(plan) -> str | None:
    """Which DJI aircraft and payload the plan's DJI Pilot 2 routes are for (when it has one)."""
    from missions.formats.wpml_route import with_dji_values

    from ..profiles import AIRCRAFT, CAMERAS

    a = with_dji_values(plan.aircraft, AIRCRAFT)
    if a is None or a.wpml_drone is None:
        return None
    cam = with_dji_values(plan.camera, CAMERAS) or (CAMERAS.get(a.cameras[0]) if a.cameras else None)
    if cam is None or cam.wpml_payload is None:
        return f"  DJI route       drone {a.wpml_drone}/{a.wpml_drone_sub}, no DJI payload for the camera"
    return (f"  DJI route       {a.name} (drone {a.wpml_drone}/{a.wpml_drone_sub}), payload "
            f"{cam.wpml_payload} ({cam.name}, lens {cam.wpml_lens}): uav plan export PLAN --to wpml")


def home_lines(plan) -> list[str]:
    """The plan's home and the ``uav sim start`` line that puts a simulator there."""
    home = plan.sorties[0].home if plan.sorties else None
    if home is None:
        return []
    alt = round(home.alt_amsl, 1) + 0.0   # never print -0.0
    heading = 0   # a plan has no launch heading; north, as uav sim start's own default
    return [f"  home            {home.lat:.7f}, {home.lon:.7f}, {alt:.1f} m AMSL",
            f"  simulator       uav sim start --home {home.lat:.7f},{home.lon:.7f},{alt:.1f},{heading}"]


def _files_line(written: list[Path]) -> str:
    main = [w for w in written if "-sortie" not in w.stem]
    per = [w for w in written if "-sortie" in w.stem]
    text = "wrote " + ", ".join(str(w) for w in main)
    if per:
        text += f" and {len(per)} per-sortie files ({per[0].name} \u2026 {per[-1].name})"
    return text


def _report(plans, written):
    for p in plans:
        for line in summary_lines(p):
            click.echo(line)
    click.echo(_files_line(written))
    if any(str(w).endswith(".plan") for w in written) and any(len(p.sorties) > 1 for p in plans):
        click.echo("  (QGroundControl shows sortie 1 of the main file; open the -sortieN files for the others)")


def _emit(result, output):
    plans = result if isinstance(result, list) else [result]
    written: list[Path] = []
    from missions import write_any_plan

    if len(plans) == 1:
        written += write_any_plan(plans[0], output)
    else:
        out = Path(output)
        for k, p in enumerate(plans, start=1):
            written += write_any_plan(p, out.with_name(f"{out.stem}-drone{k}{out.suffix or '.plan'}"))
    _report(plans, written)


def _exclusions(exclude):
    from missions import read_areas

    out = []
    for path in exclude or ():
        out.extend(read_areas(path))
    return out


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------
@click.group("plan")
def plan():
    """Plan flights over park sectors and write files QGroundControl and Mission Planner open.

    \b
    uav plan survey sector.geojson --camera mavic3e-wide --alt 80 -o sector7.plan
    uav plan corridor a189.geojson --width 200 --camera m3t-thermal --alt 60 -o a189.plan
    uav plan lookout salt_licks.geojson --radius 40 --time 120 --alt 50 -o licks.plan
    uav plan show sector7.plan
    uav plan export sector7.plan --to kml -o sector7.kml
    uav plan export sector7.plan --to wpml -o sector7.kmz     (DJI Pilot 2, one KMZ per sortie)
    uav plan import route.kmz -o route.plan                   (a DJI route back into a plan)
    """


@plan.command("survey")
@click.argument("sector", type=click.Path(dir_okay=False))
@click.option("--sector-name", default=None, help="Pick the sector by its name attribute.")
@click.option("--where", default=None, metavar="FIELD=VALUE", help="Pick the sector by an attribute.")
@click.option("--exclude", multiple=True, type=click.Path(dir_okay=False),
              help="File of exclusion zones (villages, border zone); repeat for several.")
@click.option("--camera", required=True, help="Camera profile, e.g. mavic3e-wide, phantom4pro, m3t-thermal.")
@imaging_options
@click.option("--angle", default="auto", show_default=True, help="Line bearing, degrees clockwise from true north, or auto (fewest turns).")
@click.option("--crosshatch", is_flag=True, help="Fly a second grid at right angles.")
@click.option("--trigger", type=click.Choice(["distance", "hover"]), default="distance", show_default=True,
              help="Camera by distance while flying, or hover-and-capture.")
@click.option("--turnaround", type=click.FloatRange(0, None), default=None,
              help="Lead-in/out beyond each line, metres (default: what the aircraft needs to reach speed).")
@click.option("--drones", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Split the sector among N drones/teams, balanced by flight time; give --home once, "
                   "or once per drone.")
@common_options
def survey(sector, sector_name, where, exclude, camera, alt, gsd, front_overlap, side_overlap, angle,
           crosshatch, trigger, turnaround, drones, **common):
    """Photo survey (lawnmower grid) over SECTOR (GeoJSON, KML, KMZ, Shapefile, GeoPackage)."""
    from missions import SurveyRequest, read_named_sector

    imaging = _imaging(camera, common["profiles"], alt, gsd, front_overlap, side_overlap, trigger)
    imaging.turnaround_m = turnaround
    area, own_name = read_named_sector(sector, name=sector_name, where=where)
    flight, homes = _flight(common, default_name=sector_name or own_name or Path(sector).stem)
    _fits(flight, imaging.camera)
    if len(homes) > 1 and len(homes) != drones:
        raise click.UsageError(f"give one --home, or one per drone ({drones}); got {len(homes)}")
    request = SurveyRequest(
        area, imaging, exclusions=_exclusions(exclude), angle_deg=parse_angle(angle),
        crosshatch=crosshatch, drones=drones,
        homes=[(h[0], h[1]) for h in homes] if len(homes) > 1 else None)
    _emit(request.plan(flight), common["output"])


@plan.command("corridor")
@click.argument("route", type=click.Path(dir_okay=False))
@click.option("--route-name", default=None, help="Pick the route by its name attribute.")
@click.option("--width", type=click.FloatRange(1, None), required=True, help="Corridor width in metres.")
@click.option("--exclude", multiple=True, type=click.Path(dir_okay=False),
              help="File of exclusion zones; repeat for several.")
@click.option("--camera", required=True, help="Camera profile (a thermal one at night: m3t-thermal).")
@imaging_options
@click.option("--trigger", type=click.Choice(["distance", "hover", "none"]), default="distance",
              show_default=True, help="Camera by distance, hover-and-capture, or none (video).")
@common_options
def corridor(route, route_name, width, exclude, camera, alt, gsd, front_overlap, side_overlap, trigger, **common):
    """Corridor along ROUTE (a road polyline), WIDTH metres wide."""
    from missions import CorridorRequest, read_named_route

    imaging = _imaging(camera, common["profiles"], alt, gsd, front_overlap, side_overlap, trigger)
    line, own_name = read_named_route(route, name=route_name)
    flight, _homes = _flight(common, default_name=route_name or own_name or Path(route).stem)
    _fits(flight, imaging.camera)
    request = CorridorRequest(line, width, imaging, exclusions=_exclusions(exclude))
    _emit(request.plan(flight), common["output"])


@plan.command("lookout")
@click.argument("points", type=click.Path(dir_okay=False))
@click.option("--radius", type=click.FloatRange(0, None), required=True, help="Orbit radius in metres.")
@click.option("--time", "time_s", type=click.FloatRange(0, None), required=True,
              help="Time to watch each point, seconds.")
@click.option("--alt", type=float, required=True, help="Flight height in metres.")
@click.option("--exclude", multiple=True, type=click.Path(dir_okay=False),
              help="File of exclusion zones; repeat for several.")
@click.option("--order", type=click.Choice(["nearest", "given"]), default="nearest", show_default=True,
              help="Visit the points nearest-first from home, or in the file's order.")
@click.option("--sector", "sector_file", type=click.Path(dir_okay=False), default=None,
              help="Sector the flight must stay in (the fence is built around it).")
@click.option("--camera", default=None, help="Camera profile (optional, for the record).")
@common_options
def lookout(points, radius, time_s, alt, exclude, order, sector_file, camera, **common):
    """Orbit each of POINTS (salt licks, watch points) for --time seconds at --radius."""
    from missions import LookoutRequest, read_points, read_sector

    cam = _camera(camera, common["profiles"])
    pts = read_points(points)
    flight, _homes = _flight(common, default_name=Path(points).stem)
    _fits(flight, cam)
    request = LookoutRequest(
        pts, alt, radius_m=radius, time_s=time_s, camera=cam, exclusions=_exclusions(exclude),
        sector=read_sector(sector_file) if sector_file else None, order=order)
    _emit(request.plan(flight), common["output"])


@plan.command("perimeter")
@click.argument("sector", type=click.Path(dir_okay=False))
@click.option("--sector-name", default=None, help="Pick the sector by its name attribute.")
@click.option("--where", default=None, metavar="FIELD=VALUE", help="Pick the sector by an attribute.")
@click.option("--inset", type=click.FloatRange(0, None), default=30.0, show_default=True,
              help="Fly this many metres inside the boundary.")
@click.option("--laps", type=click.IntRange(1, 100), default=1, show_default=True, help="Times round.")
@click.option("--alt", type=float, required=True, help="Flight height in metres.")
@click.option("--exclude", multiple=True, type=click.Path(dir_okay=False),
              help="File of exclusion zones; repeat for several.")
@click.option("--camera", default=None, help="Camera profile (optional, for the record).")
@common_options
def perimeter(sector, sector_name, where, inset, laps, alt, exclude, camera, **common):
    """Patrol along SECTOR's boundary, --inset metres inside it."""
    from missions import PerimeterRequest, read_named_sector

    cam = _camera(camera, common["profiles"])
    area, own_name = read_named_sector(sector, name=sector_name, where=where)
    flight, _homes = _flight(common, default_name=sector_name or own_name or Path(sector).stem)
    _fits(flight, cam)
    request = PerimeterRequest(area, inset, alt, laps=laps, camera=cam, exclusions=_exclusions(exclude))
    _emit(request.plan(flight), common["output"])


@plan.command("show")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--max-items", type=click.IntRange(3, None), default=None,
              help="Vehicle mission storage to validate against [default: what the plan was made "
                   "for, else 650].")
@click.option("--max-fence-points", type=click.IntRange(3, None), default=None,
              help="Vehicle fence storage in points [default: what the plan was made for, else 60].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures and problems as JSON.")
def show(plan_file, max_items, max_fence_points, as_json):
    """Statistics and validation of PLAN (.plan, .waypoints or a DJI route .kmz).

    Exits with status 2 when the plan breaks a rule (fence, altitude, item count, endurance,
    camera interval); every problem is listed with its item.
    """
    from missions import read_any_plan, validate_plan

    from ..limits import VehicleLimits

    p = read_any_plan(plan_file)
    made_for = VehicleLimits.of_settings(p.settings)
    if max_items is None:
        max_items = made_for.max_items
    if max_fence_points is None:
        max_fence_points = made_for.max_fence_points
    problems = validate_plan(p, max_items=max_items, max_fence_points=max_fence_points,
                             raise_on_error=False)
    if as_json:
        from missions import plan_figures
        from missions.formats import json_safe

        click.echo(json.dumps(json_safe({**plan_figures(p), "file": plan_file, "valid": not problems,
                                         "problems": problems}), indent=2, ensure_ascii=False))
    else:
        for line in summary_lines(p) + home_lines(p):
            click.echo(line)
        if not problems:
            click.echo("validation: OK (fence, altitude, item count, fence size, endurance, camera interval)")
    if problems:
        raise PlanValidationError(f"{plan_file}: the plan breaks {len(problems)} rule(s)", problems)


@plan.command("export")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--to", "to", type=click.Choice(["waypoints", "kml", "kmz", "geojson", "plan", "wpml"]),
              default=None, help="Format (default: from the output suffix; wpml = DJI Pilot 2 route KMZ, "
                                 "one per sortie).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file.")
@click.option("--photos", is_flag=True, help="KML/GeoJSON: also mark every planned photo position.")
def export(plan_file, to, output, photos):
    """Convert PLAN to Mission Planner waypoints, KML/KMZ (Google Earth), GeoJSON (QGIS) or DJI
    Pilot 2 routes (--to wpml: OUT.kmz, or OUT-sortieN.kmz per sortie)."""
    from missions import format_for, read_any_plan, write_any_plan

    p = read_any_plan(plan_file)
    written = write_any_plan(p, output, format_for(output, to), photos=photos)
    text = f"wrote {', '.join(str(w) for w in written)}" if len(written) <= 3 else \
        f"wrote {len(written)} files ({written[0].name} \u2026 {written[-1].name})"
    click.echo(f"{text}; {len(p.sorties)} sortie(s)")
    if format_for(output, to) == "wpml":
        click.echo(_dji_line(p).strip())
        click.echo("  copy each KMZ to the controller or import it in DJI Pilot 2 (see docs/dji.md); "
                   "check the take-off point, heights and lost-link action there before flying")


@plan.command("import")
@click.argument("route_file", metavar="ROUTE.kmz", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the plan here (.plan, .waypoints, ...; default: ROUTE.plan beside the KMZ).")
def import_route(route_file, output):
    """Read a DJI Pilot 2 route (WPML KMZ: ours, or one drawn in Pilot 2 or FlightHub 2) into a
    plan that `uav plan show`, `uav plan export` and `uav rehearse` take."""
    from missions import read_any_plan, write_any_plan

    p = read_any_plan(route_file) if str(route_file).lower().endswith(".kmz") else None
    if p is None:
        raise InvalidInputError(f"{route_file}: a DJI route is a .kmz file (wpmz/template.kml and "
                                "wpmz/waylines.wpml inside)")
    out = Path(output) if output else Path(route_file).with_suffix(".plan")
    written = write_any_plan(p, out)
    for line in summary_lines(p) + home_lines(p):
        click.echo(line)
    for note in (p.settings.get("import_notes") or []):
        click.echo(f"  note            {note}")
    click.echo(f"wrote {', '.join(str(w) for w in written)}")
