"""Tie points between overlapping frames: the observations frame registration solves from.

Overlapping pairs are found through a spatial index over the frames' direct footprints (cost
grows with the number of frames, not its square).  Each frame is decoded once, small (about
1000 px across: a JPEG is decoded straight at 1/2, 1/4 or 1/8 size), and described with ORB;
each pair's descriptors are matched with a ratio test and the matches kept only when they fit
one homography by RANSAC (the ground under a nadir survey is close to a plane).  What comes
back is, per pair, the same ground features' pixel positions in both frames (full-frame pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Tie", "TieFeatures", "overlapping_pairs", "frame_features", "match_pair", "decode_scale",
           "near_nadir", "OBLIQUE_DEG", "ORB_FEATURES"]

# about this many pixels across the decoded frame: at Brighton's 4000 px that is 1/4 size
# (6.8 cm on the ground), fine enough for decimetre ties and 1/16 of the full decode's pixels
TIE_WIDTH_PX = 1000
ORB_FEATURES = 4000

# The solve models a frame's error as a turn, a shift and a height change, which is what a
# nadir camera's is; an oblique camera's pitch error moves its far ground by tens of metres.
# On Orthority (gimbal -60 deg, on its DSM) registering put pixels 3.3 -> 7.8 m off the SfM
# poses' ground (docs/registration.md), so frames this far off nadir keep their direct pose.
OBLIQUE_DEG = 20.0


def near_nadir(pitch: float | None) -> bool:
    """Whether a frame with this gimbal pitch is tied (no pitch: taken as straight down)."""
    return pitch is None or pitch <= -90.0 + OBLIQUE_DEG


@dataclass
class TieFeatures:
    """One frame's tie features as :func:`frame_features` gives them, with what they were made
    from: a worker computes them while it has the frame (``FrameOutcome.tie_features``), the
    parent keeps them in the flight's cache (:mod:`.tie_cache`) for registration."""

    points: np.ndarray               # (N, 2) float32, full-frame pixels
    descriptors: np.ndarray | None   # (N, 32) uint8 ORB; None: no texture
    reduce: int                      # the JPEG decode reduction they were found at
    sha256: str | None = None        # the file's content they belong to

    @property
    def pair(self) -> tuple:
        """``(points, descriptors)``, what :func:`match_pair` takes."""
        return self.points, self.descriptors


@dataclass
class Tie:
    """Features matched between two frames: ``uv_a[k]`` in frame ``a`` is ``uv_b[k]`` in ``b``
    (full-frame pixel coordinates), after RANSAC."""

    a: int
    b: int
    uv_a: np.ndarray
    uv_b: np.ndarray
    inliers: int        # RANSAC inliers before thinning to at most ``max_ties``


def overlapping_pairs(footprints, min_share: float = 0.15) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose footprints (metric polygons) overlap by at least
    ``min_share`` of the smaller one.  Uses an STRtree, so it stays near linear in frames."""
    import shapely

    idx = [i for i, f in enumerate(footprints) if f is not None and not f.is_empty]
    if len(idx) < 2:
        return []
    polys = [footprints[i] for i in idx]
    tree = shapely.STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    out = []
    for p, q in zip(a.tolist(), b.tolist(), strict=True):
        if p >= q:
            continue
        pa, pb = polys[p], polys[q]
        share = pa.intersection(pb).area / max(min(pa.area, pb.area), 1e-9)
        if share >= min_share:
            out.append((idx[p], idx[q]))
    return sorted(out)


def decode_scale(width: int) -> int:
    """The JPEG decode reduction (1, 2, 4 or 8) that keeps a frame at least TIE_WIDTH_PX wide."""
    r = 1
    while r < 8 and width / (r * 2) >= TIE_WIDTH_PX:
        r *= 2
    return r


def frame_features(img: np.ndarray, reduce: int, n: int = ORB_FEATURES):
    """ORB keypoints (full-frame pixels, ``(N, 2)``) and descriptors of a frame decoded at
    1/``reduce`` size.  ``None`` descriptors when the frame has no texture."""
    import cv2

    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if g.dtype != np.uint8:
        g = cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    # a grid of cells keeps features spread over the frame: ties only in one corner would let
    # the yaw and the position trade off against each other
    orb = cv2.ORB_create(n, scaleFactor=1.2, nlevels=6, fastThreshold=10)
    kp, desc = orb.detectAndCompute(g, None)
    pts = np.float32([k.pt for k in kp]).reshape(-1, 2)
    # a decoded pixel's centre (i + 0.5) * reduce - 0.5 in full-frame pixels
    return (pts + 0.5) * reduce - 0.5, desc


def match_pair(fa, fb, a: int, b: int, *, min_inliers: int = 20, max_ties: int = 80,
               ransac_px: float = 12.0) -> Tie | None:
    """Match two frames' features; the RANSAC homography's inliers, thinned to ``max_ties``
    spread over the overlap, or None when they do not share enough ground.

    ``ransac_px`` is in full-frame pixels (12 px = 3 px at 1/4 size).
    """
    import cv2

    (pa, da), (pb, db) = fa, fb
    if da is None or db is None or len(da) < min_inliers or len(db) < min_inliers:
        return None
    cv2.setRNGSeed(1)  # RANSAC draws at random: same frames, same ties
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < min_inliers:
        return None
    ua = pa[[m.queryIdx for m in good]]
    ub = pb[[m.trainIdx for m in good]]
    H, inl = cv2.findHomography(ua, ub, cv2.RANSAC, ransac_px, maxIters=4000, confidence=0.999)
    if H is None or inl is None or int(inl.sum()) < min_inliers:
        return None
    keep = inl.ravel().astype(bool)
    ua, ub = ua[keep], ub[keep]
    n = len(ua)
    if n > max_ties:
        # thin on a coarse grid over frame a: one tie per cell first, so the pair's ties span
        # its overlap instead of crowding on one textured patch
        cell = np.floor(ua / (np.ptp(ua, axis=0).max() / 8 + 1e-9)).astype(int)
        _, first = np.unique(cell[:, 0] * 1000 + cell[:, 1], return_index=True)
        rest = np.setdiff1d(np.arange(n), first)
        order = np.concatenate([first, rest])[:max_ties]
        ua, ub = ua[order], ub[order]
    return Tie(a, b, ua.astype(float), ub.astype(float), n)
