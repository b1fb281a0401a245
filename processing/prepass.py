"""The parent's pre-pass: every frame's metadata, poses, capture order and yaw checks.

Reads metadata only (a fraction of a millisecond a frame, no decoding), keeps one small entry
per frame (about 0.6 kB, freed as frames are handed out), works out poses from the frames'
tags or from telemetry, checks yaws against the flight direction, and for frames a photo editor
re-saved picks the untouched overlapping frames their pixels are checked against in the worker.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from uav.errors import FrameError, PoseError, UavError

from .frames import read_metadata
from .poses import pose_from_metadata
from .tasks import FrameTask


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


__all__ = ["prepare_tasks"]
