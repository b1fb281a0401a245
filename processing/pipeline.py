"""Frames in, georeferenced flags out: the flight-processing pipeline.

The parent process reads every frame's metadata (a fraction of a millisecond each, no
decoding), works out poses (frame tags or telemetry) and checks yaws against the flight
direction, keeping one small entry per frame (about 0.6 kB; freed as frames are handed out).
It then hands *paths and poses* to workers (local processes, or a Dask cluster), one task at a
time.  Each worker reads a frame's bytes once, hashes and decodes that same buffer, checks
the pixels of a frame re-saved by a photo editor against an untouched overlapping frame,
searches and georeferences it; results stream back and the parent writes each frame with its
flags in one transaction.  At most ``2 x workers`` frames are in flight, so memory stays flat
however long the flight.

The rooms, in the order data flows: :mod:`.prepass` (the parent's pass over the metadata),
:mod:`.worker` (one frame; :mod:`.search` picks its detectors and decode size), :mod:`.runners`
(local processes, Dask), this module (writing each outcome, the summary), :mod:`.watch`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable

from uav.errors import LinkError

from .cluster import SchedulerLost, Shipping
from .detect.registry import DEFAULT_COLOUR, DEFAULT_THERMAL
from .frames import find_frames
from .prepass import _plan, _tasks, prepare_tasks
from .progress import Progress
from .request import ProcessRequest
from .runners import _run_dask, _run_local
from .store import FlightStore
from .tasks import FrameOutcome, FrameTask, Summary
from .tie_cache import save_tie_features, tie_cache_dir
from .worker import process_frame

__all__ = ["FrameTask", "FrameOutcome", "ProcessRequest", "Summary", "process_frames",
           "process_frame", "prepare_tasks"]

DEFAULT_DETECTORS = DEFAULT_COLOUR   # colour frames; thermal frames get DEFAULT_THERMAL


def _names(detectors) -> str:
    return ",".join(d if isinstance(d, str) else (d.name or type(d).__name__) for d in detectors)


def _kind_line(detectors, thermal: bool) -> str:
    """What a frame of this kind is searched for, and what asked for does not search it."""
    from .detect.registry import frame_kind_names

    names = _names(detectors).split(",") if detectors else []
    used = frame_kind_names(names, thermal)
    shown = ", ".join("vehicle (thermal model)" if n == "thermal-vehicle" else n for n in used) or "nothing"
    left = [n for n in names if n not in used and not (thermal and n == "vehicle" and "thermal-vehicle" in used)]
    if left:
        shown += (f"; not {', '.join(left)} ({'colour' if thermal else 'thermal'} frames only"
                  + ("; for people leave out --detectors or add person)" if thermal and "person" not in used
                     else ")"))
    return shown


def _workers_alive(dask_address, workers: int) -> tuple[Callable[[], int] | None, str]:
    """How the progress line counts workers: the Dask scheduler's, or the local pool."""
    if hasattr(dask_address, "nthreads"):
        return (lambda: len(dask_address.nthreads())), "Dask workers"
    if dask_address is not None:   # an address: the runner's own client, not ours to ask
        return None, "Dask workers"
    n = max(workers, 1)
    return (lambda: n), "workers"


def process_frames(paths: Iterable, out_gpkg, request: ProcessRequest | None = None, *,
                   progress: bool | Progress = True, on_flag: Callable | None = None,
                   **options) -> Summary:
    """Process frames into a flight GeoPackage.

    Parameters
    ----------
    paths : iterable of path
        Frame files or folders of frames.
    out_gpkg : path
        The flight GeoPackage (created or resumed: frames already done are skipped).
    request : ProcessRequest, optional
        What the run is asked: detectors, sensitivity, telemetry, DEM, workers or a Dask
        cluster, GeoTIFFs, registration… (each field is described on
        :class:`processing.request.ProcessRequest`); or give its fields as keyword options.
    progress : bool or Progress
        Show how far the run is (:class:`processing.progress.Progress`: a bar on a terminal,
        a line every 30 s otherwise), or count into the given one (``--watch`` keeps one).
    on_flag : callable, optional
        ``on_flag(flag: FlagRecord, frame: FrameRecord)`` after each flag is written.

    Returns
    -------
    Summary
    """
    request = ProcessRequest.from_options(request, options)
    telemetry, dem, ground_elevation = request.telemetry, request.dem, request.ground_elevation
    detectors, camera, workers = request.detectors, request.camera, request.workers
    dask_address, geotiff, reduce = request.dask_address, request.geotiff, request.reduce
    check_pixels, redo, register = request.check_pixels, request.redo, request.register
    ship_frames, sensitivity = request.ship_frames, request.sensitivity
    t_start, c_start = time.perf_counter(), time.process_time()
    frames = find_frames(list(paths) if not isinstance(paths, (str, os.PathLike)) else [paths])
    summary = Summary(frames=len(frames), out=str(out_gpkg))
    geotiff_dir = None
    if geotiff:
        geotiff_dir = geotiff if isinstance(geotiff, (str, os.PathLike)) else (
            os.path.splitext(os.fspath(out_gpkg))[0] + "_geotiff")
        os.makedirs(geotiff_dir, exist_ok=True)
        geotiff_dir = os.fspath(geotiff_dir)
    if workers is None:
        workers = min(os.cpu_count() or 1, 32)
    from .detect.sensitivity import parse_sensitivity

    if sensitivity is None or isinstance(sensitivity, str):
        sensitivity = parse_sensitivity(sensitivity)   # refused here, before any frame is read
    colour = DEFAULT_COLOUR if detectors is None else tuple(detectors)
    thermal = DEFAULT_THERMAL if detectors is None else tuple(detectors)
    summary.searched_for = {"colour": _kind_line(colour, False), "thermal": _kind_line(thermal, True)}
    summary.sensitivity = sensitivity
    with FlightStore(out_gpkg) as store:
        from .rerun import plan_rerun

        rerun = plan_rerun(store, frames, colour, thermal, redo, sensitivity)
        done = store.done_paths()
        todo = [p for p in frames if p not in done or p in rerun.more]
        summary.skipped = len(frames) - len(todo)
        summary.added, summary.redone, summary.outdated = rerun.added, rerun.redone, rerun.outdated
        context = [p for p in sorted(done) if os.path.exists(p) and p not in rerun.more][-4:] if todo else []
        plan = _plan(todo, telemetry, check_pixels, context)
        wanted = set(todo)
        # a yaw fix is reported once the frame is through: a frame that fails was not fixed
        fixes = {f[0]: f[1] for f in plan.fixes if f[0] in wanted}
        # frames that re-saved frames are checked against (a Dask worker describes them)
        references = frozenset(r for _, refs in plan.checks.values() for r, _ in refs)
        tasks = _tasks(plan, wanted, dem=dem, ground_elevation=ground_elevation, camera=camera,
                       detectors=colour, thermal_detectors=thermal, reduce=reduce, geotiff_dir=geotiff_dir,
                       sensitivity=None if sensitivity.is_normal else sensitivity, ties=bool(register))
        if rerun.more:
            tasks = (dataclasses.replace(t, detectors=rerun.more[t.path], thermal_detectors=None, more=True)
                     if t.path in rerun.more else t for t in tasks)
        if todo:
            store.set_meta("detectors", _names(colour))            # colour frames (and
            store.set_meta("detectors_thermal", _names(thermal))   # what thermal ones got)
            store.set_meta("sensitivity", str(sensitivity))          # the last run's ask
            if telemetry:
                store.set_meta("telemetry", os.path.abspath(telemetry))
            if dem:
                store.set_meta("dem", os.path.abspath(dem))
        bar = None
        if isinstance(progress, Progress):
            bar = progress
            bar.add_total(len(todo))
        elif progress and todo:
            bar = Progress(len(todo))
        if bar is not None:
            bar.count_workers(*_workers_alive(dask_address, workers))
        shipping = Shipping(always=ship_frames, on_shipped=summary.note_shipped,
                            dem=os.fspath(dem) if dem else None, references=references)
        runner = (_run_dask(tasks, dask_address, workers, shipping) if dask_address is not None
                  else _run_local(tasks, workers))
        counts: Counter = Counter()
        ties_dir = tie_cache_dir(out_gpkg)
        try:
            for outcome in runner:
                st = outcome.frame.status
                if outcome.tie_features is not None:   # on disk now: never a flight's worth in memory
                    save_tie_features(ties_dir, outcome.frame.path, outcome.tie_features)
                    outcome.tie_features = None
                summary.stopped_at = outcome.frame.path
                if not (outcome.more and st == "failed"):   # a done frame stays done
                    store.add_frame_result(outcome.frame, outcome.flags, outcome.searches,
                                           more=outcome.more)
                summary.worker_cpu_s += outcome.cpu_s
                if st != "failed":
                    why = fixes.pop(outcome.frame.path, None)
                    for fix in (why, outcome.yaw_fix):
                        if fix:
                            summary.note_fix(outcome.frame.path, fix)
                    summary.kinds["thermal" if outcome.frame.thermal else "colour"] += 1
                if outcome.more:
                    summary.searched_again += 1
                if st == "done":
                    summary.done += 1
                elif st == "no_pose":
                    summary.no_pose += 1
                else:
                    summary.note_failure(outcome.frame.path, outcome.frame.error)
                for f in outcome.flags:
                    counts[f.cls] += 1
                    if on_flag is not None:
                        on_flag(f, outcome.frame)
                if bar is not None:
                    bar.update(failed=st == "failed")
        except SchedulerLost as exc:
            # every outcome that came back is written, each in its own transaction: say so,
            # and how the next run goes on (it skips them: done_paths above)
            raise LinkError(f"{exc}: {summary.processed} of the {len(todo)} frame(s) to do are "
                            f"written to {out_gpkg} with their flags. Start the scheduler and its "
                            f"workers again and run the same command: it goes on from there "
                            f"without doing them again") from None
        finally:
            if bar is not None and bar is not progress:
                bar.close()
            summary.blind_workers = sorted(w for w in shipping.blind if w)
            summary.shipped_dem = shipping.dem_sent
        summary.flags_by_class = dict(counts)
        registered = False
        # registered again when frames were added since (a watch registers as the flight grows)
        if register and (todo or store.get_meta("registration_frames") != str(len(store.frames("done")))):
            from .register_flight import register_flight

            summary.registration = register_flight(store, dem=dem, ground_elevation=ground_elevation,
                                                   camera=camera, geotiff_dir=geotiff_dir)
            registered = True  # flags moved: the sightings are grouped again
        if todo or registered or not store.meta.get("sightings_at"):
            from .store.sightings import update_sightings

            summary.sightings = update_sightings(store)  # the objects, not the photos
            store.set_meta("sightings_at", summary.sightings.total)
    summary.elapsed_s = time.perf_counter() - t_start
    summary.parent_cpu_s = time.process_time() - c_start
    return summary


