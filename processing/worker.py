"""The per-frame worker: read, hash, decode, search and georeference one frame.

Runs in a worker process (or a Dask worker thread) on a :class:`~processing.tasks.FrameTask`
and never raises for a bad frame: the :class:`~processing.tasks.FrameOutcome` says ``failed``
and why.  Each frame's bytes are read once, hashed and decoded from the same buffer, decoded at
the coarsest JPEG scale the detectors still need, its pixels checked against an untouched
overlapping frame when a photo editor re-saved it, and its flags placed on the ground in one
ray cast.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import OrderedDict

import numpy as np

from uav.errors import FrameError, GeoreferenceError, PoseError

from .detect.base import Detection, FrameInfo
from .detect.coco_check import off_nadir_deg, second_opinion
from .frames import decode_frame, read_frame_bytes, read_metadata, sha256_bytes
from .georef import DemGround, FlatGround, georeference_frame
from .poses import Intrinsics, Pose, intrinsics_from_metadata, pose_from_metadata
from .search import _camera_thermal, _resolve_detectors, _search_reduction, _size_check
from .store import FlagRecord, FrameRecord, SearchRecord
from .tasks import FrameOutcome, FrameTask
from .ties import near_nadir


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


def reference_features(path: str, data: bytes | None = None) -> tuple:
    """ORB keypoints and descriptors of a trusted overlapping frame at 1/8 size: what a
    re-saved frame's pixels are compared with (a few hundred kB, not the frame's MB)."""
    from .yaw_check import orb_features

    data = read_frame_bytes(path) if data is None else data
    return orb_features(decode_frame(data, path, reduce=8))


def _ref_features(path: str, data: bytes | tuple | None = None):
    """``data``: the reference's bytes, or its :func:`reference_features` as the parent sent them."""
    cache = getattr(_REF_LOCAL, "cache", None)
    if cache is None:
        cache = _REF_LOCAL.cache = OrderedDict()
    feat = cache.get(path)
    if feat is None:
        from .yaw_check import lsh_index

        pts, desc = data if isinstance(data, tuple) else reference_features(path, data)
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
    sent = tuple(task.ref_data) + (None,) * (len(task.rotation_refs) - len(task.ref_data))
    for (ref_path, ref_yaw), ref_bytes in zip(task.rotation_refs, sent, strict=True):
        try:
            pts, desc, index = _ref_features(ref_path, ref_bytes)
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


def limit_threads():
    """One core per worker: OpenCV's own thread pool would otherwise spread each frame's decode
    and resizes over every core, and N workers on N cores would fight over them."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


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
        data = read_frame_bytes(path) if task.data is None else task.data
    except FrameError as exc:
        # on a Dask worker this usually means "not on this PC's disk": the parent sends the
        # bytes instead (processing.cluster); a local run records it as the frame's failure
        rec.status, rec.error = "failed", str(exc)
        return FrameOutcome(rec, [], time.perf_counter() - t0, more=task.more, unreadable=True)
    rec.sha256 = sha256_bytes(data)
    try:
        meta = read_metadata(path, data)
        reduce = _search_reduction(task, meta, data[:2] == b"\xff\xd8")
        image = decode_frame(data, path, reduce=reduce)
    except FrameError as exc:
        rec.status, rec.error = "failed", str(exc)
        return FrameOutcome(rec, [], time.perf_counter() - t0, more=task.more)
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
    ties = None
    if task.ties and geo is not None and near_nadir(pose.pitch):
        ties = _tie_features(data, path, image, reduce, geo.camera.intr.width, rec.sha256)
    del data
    if why_no_pose:
        notes.append(why_no_pose)
    rec.error = "; ".join(n for n in notes if n) or None

    # search: with the detectors asked for this kind of frame (colour or thermal)
    searches: list[SearchRecord] = []
    try:
        detectors = _resolve_detectors(task.detectors_for(rec.thermal), task.sensitivity)
        info = FrameInfo(path=path, thermal=rec.thermal,
                         gsd_m=None if geo is None or geo.gsd_m is None else geo.gsd_m * reduce,
                         row_gsd=_row_gsd(geo, reduce), reduce=reduce,
                         height_m=None if geo is None else float(geo.camera.height_agl),
                         off_nadir_deg=None if geo is None else off_nadir_deg(geo.camera))
        dets: list[Detection] = []
        from .detect.provenance import search_identity
        from .detect.registry import detectors_for_frame

        for det in detectors_for_frame(detectors, rec.thermal, path, task.sensitivity):
            # oblique frames: COCO's second opinion on each vehicle flag (nadir ones untouched)
            checked = second_opinion(det, image, info, _resolvable(det, det.detect(image, info), info.row_gsd))
            dets.extend(checked.detections)
            for note in (_unsearched_note(det, info.row_gsd, image.shape[0]), checked.note):
                if note and note not in notes:
                    notes.append(note)
                    rec.error = "; ".join(n for n in notes if n)
            searches.append(SearchRecord(det.name, *search_identity(det), searched_at=rec.processed_at,
                                         sensitivity=getattr(det, "sensitivity", None)))
    except Exception as exc:  # a detector bug must not stop the flight
        rec.status = "failed"
        rec.error = f"detector failed: {type(exc).__name__}: {exc}"
        if os.environ.get("UAV_DEBUG"):
            traceback.print_exc()
        return FrameOutcome(rec, [], time.perf_counter() - t0, None, more=task.more)
    flags = _place_flags(dets, geo, reduce, why_no_pose)
    from .look import look_of

    for f, d in zip(flags, dets, strict=True):   # the box as searched (decoded size)
        f.look = look_of(image, d.x0, d.y0, d.x1, d.y1)

    if task.geotiff_dir and geo is not None:
        try:
            from .geotiff import write_frame_geotiff

            write_frame_geotiff(image, geo, os.path.join(
                task.geotiff_dir, os.path.splitext(rec.name)[0] + ".tif"), reduce=reduce)
        except Exception as exc:
            rec.error = "; ".join(x for x in (rec.error, f"GeoTIFF not written: {exc}") if x)
    return FrameOutcome(rec, flags, time.perf_counter() - t0, yaw_fix, searches=searches, more=task.more,
                        tie_features=ties)


def _tie_features(data: bytes, path: str, image, reduce: int, width: int, sha256: str):
    """The frame's tie features, exactly as registration would find them in the parent: the
    same JPEG decode at the tie scale (1/4 for a 4000 px frame, from the bytes already read:
    a sixteenth of the pixels) and the same ORB.  The frame's own decode is used when the
    detectors asked for that scale already.  None when it cannot be described here (the
    parent then decodes it itself)."""
    from .ties import TieFeatures, decode_scale, frame_features

    r = decode_scale(width)
    try:
        img = image if reduce == r else decode_frame(data, path, reduce=r)
        pts, desc = frame_features(img, r)
    except Exception:   # a safeguard: the parent describes the frame instead
        return None
    return TieFeatures(pts, desc, r, sha256)


def _row_gsd(geo, reduce: int) -> tuple:
    """(row of the decoded image, m per camera pixel) down the frame (``FrameInfo.row_gsd``);
    () without a pose."""
    if geo is None:
        return ()
    return tuple((r / reduce, g) for r, g in geo.camera.row_gsd())


def _resolvable(det, dets: list[Detection], row_gsd) -> list[Detection]:
    """A detector's flags where a pixel is fine enough for its class (``max_gsd_m``) and the row
    sees the ground: a vehicle or a person is never flagged above the horizon."""
    limit = getattr(det, "max_gsd_m", None)
    if not row_gsd or limit is None or not dets:
        return dets
    from .detect.bands import resolvable

    keep = resolvable(np.array([(d.x0, d.y0, d.x1, d.y1) for d in dets]), row_gsd, limit)
    return [d for d, k in zip(dets, keep, strict=True) if k]


def _unsearched_note(det, row_gsd, height: int) -> str | None:
    """Say which part of an oblique frame a class was not searched in, and why (so an empty
    sky or a far horizon with no vehicle flag is not read as "no vehicle there")."""
    limit = getattr(det, "max_gsd_m", None)
    if not row_gsd or limit is None:
        return None
    from .detect.bands import gsd_at

    g = gsd_at(row_gsd, np.arange(0.5, height, max(1.0, height / 200.0)))
    sky, coarse = ~np.isfinite(g), np.isfinite(g) & (g > limit)
    if not (sky.any() or coarse.any()):
        return None
    why = " and ".join(w for w, m in (("above the horizon or out of range", sky),
                                        (f"coarser than {limit:.2f} m/px", coarse)) if m.any())
    cls = ", ".join(getattr(det, "classes", ()) or (det.name,))
    return f"no {cls} searched in {100 * (sky | coarse).mean():.0f} % of the frame ({why})"


def _place_flags(dets: list[Detection], geo, scale: int, why_no_pose: str | None) -> list[FlagRecord]:
    """A frame's detections as flags: boxes in full-frame pixels, each placed on the ground.

    Every box's centre and four corners go through one ray cast (``pixel_to_world``): the
    centre gives the flag's lon/lat, the corners its ground size (longest side of the box's
    quadrilateral on the ground), as :meth:`CameraModel.box_ground_size` measures one box; the
    position's uncertainty, or a bearing for a box in the sky, from :mod:`.flag_uncertainty`.
    """
    from .flag_uncertainty import beyond_note, box_uncertainty

    flags = [FlagRecord(cls=d.cls, score=float(d.score), px_x0=d.x0 * scale, px_y0=d.y0 * scale,
                        px_x1=d.x1 * scale, px_y1=d.y1 * scale, detector=d.detector or None)
             for d in dets]
    if not flags:
        return flags
    if geo is None:
        for f in flags:
            f.position_note = why_no_pose or "frame has no pose"
        return flags
    n = len(flags)
    # pixel centres are at .5: a box edge at x is the continuous coordinate x - 0.5
    x0, y0, x1, y1 = (np.array([(f.px_x0, f.px_y0, f.px_x1, f.px_y1) for f in flags], float) - 0.5).T
    u = np.concatenate([(x0 + x1) / 2, x0, x1, x1, x0])
    v = np.concatenate([(y0 + y1) / 2, y0, y0, y1, y1])
    cam = geo.camera
    ground = cam.pixel_to_world(u, v)
    lon, lat = cam.to_lonlat(ground[:n, 0], ground[:n, 1])
    corners = ground[n:].reshape(4, n, 3).transpose(1, 0, 2)         # (box, corner, xyz)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2).max(axis=1)
    whole = np.isfinite(corners).all(axis=(1, 2))
    hit = np.isfinite(ground[:n, 0])
    unc = box_uncertainty(cam, np.stack([x0, y0, x1, y1], -1), [f.cls for f in flags], ground[:n])
    for i, f in enumerate(flags):
        if hit[i]:
            f.lon, f.lat = float(lon[i]), float(lat[i])
            f.position_uncertainty_m = float(unc.uncertainty_m[i])
        else:
            f.position_note = ("box centre is above the horizon or beyond the usable range: "
                               + beyond_note(unc.bearing_deg[i], unc.beyond_m[i]))
        f.ground_size_m = float(sides[i]) if whole[i] else None
        f.size_ok = _size_check(f.cls, f.ground_size_m)
    return flags


__all__ = ["process_frame"]
