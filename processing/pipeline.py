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
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from uav.errors import FrameError, GeoreferenceError, PoseError, UavError

from .detect.base import Detection, FrameInfo
from .frames import decode_frame, find_frames, read_frame_bytes, read_metadata, sha256_bytes
from .georef import DemGround, FlatGround, georeference_frame
from .poses import Intrinsics, Pose, intrinsics_from_metadata, pose_from_metadata
from .search import _camera_thermal, _resolve_detectors, _search_reduction, _size_check
from .store import FlagRecord, FlightStore, FrameRecord

__all__ = ["FrameTask", "FrameOutcome", "Summary", "process_frames", "process_frame",
           "prepare_tasks", "watch_folder"]

DEFAULT_DETECTORS = ("fire", "smoke", "vehicle")
MAX_LISTED = 100   # failures / yaw fixes a Summary lists by name (all are counted)


@dataclass
class FrameTask:
    """Everything a worker needs for one frame (small and picklable: a path, not pixels)."""

    path: str
    pose: Pose | None = None
    pose_error: str | None = None
    pose_note: str | None = None
    dem: str | None = None
    ground_elevation: float | None = None
    camera: object = None               # uav.profiles.CameraProfile
    detectors: tuple = ()               # names or Detector instances
    reduce: int = 1
    geotiff_dir: str | None = None
    # pixel-rotation check (editor re-saved frames only): who re-saved it, and trusted
    # overlapping frames to compare with, nearest first, as (path, yaw)
    software: str | None = None
    rotation_refs: tuple = ()


@dataclass
class FrameOutcome:
    frame: FrameRecord
    flags: list[FlagRecord]
    seconds: float = 0.0
    yaw_fix: str | None = None          # why the yaw was turned in the worker, if it was
    cpu_s: float = 0.0                  # CPU time the worker spent on it


@dataclass
class Summary:
    """What a run did."""

    frames: int = 0                       # frames given
    skipped: int = 0                      # already in the GeoPackage
    done: int = 0
    no_pose: int = 0
    failed: int = 0
    flags_by_class: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)    # (path, error), the first MAX_LISTED
    yaw_fixes: list = field(default_factory=list)   # (path, reason), the first MAX_LISTED
    yaw_fixed: int = 0                               # all of them
    elapsed_s: float = 0.0
    worker_cpu_s: float = 0.0             # CPU seconds spent in process_frame, all workers
    parent_cpu_s: float = 0.0             # CPU seconds of this process (pre-pass, writing;
                                          # the frames too when workers=0)
    out: str = ""
    sightings: object = None              # processing.sightings_store.SightingsUpdate

    @property
    def processed(self) -> int:
        return self.done + self.no_pose + self.failed

    @property
    def frames_per_s(self) -> float:
        return self.processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        lines = [f"{self.processed} frame(s) processed in {self.elapsed_s:.1f} s "
                 f"({self.frames_per_s:.2f} frames/s), {self.skipped} already done -> {self.out}",
                 f"  georeferenced: {self.done}   no pose: {self.no_pose}   failed: {self.failed}"]
        if self.flags_by_class:
            lines.append("  flags: " + ", ".join(f"{k} {v}" for k, v in sorted(self.flags_by_class.items())))
        else:
            lines.append("  flags: none")
        for path, why in self.yaw_fixes:
            lines.append(f"  yaw corrected: {os.path.basename(path)}: {why}")
        if self.yaw_fixed > len(self.yaw_fixes):
            lines.append(f"  ... and {self.yaw_fixed - len(self.yaw_fixes)} more yaw corrections "
                         f"(frames layer, column yaw_corrected)")
        if self.sightings is not None:
            lines.append(f"  {self.sightings}")
        for path, err in self.failures:
            lines.append(f"  FAILED {path}: {err}")
        if self.failed > len(self.failures):
            lines.append(f"  ... and {self.failed - len(self.failures)} more failed frames "
                         f"(frames layer, status 'failed')")
        return "\n".join(lines)

    def note_fix(self, path: str, why: str) -> None:
        self.yaw_fixed += 1
        if len(self.yaw_fixes) < MAX_LISTED:  # a long flight must not grow the summary per frame
            self.yaw_fixes.append((path, why))

    def note_failure(self, path: str, error: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append((path, error))


# --- worker side ------------------------------------------------------------------------------
def _now():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso(t):
    if t is None:
        return None
    if t.tzinfo is not None:
        import datetime as dt

        return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.isoformat()


# path -> ORB features + LSH index of a reference frame, per thread (Dask runs tasks in
# threads; an OpenCV matcher is not to be shared between them)
_REF_LOCAL = threading.local()
_REF_CACHE_SIZE = 8


def _ref_features(path: str):
    cache = getattr(_REF_LOCAL, "cache", None)
    if cache is None:
        cache = _REF_LOCAL.cache = OrderedDict()
    feat = cache.get(path)
    if feat is None:
        from .yaw_check import lsh_index, orb_features

        pts, desc = orb_features(decode_frame(read_frame_bytes(path), path, reduce=8))
        feat = (pts, desc, None if desc is None else lsh_index(desc))
        cache[path] = feat
        while len(cache) > _REF_CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(path)
    return feat


def _check_pixels(task: FrameTask, pose: Pose, image, full_w: int) -> tuple[Pose, str | None]:
    """Compare an editor re-saved frame's pixels with a trusted overlapping frame.

    Runs in the worker on the frame it has already decoded (shrunk to 1/8 of full size, like
    the references), so the check costs two ORB descriptions and an LSH match, in parallel.
    """
    import cv2

    from .yaw_check import orb_features, rotated_180, rotation_between

    size = (max(1, round(full_w / 8)), max(1, round(image.shape[0] * full_w / 8 / image.shape[1])))
    small = image
    step = max(1, int(image.shape[1] / (2 * size[0])))
    if step > 1:  # plain decimation first: area-averaging all 9 Mpx costs more than the check
        small = small[::step, ::step]
    if small.shape[1] != size[0]:
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    own = orb_features(small, 2000)  # the references keep 3000: enough inliers, less matching
    for ref_path, ref_yaw in task.rotation_refs:
        try:
            pts, desc, index = _ref_features(ref_path)
            rot = rotation_between((pts, desc), own, index=index)
        except FrameError:
            continue  # a damaged neighbour: its own task records the error
        if rot is None:
            continue
        if rotated_180(rot, pose.yaw, ref_yaw):
            pose = pose.with_yaw(pose.yaw + 180.0, f"pixels rotated 180 deg relative to the camera "
                                 f"yaw (re-saved by {task.software!r}); checked against "
                                 f"{os.path.basename(ref_path)}")
            return pose, "pixels rotated 180 deg"
        return pose, None
    return pose.with_yaw(pose.yaw, f"re-saved by {task.software!r} and no overlapping untouched "
                         f"frame to check its pixels against: yaw kept", corrected=False), None


def process_frame(task: FrameTask) -> FrameOutcome:
    """Read, hash, decode, search and georeference one frame.  Never raises for a bad frame:
    the outcome's frame record says ``failed`` and why."""
    c0 = time.thread_time()
    out = _process_frame(task)
    out.cpu_s = time.thread_time() - c0
    return out


def _process_frame(task: FrameTask) -> FrameOutcome:
    t0 = time.perf_counter()
    path = os.path.abspath(task.path)
    rec = FrameRecord(path=path, name=os.path.basename(path), processed_at=_now())
    try:
        data = read_frame_bytes(path)
    except FrameError as exc:
        rec.status, rec.error = "failed", str(exc)
        return FrameOutcome(rec, [], time.perf_counter() - t0)
    rec.sha256 = sha256_bytes(data)
    try:
        meta = read_metadata(path, data)
        reduce = _search_reduction(task, meta, data[:2] == b"\xff\xd8")
        image = decode_frame(data, path, reduce=reduce)
    except FrameError as exc:
        rec.status, rec.error = "failed", str(exc)
        return FrameOutcome(rec, [], time.perf_counter() - t0)
    del data
    full_h, full_w = image.shape[0] * reduce, image.shape[1] * reduce
    if meta.width and meta.height and reduce > 1:
        full_w, full_h = meta.width, meta.height
    rec.width, rec.height = int(full_w), int(full_h)
    rec.thermal = bool(image.ndim == 2 or meta.thermal or _camera_thermal(task))
    rec.time = _iso(meta.time)

    # pose -> georeference (failure here still searches the frame)
    pose, why_no_pose = task.pose, task.pose_error
    if pose is None and why_no_pose is None:
        try:
            pose = pose_from_metadata(meta)
        except PoseError as exc:
            why_no_pose = str(exc)
    geo = None
    notes = [task.pose_note] if task.pose_note else []
    yaw_fix = None
    if pose is not None and pose.yaw is not None and task.rotation_refs:
        try:
            pose, yaw_fix = _check_pixels(task, pose, image, full_w)
        except Exception as exc:  # the check is a safeguard: its failure must not lose the frame
            notes.append(f"pixel rotation not checked ({type(exc).__name__}: {exc})")
    if pose is not None:
        rec.lat, rec.lon, rec.alt_amsl, rec.alt_rel = pose.lat, pose.lon, pose.alt_amsl, pose.alt_rel
        rec.yaw, rec.pitch, rec.roll = pose.yaw, pose.pitch, pose.roll
        rec.pose_source, rec.yaw_corrected = pose.source, pose.yaw_corrected
        notes += pose.notes
        if pose.time is not None:
            rec.time = _iso(pose.time)
        try:
            intr: Intrinsics = intrinsics_from_metadata(meta, task.camera, rec.width, rec.height)
            ground = DemGround(task.dem) if task.dem else FlatGround(task.ground_elevation)
            geo = georeference_frame(pose, intr, ground)
            rec.footprint, rec.gsd_m = geo.footprint, geo.gsd_m
            if geo.clipped:
                notes.append("part of the footprint is beyond the usable range (clipped)")
        except (GeoreferenceError, FrameError) as exc:
            why_no_pose = f"cannot georeference: {exc}"
    rec.status = "done" if geo is not None else "no_pose"
    if why_no_pose:
        notes.append(why_no_pose)
    rec.error = "; ".join(n for n in notes if n) or None

    # search
    flags: list[FlagRecord] = []
    try:
        detectors = _resolve_detectors(task.detectors)
        info = FrameInfo(path=path, thermal=rec.thermal,
                         gsd_m=None if geo is None or geo.gsd_m is None else geo.gsd_m * reduce)
        dets: list[Detection] = []
        from .detect.registry import detectors_for_frame

        for det in detectors_for_frame(detectors, rec.thermal, path):
            dets.extend(det.detect(image, info))
    except Exception as exc:  # a detector bug must not stop the flight
        rec.status = "failed"
        rec.error = f"detector failed: {type(exc).__name__}: {exc}"
        if os.environ.get("UAV_DEBUG"):
            traceback.print_exc()
        return FrameOutcome(rec, [], time.perf_counter() - t0, yaw_fix)
    s = reduce
    for d in dets:
        box = (d.x0 * s, d.y0 * s, d.x1 * s, d.y1 * s)
        f = FlagRecord(cls=d.cls, score=float(d.score), px_x0=box[0], px_y0=box[1], px_x1=box[2],
                       px_y1=box[3], detector=d.detector or None)
        if geo is None:
            f.position_note = why_no_pose or "frame has no pose"
        else:
            cx, cy = (box[0] + box[2]) / 2 - 0.5, (box[1] + box[3]) / 2 - 0.5
            lon, lat, _ = geo.camera.pixel_to_lonlat([cx], [cy])
            if lon[0] == lon[0]:  # not NaN
                f.lon, f.lat = float(lon[0]), float(lat[0])
            else:
                f.position_note = "box centre is above the horizon or beyond the usable range"
            f.ground_size_m = geo.camera.box_ground_size(box[0] - 0.5, box[1] - 0.5,
                                                        box[2] - 0.5, box[3] - 0.5)
            f.size_ok = _size_check(d.cls, f.ground_size_m)
        flags.append(f)

    if task.geotiff_dir and geo is not None:
        try:
            from .geotiff import write_frame_geotiff

            write_frame_geotiff(image, geo, os.path.join(
                task.geotiff_dir, os.path.splitext(rec.name)[0] + ".tif"), reduce=reduce)
        except Exception as exc:
            rec.error = "; ".join(x for x in (rec.error, f"GeoTIFF not written: {exc}") if x)
    return FrameOutcome(rec, flags, time.perf_counter() - t0, yaw_fix)


# --- parent side ------------------------------------------------------------------------------
def _sort_key(path_meta):
    path, meta = path_meta
    t = meta.time if meta is not None else None
    return (t.timestamp() if t is not None else float("inf"), path)


@dataclass
class _Plan:
    """The pre-pass's result, kept compact: one small entry per frame, no metadata."""

    ordered: list                     # paths in capture order (context frames included)
    poses: list                       # Pose or None, same order
    pose_errors: dict                 # path -> why no pose
    notes: dict                       # path -> note (telemetry fallbacks)
    checks: dict                      # path -> (software, ((ref_path, ref_yaw), ...))
    fixes: list                       # (path, reason) from the metadata yaw check


def _plan(paths: Sequence[str], telemetry=None, check_pixels: bool = True,
          context: Sequence[str] = ()) -> _Plan:
    from .frames import FrameMeta
    from .yaw_check import check_yaws, is_edited

    all_paths = list(context) + list(paths)
    # one pass over the metadata, keeping only what the poses need (a FrameMeta holds the
    # whole EXIF: thousands of frames of it would grow the parent for nothing)
    keys, poses_by, errors, times, softwares = {}, {}, {}, {}, {}
    for p in all_paths:
        try:
            meta = read_metadata(p)
        except FrameError as exc:
            keys[p], errors[p] = _sort_key((p, None)), str(exc)
            continue
        keys[p] = _sort_key((p, meta))
        times[p] = meta.time
        soft = " / ".join(dict.fromkeys(x for x in (meta.software, meta.xmp.get("xmp:CreatorTool")) if x))
        if is_edited(soft):
            softwares[p] = sys.intern(soft)
        try:
            poses_by[p] = pose_from_metadata(meta)
        except PoseError as exc:
            poses_by[p], errors[p] = None, str(exc)
        del meta
    ordered = sorted(all_paths, key=keys.__getitem__)
    del keys
    notes: dict[str, str] = {}
    if telemetry:
        from .telemetry import poses_from_telemetry

        readable = [p for p in ordered if p in times]
        try:
            tele = poses_from_telemetry(telemetry, [(p, FrameMeta(path=p, time=times[p])) for p in readable])
        except UavError as exc:
            tele, why = {}, f"telemetry unusable, frame tags used instead: {exc}"
        else:
            why = "not covered by the telemetry: frame tags used instead"
        for p in readable:
            if p in tele:
                poses_by[p] = tele[p]
                errors.pop(p, None)
            else:
                notes[p] = why
    del times
    poses = [poses_by.get(p) for p in ordered]
    del poses_by
    poses, fixes = check_yaws(poses)
    fix_list = [(ordered[f.index], f.reason) for f in fixes]
    checks: dict = {}
    if check_pixels and softwares:
        checks = _pixel_check_refs(ordered, poses, softwares)
    return _Plan(ordered, poses, errors, notes, checks, fix_list)


def _pixel_check_refs(ordered, poses, softwares, max_refs: int = 3) -> dict:
    """For each editor re-saved frame, the nearest untouched frames that overlap it."""
    from uav.geo import distance_m

    trusted = [(i, p) for i, p in enumerate(poses)
               if p is not None and p.yaw is not None and ordered[i] not in softwares]
    out = {}
    for i, p in enumerate(poses):
        if p is None or p.yaw is None or ordered[i] not in softwares:
            continue
        limit = 1.2 * max(p.alt_rel or 40.0, 10.0)
        near = sorted((distance_m(p.lon, p.lat, q.lon, q.lat), j, q.yaw) for j, q in trusted)
        refs = tuple((ordered[j], yaw) for d, j, yaw in near[:max_refs] if d <= limit)
        out[ordered[i]] = (softwares[ordered[i]], refs)
    return out


def _tasks(plan: _Plan, wanted, **common):
    """FrameTasks made one at a time (a 10,000-frame flight never holds 10,000 of them)."""
    for k, (p, pose) in enumerate(zip(plan.ordered, plan.poses, strict=True)):
        plan.poses[k] = None  # handed on: the plan shrinks as the flight is processed
        if p not in wanted:
            continue
        software, refs = plan.checks.pop(p, (None, ()))
        yield FrameTask(path=p, pose=pose, pose_error=plan.pose_errors.get(p) if pose is None else None,
                        pose_note=plan.notes.get(p), software=software, rotation_refs=refs, **common)


def prepare_tasks(paths: Sequence[str], *, telemetry=None, dem=None, ground_elevation=None,
                  camera=None, detectors=(), reduce=1, geotiff_dir=None,
                  check_pixels: bool = True, context: Sequence[str] = ()) -> tuple[list[FrameTask], list]:
    """Read every frame's metadata, find poses (tags or telemetry) and check yaws.

    ``context`` are frames already processed (earlier in a watch) used as neighbours for the
    yaw checks only.  Returns the tasks in capture order and the yaw fixes ``(path, reason)``
    made from the metadata; frames re-saved by a photo editor carry the overlapping untouched
    frames their pixels are checked against in the worker (:class:`FrameTask`
    ``rotation_refs``), and that check's fixes come back with each outcome.
    """
    plan = _plan(paths, telemetry, check_pixels, context)
    wanted = set(paths)
    tasks = list(_tasks(plan, wanted, dem=dem, ground_elevation=ground_elevation, camera=camera,
                        detectors=tuple(detectors), reduce=reduce, geotiff_dir=geotiff_dir))
    return tasks, [f for f in plan.fixes if f[0] in wanted]


def _init_worker():
    # workers must not fight over the few cores with OpenCV's own threads
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


def _mp_context():
    """Workers forked from a clean server process, not from this (threaded) one.

    A plain fork copies whatever locks this process's threads (OpenCV, BLAS, tqdm) held at
    that moment, and the child can hang importing OpenCV; a forkserver starts clean and
    still starts workers in milliseconds.
    """
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["processing.pipeline", "cv2"])
    return ctx


def _run_local(tasks, workers):
    if workers == 0:
        for t in tasks:
            yield process_frame(t)
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    it = iter(tasks)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             mp_context=_mp_context()) as ex:
        pending = set()
        for t in it:
            pending.add(ex.submit(process_frame, t))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(ex.submit(process_frame, nxt))


def _run_dask(tasks, address, workers):
    from distributed import Client, as_completed

    own = not hasattr(address, "submit")
    client = Client(address) if own else address
    try:
        limit = max(2 * (workers or sum(client.nthreads().values()) or 1), 2)
        it = iter(tasks)
        # range first: zip stops on it without drawing one more task from ``it``
        first = [client.submit(process_frame, t, pure=False) for _, t in zip(range(limit), it, strict=False)]
        ac = as_completed(first)
        for fut in ac:
            yield fut.result()
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                ac.add(client.submit(process_frame, nxt, pure=False))
    finally:
        if own:
            client.close()


def process_frames(paths: Iterable, out_gpkg, *, telemetry=None, dem=None, ground_elevation=None,
                   detectors=DEFAULT_DETECTORS, camera=None, workers: int | None = None,
                   dask_address=None, geotiff: bool | str = False, reduce: int = 1,
                   progress: bool = True, on_flag: Callable | None = None,
                   check_pixels: bool = True) -> Summary:
    """Process frames into a flight GeoPackage.

    Parameters
    ----------
    paths : iterable of path
        Frame files or folders of frames.
    out_gpkg : path
        The flight GeoPackage (created or resumed: frames already done are skipped).
    telemetry : path, optional
        MAVLink ``.tlog`` or DataFlash ``.bin`` giving poses instead of the frames' tags.
    dem : path, optional
        DEM GeoTIFF for georeferencing; flat ground at the take-off height otherwise.
    ground_elevation : float, optional
        Flat ground at this elevation (same datum as the GPS altitude).
    detectors : sequence of str or Detector
        Detector names (``processing.detect.registry``) and/or Detector instances.
    camera : CameraProfile, optional
        Overrides the intrinsics read from the frames.
    workers : int, optional
        Local worker processes (default: CPU count; 0 runs in this process).
    dask_address : str or distributed.Client, optional
        Run the same per-frame work on a Dask cluster instead.
    geotiff : bool or path
        Write a GeoTIFF per frame (into ``FLIGHT_geotiff/`` next to the GeoPackage, or here).
    reduce : {1, 2, 4, 8}
        Decode and search at reduced resolution (boxes are reported in full-frame pixels).
    progress : bool
        Show a progress bar with frames/s.
    on_flag : callable, optional
        ``on_flag(flag: FlagRecord, frame: FrameRecord)`` after each flag is written.

    Returns
    -------
    Summary
    """
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
    with FlightStore(out_gpkg) as store:
        done = store.done_paths()
        todo = [p for p in frames if p not in done]
        summary.skipped = len(frames) - len(todo)
        context = [p for p in sorted(done) if os.path.exists(p)][-4:] if todo else []
        plan = _plan(todo, telemetry, check_pixels, context)
        wanted = set(todo)
        for f in plan.fixes:
            if f[0] in wanted:
                summary.note_fix(*f)
        tasks = _tasks(plan, wanted, dem=dem, ground_elevation=ground_elevation, camera=camera,
                       detectors=tuple(detectors), reduce=reduce, geotiff_dir=geotiff_dir)
        if todo:
            store.set_meta("detectors", ",".join(d if isinstance(d, str) else (d.name or type(d).__name__)
                                                 for d in detectors))
            if telemetry:
                store.set_meta("telemetry", os.path.abspath(telemetry))
            if dem:
                store.set_meta("dem", os.path.abspath(dem))
        bar = None
        if progress and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="frame", desc="processing", file=sys.stderr)
        runner = (_run_dask(tasks, dask_address, workers) if dask_address is not None
                  else _run_local(tasks, workers))
        counts: Counter = Counter()
        try:
            for outcome in runner:
                store.add_frame_result(outcome.frame, outcome.flags)
                summary.worker_cpu_s += outcome.cpu_s
                if outcome.yaw_fix:
                    summary.note_fix(outcome.frame.path, outcome.yaw_fix)
                st = outcome.frame.status
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
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        summary.flags_by_class = dict(counts)
        if todo or not store.meta.get("sightings_at"):
            from .sightings_store import update_sightings

            summary.sightings = update_sightings(store)  # the objects, not the photos
            store.set_meta("sightings_at", summary.sightings.total)
    summary.elapsed_s = time.perf_counter() - t_start
    summary.parent_cpu_s = time.process_time() - c_start
    return summary


# Classes a watch prints the moment a frame flags them, before its batch is grouped into
# sightings (people and vehicles move on; a fire waits for the sighting line).
URGENT_CLASSES = ("person", "vehicle")


def watch_folder(folder, out_gpkg, *, poll_s: float = 2.0, settle_s: float = 1.0,
                 stop: Callable[[], bool] | None = None, echo: Callable[[str], None] = print,
                 flag_lines: bool = True, **kwargs) -> Summary:
    """Keep processing frames as they arrive in ``folder`` (a card reader, a live downlink).

    A file is taken once its size has not changed for ``settle_s`` seconds (still being
    copied otherwise).  Each new flag is printed at once through ``echo``.  Runs until
    ``stop()`` returns True (or Ctrl-C).  Keyword arguments go to :func:`process_frames`.
    After each batch a sighting is announced once when it first appears and again only when its
    confidence changes materially; ``flag_lines=False`` drops the line per flag, except an
    ``ALERT`` line for a person or vehicle (:data:`URGENT_CLASSES`), printed as its frame is done.
    """
    from .frames import is_frame_file

    total = Summary(out=str(out_gpkg))
    user_on_flag = kwargs.pop("on_flag", None)

    def on_flag(flag, frame):
        where = (f"{flag.lat:.6f}, {flag.lon:.6f}" if flag.lat is not None
                 else f"no position ({flag.position_note})")
        if flag_lines:
            echo(f"FLAG {flag.cls} {flag.score:.2f} at {where} in {frame.name}")
        elif flag.cls in URGENT_CLASSES:   # rangers act during the flight: not after the batch
            echo(f"ALERT {flag.cls} {flag.score:.2f} at {where} in {frame.name}")
        if user_on_flag:
            user_on_flag(flag, frame)

    sizes: dict[str, tuple[int, float]] = {}
    kwargs.setdefault("progress", False)
    t0 = time.perf_counter()
    try:
        while True:
            ready = []
            now = time.monotonic()
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if not entry.is_file() or not is_frame_file(entry.name):
                    continue
                size = entry.stat().st_size
                prev = sizes.get(entry.path)
                if prev is None or prev[0] != size:
                    sizes[entry.path] = (size, now)
                elif now - prev[1] >= settle_s:
                    ready.append(entry.path)
            if ready:
                s = process_frames(ready, out_gpkg, on_flag=on_flag, **kwargs)
                for alert in (s.sightings.alerts if s.sightings is not None else ()):
                    echo(str(alert))
                total.sightings = s.sightings
                total.frames += s.frames - s.skipped
                total.done += s.done
                total.no_pose += s.no_pose
                total.failed += s.failed
                total.failures += s.failures[:max(0, MAX_LISTED - len(total.failures))]
                total.yaw_fixed += s.yaw_fixed
                total.yaw_fixes += s.yaw_fixes[:max(0, MAX_LISTED - len(total.yaw_fixes))]
                for k, v in s.flags_by_class.items():
                    total.flags_by_class[k] = total.flags_by_class.get(k, 0) + v
                for p in ready:
                    sizes[p] = (sizes[p][0], float("inf"))  # never re-check a finished file
            if stop is not None and stop():
                break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    total.elapsed_s = time.perf_counter() - t0
    return total
