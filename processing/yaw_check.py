"""Sanity checks on camera yaw: 180-degree flips in the metadata, and pixels rotated by editors.

Two different faults, both seen in real DJI data:

* **metadata flip** - one frame's yaw is about 180 degrees off both the direction the drone was
  flying (from its neighbours' positions) and its neighbours' yaws, while those two agree.
  The frame's yaw is turned by 180 degrees (:func:`check_yaws`).
* **rotated pixels** - a photo re-saved by a desktop viewer that "auto-rotates" (EXIF
  ``Software`` then names the viewer; Brighton DJI_0024-0029) keeps the camera's yaw while its
  pixels are turned 180 degrees.  The metadata cannot show this; the pixels can: the frame is
  matched (ORB features) against an overlapping frame whose pixels are trusted, and if the
  rotation between them is 180 degrees off what the yaws predict, the yaw used for
  georeferencing *these pixels* is turned by 180 degrees (:func:`check_pixel_rotation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from uav.geo import bearing_deg, distance_m

from .poses import Pose

__all__ = ["YawFix", "check_yaws", "check_pixel_rotation", "angle_diff", "relative_rotation_deg",
           "orb_features", "lsh_index", "rotation_between", "rotated_180", "is_edited"]


@dataclass
class YawFix:
    """One correction made (or a yaw filled in)."""

    index: int
    yaw_before: float | None
    yaw_after: float
    reason: str


def angle_diff(a: float, b: float) -> float:
    """Smallest absolute difference between two angles in degrees (0..180)."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _circ_mean(angles) -> float | None:
    angles = [a for a in angles if a is not None]
    if not angles:
        return None
    r = np.radians(angles)
    return math.degrees(math.atan2(np.sin(r).mean(), np.cos(r).mean()))


def _track_bearing(poses, i, min_move_m: float = 2.0) -> float | None:
    prev = next((poses[j] for j in range(i - 1, -1, -1) if poses[j] is not None), None)
    nxt = next((poses[j] for j in range(i + 1, len(poses)) if poses[j] is not None), None)
    a = prev if prev is not None else poses[i]
    b = nxt if nxt is not None else poses[i]
    if a is b or distance_m(a.lon, a.lat, b.lon, b.lat) < min_move_m:
        return None
    return float(bearing_deg(a.lon, a.lat, b.lon, b.lat))


def check_yaws(poses: list[Pose | None], window: int = 2, tol_deg: float = 35.0
               ) -> tuple[list[Pose | None], list[YawFix]]:
    """Correct isolated 180-degree yaw flips and fill missing yaws from the flight direction.

    Parameters
    ----------
    poses : list of Pose or None
        In capture order (``None`` for frames without a pose).
    window : int
        Neighbours on each side whose yaw is compared.
    tol_deg : float
        How close to 180 (or 0) degrees counts as "flipped" (or "agrees").

    Returns
    -------
    poses, fixes
        New list of poses (corrected ones replaced, ``yaw_corrected`` set) and what was done.
    """
    out = list(poses)
    fixes: list[YawFix] = []
    for i, p in enumerate(poses):
        if p is None:
            continue
        track = _track_bearing(poses, i)
        if p.yaw is None:
            if track is not None:
                out[i] = p.with_yaw(track, "yaw unknown: taken from the flight direction",
                                    corrected=False)
                fixes.append(YawFix(i, None, out[i].yaw, "yaw from flight direction"))
            continue
        neigh = [poses[j].yaw for j in range(max(0, i - window), min(len(poses), i + window + 1))
                 if j != i and poses[j] is not None and poses[j].yaw is not None]
        nyaw = _circ_mean(neigh)
        if track is None or nyaw is None:
            continue
        if max(angle_diff(y, nyaw) for y in neigh) > tol_deg:
            continue  # the neighbours disagree among themselves (a turn): no reference
        if (angle_diff(p.yaw, track) > 180 - tol_deg and angle_diff(p.yaw, nyaw) > 180 - tol_deg
                and angle_diff(nyaw, track) < tol_deg):
            new = p.yaw + 180.0
            out[i] = p.with_yaw(new, f"yaw {p.yaw:.1f} was 180 deg off the flight direction "
                                     f"{track:.0f} and the neighbouring frames; turned")
            fixes.append(YawFix(i, p.yaw, out[i].yaw, "metadata yaw flipped 180 deg"))
    return out, fixes


# --- pixels vs metadata ---------------------------------------------------------------------
def orb_features(img: np.ndarray, n: int = 3000) -> tuple[np.ndarray, np.ndarray | None]:
    """ORB keypoint positions ``(N, 2)`` and descriptors of a small frame (1/8 size).

    Computed once per frame so that a reference frame shared by several suspects (or kept in
    a worker's cache) is described only once.
    """
    import cv2

    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if g.dtype != np.uint8:
        g = cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    kp, desc = cv2.ORB_create(n).detectAndCompute(g, None)
    return np.float32([k.pt for k in kp]).reshape(-1, 2), desc


def lsh_index(desc: np.ndarray):
    """An LSH index over a frame's ORB descriptors, built once and queried by many frames."""
    import cv2

    # 4 tables of 12-bit keys: on Brighton every editor re-saved frame still matched its two
    # nearest untouched frames, at a third of the query time of 6 tables
    m = cv2.FlannBasedMatcher(dict(algorithm=6, table_number=4, key_size=12, multi_probe_level=1),
                              dict(checks=32))
    m.add([desc])
    m.train()
    return m


def rotation_between(feat_a, feat_b, min_inliers: int = 25, index=None) -> float | None:
    """In-image rotation (degrees) taking the content of ``feat_a``'s frame to ``feat_b``'s.

    Descriptors are matched through an LSH index over ``feat_a`` (``index``, from
    :func:`lsh_index`, or built here) with a loose ratio test (0.9) - several times faster
    than brute-force cross-checked matching of 3000 ORB features and, on the Brighton frames,
    more RANSAC inliers - then a RANSAC similarity transform is fitted.  None when the frames
    do not share enough texture to tell.
    """
    import cv2

    (pa_all, da), (pb_all, db) = feat_a, feat_b
    if da is None or db is None or len(da) < min_inliers or len(db) < min_inliers:
        return None
    cv2.setRNGSeed(1)  # LSH and RANSAC draw at random: same frames, same answer
    pairs = (index or lsh_index(da)).knnMatch(db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.9 * p[1].distance]
    if len(good) < min_inliers:
        return None
    pa = pa_all[[m.trainIdx for m in good]]
    pb = pb_all[[m.queryIdx for m in good]]
    M, inl = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=4.0)
    if M is None or inl is None or int(inl.sum()) < min_inliers:
        return None
    return math.degrees(math.atan2(M[1, 0], M[0, 0]))


def relative_rotation_deg(img_a: np.ndarray, img_b: np.ndarray, min_inliers: int = 25) -> float | None:
    """In-image rotation taking frame ``a``'s content to frame ``b``'s (degrees), or None.

    ORB features (:func:`orb_features`) matched and fitted by :func:`rotation_between`.
    """
    return rotation_between(orb_features(img_a), orb_features(img_b), min_inliers)


def rotated_180(rot: float, yaw: float, ref_yaw: float) -> bool:
    """Whether a measured in-image rotation says the pixels are turned 180 deg from the yaws.

    At nadir the scene turns in the image opposite to the camera's yaw change.
    """
    return angle_diff(rot, -(yaw - ref_yaw)) > 145


_EDITORS = ("windows photo", "microsoft photos", "photoshop", "lightroom", "gimp", "picasa",
            "preview", "irfanview", "acdsee", "shotwell", "digikam", "snapseed", "photos")


def is_edited(software: str | None) -> bool:
    """Whether an EXIF ``Software`` / XMP ``CreatorTool`` names a desktop photo editor/viewer.

    Those re-save JPEGs and some turn the pixels while "auto-rotating"; a drone's own firmware
    string (``v01.23.4920``) is not one.
    """
    if not software:
        return False
    s = software.lower()
    return any(e in s for e in _EDITORS)


def check_pixel_rotation(poses: list[Pose | None], softwares: list[str | None], load_image,
                         max_dist_m: float | None = None, names: list[str] | None = None) -> tuple[list[Pose | None], list[YawFix]]:
    """Find frames whose pixels were rotated 180 degrees by an editor; turn their yaw to match.

    Only frames whose EXIF ``Software`` (or XMP ``CreatorTool``) names a desktop photo editor
    are examined (:func:`is_edited`), each against the nearest trusted frame.

    Parameters
    ----------
    poses : list of Pose or None
    softwares : list of str or None
        EXIF ``Software`` of each frame.
    load_image : callable
        ``load_image(index) -> ndarray``: the frame's pixels, small (1/8 size is plenty).
    max_dist_m : float, optional
        Farthest a reference frame may be; by default 1.2x the camera's height.
    names : list of str, optional
        Frame names for the notes.
    """
    out = list(poses)
    fixes: list[YawFix] = []
    suspects = [i for i, (p, s) in enumerate(zip(poses, softwares, strict=True))
                if p is not None and p.yaw is not None and is_edited(s)]
    if not suspects:
        return out, fixes
    trusted = {i for i, p in enumerate(poses) if p is not None and p.yaw is not None
               and i not in suspects}
    cache: dict[int, tuple] = {}

    def feat(i):
        if i not in cache:
            cache[i] = orb_features(load_image(i))
        return cache[i]

    pending = list(suspects)
    progress = True
    while pending and progress:
        progress = False
        for i in list(pending):
            p = out[i]
            limit = max_dist_m or 1.2 * max(p.alt_rel or 40.0, 10.0)
            refs = sorted((distance_m(p.lon, p.lat, out[j].lon, out[j].lat), j) for j in trusted)
            for dist, j in refs:
                if dist > limit:
                    break
                rot = rotation_between(feat(j), feat(i))
                if rot is None:
                    continue
                if rotated_180(rot, p.yaw, out[j].yaw):
                    out[i] = p.with_yaw(p.yaw + 180.0, f"pixels rotated 180 deg relative to the "
                                        f"camera yaw (re-saved by {softwares[i]!r}); checked "
                                        f"against {names[j] if names else f'frame {j}'}")
                    fixes.append(YawFix(i, p.yaw, out[i].yaw, "pixels rotated 180 deg"))
                trusted.add(i)
                pending.remove(i)
                progress = True
                break
    return out, fixes
