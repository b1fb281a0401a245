"""``uav process``: frames in, georeferenced flags out (a flight GeoPackage)."""

from __future__ import annotations

import click

from ..errors import DetectorError, FrameError, InvalidInputError, LinkError


def _detector_names(text: str) -> tuple[str, ...]:
    """The detectors asked for, each checked against the known ones before any frame is read."""
    if text.strip().lower() in ("", "none"):
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    from processing.detect import available_detectors

    known = available_detectors()
    for name in names:
        if name not in known:
            import difflib

            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DetectorError(f"unknown detector {name!r}; {hint}known detectors: {', '.join(known)}")
    return names


def _no_pose_lines(out, paths: list[str], count: int) -> list[str]:
    """Name the frames of this run that got no pose, with why (a count alone hides them)."""
    from processing import FlightStore

    wanted = set(paths)
    with FlightStore(out) as store:
        rows = [f for f in store.frames("no_pose") if f.path in wanted]
    rows.sort(key=lambda f: f.processed_at or "")
    return [f"  NO POSE {f.name or f.path}: {f.error or 'no position in the frame or the log'}"
            for f in rows[-count:][:20]]


def _interrupted(out, found: list[str]) -> str:
    """Where a Ctrl-C left the run, and how to go on."""
    import os
    import shlex
    import sys

    again = "uav " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "the same command"
    if not os.path.exists(out):
        return f"Stopped (Ctrl-C) before any frame was written; {out} was not made. Run {again} to start again."
    from processing import FlightStore

    with FlightStore(out) as store:
        rows = store._query("SELECT path, name FROM frames WHERE status IN ('done','no_pose') "
                            "ORDER BY processed_at DESC")
    wanted = set(found)
    ours = [r for r in rows if r[0] in wanted]
    last = f"; the last written was {ours[0][1]}" if ours else ""
    return (f"Stopped (Ctrl-C): {len(ours)} of {len(found)} frame(s) are done in {out}{last}. "
            f"Nothing done is lost: run the same command again ({again}) and it goes on from there, "
            f"skipping the frames already done.")


DASK_CONNECT_TIMEOUT_S = 5.0   # a scheduler that is there answers in milliseconds


def connect_dask(address: str, timeout_s: float | None = None):
    """A Dask client for ``address``, or a clear error when no scheduler answers there."""
    timeout_s = DASK_CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a runtime dependency
        raise InvalidInputError("--dask needs the 'distributed' package: pip install distributed") from None
    import logging

    # Dask logs a traceback when it gives up on a lost scheduler; the run says so itself, in
    # one line (processing.cluster), and a ranger is not helped by the traceback
    logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
    try:
        return Client(address, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise LinkError(f"no Dask scheduler answered at {address} within {timeout_s:g} s ({exc}); start "
                        "one there with `dask scheduler` and `dask worker ADDRESS`, or leave out --dask "
                        "to use this computer's cores") from None


@click.command("process")
@click.argument("frames", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Flight GeoPackage to write (re-running resumes it).")
@click.option("--telemetry", type=click.Path(exists=True, dir_okay=False),
              help="MAVLink .tlog or ArduPilot DataFlash .bin with the flight's poses.")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False),
              help="DEM GeoTIFF to intersect rays with (default: flat ground at take-off height).")
@click.option("--ground-elevation", type=float, default=None,
              help="Flat ground at this elevation (m, GPS altitude datum) instead of take-off height.")
@click.option("--detectors", default=None,
              help="Comma-separated detector names for every frame ('none' to only georeference). "
                   "Default: fitted to the frame: colour frames fire,smoke,vehicle; thermal frames "
                   "person,vehicle.")
@click.option("--sensitivity", default=None,
              help="How much to flag: low, normal (default) or high (fire season: show everything "
                   "that might be smoke), for every class or per class: smoke=high, or "
                   "low,smoke=high. Each level is an operating point stored with the model, chosen "
                   "on held-back frames for a stated recall (docs/models.md).")
@click.option("--redo", is_flag=True,
              help="Search frames already done again with detectors whose model or sensitivity "
                   "changed since (the summary names them).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--dask", "dask_address", default=None, help="Dask scheduler address (tcp://host:8786).")
@click.option("--dask-timeout", type=float, default=60.0, show_default=True,
              help="With --dask: seconds to wait for a worker to join before giving up.")
@click.option("--ship-frames", is_flag=True,
              help="With --dask: send every frame's bytes to the workers (they cannot read the "
                   "frames' folder). Without it, only the frames a worker says it cannot read are sent.")
@click.option("--geotiff", is_flag=True, help="Also write a GeoTIFF per frame (UTM) next to the GeoPackage.")
@click.option("--register", is_flag=True,
              help="Tie overlapping frames to each other and place footprints, flags and GeoTIFFs on "
                   "the registered poses (frame_registration table; docs/registration.md).")
@click.option("--mosaic", "mosaic", is_flag=True,
              help="Also write the flight's mosaic, a Cloud Optimized GeoTIFF (OUT_mosaic.tif; "
                   "see `uav mosaic`), once the frames are through; with --watch it grows as they "
                   "come, rewritten at most every 30 s and when the watch stops.")
@click.option("--mosaic-resolution", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --mosaic: cell size in metres (default: the frames' median GSD x 4).")
@click.option("--camera", default=None, help="Camera profile name overriding the frames' own intrinsics.")
@click.option("--reduce", type=click.Choice(["1", "2", "4", "8"]), default="1",
              help="Decode and search at 1/N resolution (faster; small objects may be missed).")
@click.option("--watch", is_flag=True, help="Keep running on a folder, processing frames as they arrive.")
@click.option("--per-flag", is_flag=True,
              help="With --watch: also print every flag, not only each sighting (object) once.")
@click.option("--quiet", is_flag=True, help="No progress bar or progress lines.")
@click.option("--progress-every", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds between progress lines (frames done/failed, frames/s, workers, time "
                   "left) when the output is a log file or with --watch; a terminal gets a bar.")
def process(frames, out, telemetry, dem, ground_elevation, detectors, sensitivity, redo, workers, dask_address,
            dask_timeout, ship_frames, geotiff, register, mosaic, mosaic_resolution, camera, reduce, watch,
            per_flag, quiet, progress_every):
    """Georeference FRAMES (files or folders) and flag smoke, fire and vehicles in them.

    Writes OUT, a GeoPackage with a 'frames' layer (footprints, poses, SHA-256, status) and a
    'flags' layer (points, class, score, pixel box) and a 'sightings' layer (the flags of one
    object grouped, with how many of the frames over it flagged it) that open in QGIS.
    """
    import os

    from processing.pipeline import process_frames
    from processing.request import ProcessRequest
    from processing.watch import watch_folder

    profile = None
    if camera:
        from ..profiles import get_camera

        profile = get_camera(camera)
    names = None if detectors is None else _detector_names(detectors)
    from processing.detect.sensitivity import check_levels, parse_sensitivity

    levels = parse_sensitivity(sensitivity)   # a misspelt level is refused before any frame is read
    check_levels(levels)
    if ship_frames and not dask_address:
        raise InvalidInputError("--ship-frames sends frames to Dask workers: it needs --dask ADDRESS "
                                "(a local run reads the frames from this computer's disk)")
    if mosaic_resolution is not None and not mosaic:
        raise InvalidInputError("--mosaic-resolution sizes the mosaic: add --mosaic")
    if watch and (len(frames) != 1 or not os.path.isdir(frames[0])):
        raise InvalidInputError("--watch needs exactly one folder to watch")
    client = None
    if dask_address:
        # Checked before any frame is touched, so an unreachable scheduler is one clear line.
        client = connect_dask(dask_address)
        try:
            from processing.cluster import ready_cluster

            ready_cluster(client, dask_address, dask_timeout, echo=lambda m: click.echo(m, err=True))
        except BaseException:
            client.close()
            raise
    # everything the run is asked, in one object the pipeline, the watch and the workers take
    request = ProcessRequest(sensitivity=levels, telemetry=telemetry, dem=dem,
                             ground_elevation=ground_elevation, detectors=names, camera=profile,
                             workers=workers, dask_address=client, ship_frames=ship_frames,
                             geotiff=geotiff, reduce=int(reduce), redo=redo, register=register)
    if watch:
        click.echo(f"watching {frames[0]} (Ctrl-C to stop) -> {out}")
    from processing.progress import Progress

    # a watch prints lines among its FLAG lines; a run shows a bar on a terminal, lines in a log
    progress = None if quiet else Progress(every_s=progress_every, echo=click.echo if watch else None,
                                           bar=False if watch else None)
    found, growing = [], None
    try:
        if not watch:
            from processing.frames import find_frames

            found = find_frames(frames)
            if not found:  # refused before OUT is created: an empty card is a mistake, not a flight
                raise FrameError(f"no frames (JPEG, TIFF or PNG photos) in {', '.join(frames)}; "
                                 f"nothing processed, {out} not written")
        if watch:
            if mosaic:
                from processing.orthomosaic import GrowingMosaic

                growing = GrowingMosaic(out, resolution=mosaic_resolution, dem=dem,
                                        ground_elevation=ground_elevation, camera=profile)
            summary = watch_folder(frames[0], out, request, echo=click.echo, flag_lines=per_flag,
                                   progress=progress or False, mosaic=growing)
        else:
            summary = process_frames(frames, out, request, progress=progress or False)
    except KeyboardInterrupt:
        # Each frame is written in its own transaction: everything done so far is kept.
        click.secho(_interrupted(out, found), fg="yellow", err=True)
        raise SystemExit(130) from None
    finally:
        if progress is not None:
            progress.close()
        if client is not None:
            client.close()
    click.echo(str(summary))
    if not watch and summary.no_pose:
        for line in _no_pose_lines(out, found, summary.no_pose):
            click.echo(line)
    if summary.processed and summary.failed == summary.processed:
        raise FrameError(f"every frame of this batch failed ({summary.failed}); see the reasons above")
    if mosaic and watch and register and growing is not None and growing.frames:
        from .mosaic import write_mosaic

        # registration has moved the frames since they were drawn: once more, on their final
        # poses and at the grown mosaic's cell, with the seam check
        click.echo("drawing the mosaic again on the registered poses (Ctrl-C keeps it as it grew)")
        try:
            write_mosaic(out, None, growing.cell_m, dem, ground_elevation, profile)
        except KeyboardInterrupt:
            click.echo(f"the mosaic stays as it grew: `uav mosaic {out}` draws it on the registered poses")
    elif mosaic and watch:
        click.echo(f"the mosaic grew with the flight, without its seam check: `uav mosaic {out}` draws it again")
    elif mosaic:
        from .mosaic import write_mosaic

        write_mosaic(out, None, mosaic_resolution, dem, ground_elevation, profile)
