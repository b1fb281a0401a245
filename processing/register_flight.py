"""Register a processed flight: tie its frames together, re-place everything on the map.

Runs in the parent after the frames are through (``uav process … --register``): reads the
frames' direct poses from the GeoPackage, takes each near-nadir frame's tie features (:mod:`.ties`)
from the flight's cache, where the workers put them while processing it (:mod:`.tie_cache`;
a frame without them is decoded here at about 1000 px across), matches overlapping pairs in
threads, solves the pose corrections
(:mod:`.registration`), then puts footprints, GSDs, flag positions and, when asked, the
per-frame GeoTIFFs on the registered poses and records each frame's registered pose,
residual and neighbours (:mod:`.store.registration`).  A frame that cannot be read or tied
keeps its direct georeference, with status ``direct`` and why.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace

import numpy as np

from uav.errors import FrameError, GeoreferenceError

from .georef import DemGround, FlatGround, georeference_frame
from .poses import Pose, intrinsics_from_metadata
from .registration import (
    Priors,
    Registration,
    adjusted_intrinsics,
    adjusted_pose,
    solve_registration,
)
from .search import _size_check
from .store.registration import FrameRegistrationRecord, save_registration
from .tie_cache import (
    load_pair_ties,
    load_tie_features,
    pair_key,
    save_pair_ties,
    save_tie_features,
    tie_cache_dir,
)
from .ties import (
    OBLIQUE_DEG,
    TieFeatures,
    decode_scale,
    frame_features,
    frame_prior,
    match_pair,
    near_nadir,
    overlapping_pairs,
)

__all__ = ["register_flight", "OBLIQUE_DEG"]

# pairs matched per round of the thread pool: each frame's features are read once, before its
# first pair, and let go after its last, so only the frames of a few flight lines are held
CHUNK = 64

def _oblique(pose: Pose) -> bool:
    return not near_nadir(pose.pitch)


def _direct(frames, camera, ground):
    """Each frame's direct georeference (None where it has none) and its intrinsics."""
    from .frames import read_metadata

    out = []
    for f in frames:
        if f.lat is None or f.yaw is None:
            out.append(None)
            continue
        pose = Pose(lat=f.lat, lon=f.lon, alt_amsl=f.alt_amsl, alt_rel=f.alt_rel, yaw=f.yaw,
                    pitch=f.pitch if f.pitch is not None else -90.0, roll=f.roll or 0.0)
        try:
            intr = intrinsics_from_metadata(read_metadata(f.path), camera, f.width, f.height)
            out.append((pose, intr, georeference_frame(pose, intr, ground)))
        except (FrameError, GeoreferenceError, OSError):
            out.append(None)  # moved or unreadable since processing: keeps what it has
    return out


def _place(flags, geo):
    """New ``(fid, lon, lat, ground size, size ok)`` for a frame's flags through ``geo``."""
    if not flags:
        return []
    b = np.array([(f.px_x0, f.px_y0, f.px_x1, f.px_y1) for f in flags], float) - 0.5
    x0, y0, x1, y1 = b.T
    n = len(flags)
    cam = geo.camera
    P = cam.pixel_to_world(np.concatenate([(x0 + x1) / 2, x0, x1, x1, x0]),
                           np.concatenate([(y0 + y1) / 2, y0, y0, y1, y1]))
    lon, lat = cam.to_lonlat(P[:n, 0], P[:n, 1])
    corners = P[n:].reshape(4, n, 3).transpose(1, 0, 2)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2).max(axis=1)
    whole = np.isfinite(corners).all(axis=(1, 2))
    out = []
    for i, f in enumerate(flags):
        if not np.isfinite(P[i, 0]):
            continue  # the box centre misses the ground: the flag keeps its old place
        size = float(sides[i]) if whole[i] else None
        out.append((f.fid, float(lon[i]), float(lat[i]), size, _size_check(f.cls, size)))
    return out


def register_flight(store, *, dem=None, ground_elevation=None, camera=None, geotiff_dir=None,
                    priors: Priors | None = None) -> Registration:
    """Register every georeferenced frame of ``store`` (a :class:`FlightStore`) and write it back.

    Returns the :class:`Registration` (its ``frames`` in the order of ``store.frames('done')``).
    Running it again starts from the direct poses, so it never compounds.

    With neither ``dem`` nor ``ground_elevation`` the frames were placed on flat ground at the
    take-off height, and the solve estimates where the ground really is (the shared height
    bias): every registered camera comes down by it, which on flat ground is the same as
    raising the ground, so footprints, flags, GeoTIFFs and the mosaic (all drawn from the
    registered poses) take it.  A ground the user gave is kept as it is.
    """
    ground = DemGround(dem) if dem else FlatGround(ground_elevation)
    frames = store.frames("done")
    direct = _direct(frames, camera, ground)
    epsg = [None if d is None else d[2].epsg for d in direct]
    main_epsg = max(set(e for e in epsg if e), key=epsg.count, default=None)
    prints = [None if d is None or _oblique(d[0]) or epsg[i] != main_epsg else d[2].footprint_utm
              for i, d in enumerate(direct)]
    # a colour and a thermal camera see the ground differently: only like frames are tied
    pairs = [(a, b) for a, b in overlapping_pairs(prints) if frames[a].thermal == frames[b].thermal]
    folder = tie_cache_dir(store.path)

    priors = priors or Priors()

    def features(i):
        f = _features(frames[i], decode_scale(direct[i][1].width), folder)
        # where the direct pose puts each feature: the matching compares only features that
        # can be the same ground (ties.match_pair)
        return None if f is None else (f, frame_prior(f.points, direct[i][2].camera, prints[i]))

    reach = _reach_m(priors)
    ident = [None if d is None else (f.path, f.sha256, d[0], d[1]) for f, d in zip(frames, direct, strict=True)]
    keys = [pair_key(ident[a], ident[b], (dem, ground_elevation, reach)) for a, b in pairs]
    ties, unreadable = _tie_pairs(pairs, features, reach_m=reach, keys=keys, folder=folder)
    if dem or ground_elevation is not None:
        priors = replace(priors, bias_m=None)   # the user's ground wins
    reg = solve_registration([None if d is None else d[2].camera for d in direct], ties, priors)
    reg.ground_model = "take-off" if not dem and ground_elevation is None else "the given ground"
    oblique = sum(d is not None and _oblique(d[0]) for d in direct)
    if oblique:
        reg.note = "; ".join(w for w in (f"{oblique} oblique frame(s) kept their direct georeference "
                                         "(registration ties near-nadir frames only)", reg.note) if w)

    rows, footprints, flag_updates = [], {}, []
    for f, d, adj in zip(frames, direct, reg.frames, strict=True):
        if d is None:
            rows.append(FrameRegistrationRecord(f.fid, "direct", note="no direct georeference to start from"))
            continue
        pose, intr, geo = d
        new = adjusted_pose(pose, geo.camera, adj)
        if adj.status == "registered":
            intr = adjusted_intrinsics(intr, reg.lens_k1)
            geo = georeference_frame(new, intr, ground)
            footprints[f.fid] = (geo.footprint, geo.gsd_m)
        else:
            footprints[f.fid] = (d[2].footprint, d[2].gsd_m)
        flag_updates += _place(store.flags(frame_fid=f.fid), geo)
        why = None if adj.status == "registered" else (
            f"oblique (gimbal pitch {pose.pitch:.0f} deg): registration ties near-nadir frames only; "
            "direct georeference kept" if _oblique(pose) else
            "matched no overlapping frame: direct georeference kept"
            if prints[adj.index] is not None and adj.index not in unreadable
            else "not tied (frame unreadable, or another UTM zone): direct georeference kept")
        rows.append(FrameRegistrationRecord(
            f.fid, adj.status, adj.neighbours, adj.residual_m, adj.residual_before_m, new.lat, new.lon,
            new.alt_amsl, new.alt_rel, new.yaw, (intr.distortion or (0.0,))[0], adj.dx_m, adj.dy_m, adj.dz_m, adj.dyaw_deg, why,
            tilt_e_deg=new.tilt[0], tilt_n_deg=new.tilt[1], direct_footprint=d[2].footprint))
        if geotiff_dir and adj.status == "registered":
            _rewrite_geotiff(f, geo, geotiff_dir)
    save_registration(store, rows, footprints, flag_updates)
    store.set_meta("registration", (f"{reg.registered} of {len(frames)} frames registered; "
                                    f"ground estimated {reg.ground_above_m:+.2f} m above {reg.ground_model}"
                                    if reg.height_bias_used
                                    else f"{reg.registered} of {len(frames)} frames registered"))
    store.set_meta("ground_estimate", _ground_meta(reg, dem, ground_elevation))
    store.set_meta("registration_frames", str(len(frames)))   # how many it covered
    return reg


def _features(frame, reduce: int, folder) -> TieFeatures | None:
    """A frame's tie features: from the flight's cache (the workers found them while processing
    it), else decoded here, as before the cache (and cached for the next time).  None when the
    frame cannot be read."""
    from .frames import decode_frame, read_frame_bytes, sha256_bytes

    got = load_tie_features(folder, frame.path, frame.sha256, reduce)
    if got is not None:
        return got
    try:
        data = read_frame_bytes(frame.path)
        pts, desc = frame_features(decode_frame(data, frame.path, reduce=reduce), reduce)
    except (FrameError, OSError):
        return None
    feats = TieFeatures(pts, desc, reduce, sha256_bytes(data))
    save_tie_features(folder, frame.path, feats)
    return feats


def _reach_m(priors: Priors) -> float:
    """How far apart two frames' direct poses can put the same ground: 3.5 sd of the
    difference of two GPS fixes (each ``xy_m``), which also covers a compass error of a few
    degrees at the edge of a frame (3 deg at 30 m is 1.6 m)."""
    return 3.5 * math.sqrt(2) * priors.xy_m


def _tie_pairs(pairs, features, threads: int | None = None, reach_m: float = 15.0, keys=None, folder=None):
    """Match every pair, in threads (OpenCV lets go of the GIL while it decodes and matches).

    ``features(i)``: frame ``i``'s ``(TieFeatures, FramePrior)``, or None when it cannot be read.
    Returns the ties, in the order of ``pairs`` (so the solve sees them as it always did), and
    the frames whose features could not be had.  Each frame's features are fetched once,
    before its first pair, and dropped after its last: memory holds the frames of the few
    flight lines the current pairs span, not the flight.  With ``keys`` (each pair's
    :func:`~processing.tie_cache.pair_key`) a pair matched before is read from ``folder``
    instead, and a pair matched now is kept there: each batch of a ``--watch --register``
    matches only the pairs its new frames make.
    """
    from concurrent.futures import ThreadPoolExecutor

    keys = keys or [None] * len(pairs)
    result = [load_pair_ties(folder, key, *p) if folder else (False, None) for p, key in zip(pairs, keys, strict=True)]
    todo = [k for k, (hit, _) in enumerate(result) if not hit]
    last = {}
    for n, k in enumerate(todo):
        a, b = pairs[k]
        last[a] = last[b] = n
    held, failed = {}, set()
    threads = threads or min(os.cpu_count() or 1, 8)

    def match(p):
        (fa, pa), (fb, pb) = held[p[0]], held[p[1]]
        return match_pair(fa.pair, fb.pair, *p, prior=(pa, pb), reach_m=reach_m)

    import cv2

    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)   # the pool is the parallelism: OpenCV's own threads on top only fought it
    try:
        with ThreadPoolExecutor(threads) as pool:
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start:start + CHUNK]
                need = sorted({i for k in chunk for i in pairs[k]} - held.keys() - failed)
                for i, f in zip(need, pool.map(features, need), strict=True):
                    if f is None:
                        failed.add(i)
                    else:
                        held[i] = f
                both = [k for k in chunk if pairs[k][0] in held and pairs[k][1] in held]
                for k, tie in zip(both, pool.map(match, [pairs[k] for k in both]), strict=True):
                    result[k] = (True, tie)
                    if folder:
                        save_pair_ties(folder, keys[k], tie)
                end = start + len(chunk) - 1
                for i in [i for i in held if last[i] <= end]:
                    del held[i]
    finally:
        cv2.setNumThreads(cv_threads)
    return [tie for _, tie in result if tie is not None], failed


def _ground_meta(reg: Registration, dem, ground_elevation) -> str:
    """``flight_meta.ground_estimate``: where the ties put the ground, or why they did not."""
    if dem or ground_elevation is not None:
        return json.dumps({"estimated": False, "why": "the ground was given (--dem or --ground-elevation)"})
    if not reg.height_bias_used:
        why = next((w for w in reg.note.split("; ") if w.startswith("ground")), reg.note) or "no ties"
        return json.dumps({"estimated": False, "why": why})
    return json.dumps({"estimated": True, "above_takeoff_m": round(reg.ground_above_m, 2),
                       "sd_m": round(reg.height_bias_sd_m, 2), "ties": reg.ties, "pairs": reg.pairs,
                       "frames": reg.registered,
                       "applied_as": "registered camera heights lowered by it (frame_registration.dz_m)"})


def _rewrite_geotiff(frame, geo, folder):
    """The frame's GeoTIFF again, on its registered pose (decoded at the tie scale)."""
    from .frames import decode_frame, read_frame_bytes
    from .geotiff import write_frame_geotiff

    r = decode_scale(geo.camera.intr.width)
    img = decode_frame(read_frame_bytes(frame.path), frame.path, reduce=r)
    write_frame_geotiff(img, geo, os.path.join(folder, os.path.splitext(frame.name)[0] + ".tif"), reduce=r)
