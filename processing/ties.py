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

__all__ = ["Tie", "TieFeatures", "FramePrior", "frame_prior", "overlapping_pairs", "frame_features",
           "match_pair", "decode_scale", "near_nadir", "OBLIQUE_DEG", "ORB_FEATURES"]

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


@dataclass
class FramePrior:
    """Where a frame's direct georeference puts its tie features on the ground: what guides
    :func:`match_pair` to the features a neighbour can share and to where they should be."""

    ground: np.ndarray   # (N, 2) metric x, y per feature (NaN: its ray misses the ground)
    footprint: object    # the frame's direct footprint (shapely polygon, same metric CRS)
    gsd_m: float = float("nan")   # ground metres per full-frame pixel at the frame's centre


def frame_prior(points: np.ndarray, camera, footprint) -> FramePrior:
    """A frame's :class:`FramePrior` from its direct camera (:class:`~processing.georef.CameraModel`):
    each feature's own ray.  Over a DEM that is ray marching (90 ms for 4000 rays on
    Orthority's DSM, where a homography through a grid of rays put points 2.4 m median, up
    to 10 m, off: the relief), still less than the matching it saves."""
    gsd = camera.gsd_m() or float("nan")
    if not len(points):
        return FramePrior(np.zeros((0, 2)), footprint, gsd)
    return FramePrior(camera.pixel_to_world(points[:, 0], points[:, 1])[:, :2], footprint, gsd)


def _knn_ratio(da, db, ratio=0.8):
    """Indices ``(i, j)`` of ``da``'s best matches in ``db`` that pass the ratio test."""
    import cv2

    if len(da) == 0 or len(db) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    return (np.array([m.queryIdx for m in good], int), np.array([m.trainIdx for m in good], int))


def _homography(ua, ub, ransac_px, min_inliers):
    import cv2

    if len(ua) < max(min_inliers, 4):
        return None, None
    H, inl = cv2.findHomography(ua, ub, cv2.RANSAC, ransac_px, maxIters=4000, confidence=0.999)
    if H is None or inl is None or int(inl.sum()) < min_inliers:
        return None, None
    return H, inl.ravel().astype(bool)


def _one_motion(ga, gb, tol_m: float, min_inliers: int) -> bool:
    """Whether matches' direct ground points ``ga`` -> ``gb`` agree on one shift, turn and scale
    (what two direct poses' errors do to the ground, near nadir) to within ``tol_m`` for most of
    them.  Among features compared over the overlap only, a frame-wide look-alike no longer
    vetoes a match, and over repeated texture RANSAC then now and then fits a homography to
    matches that are no motion of the ground at all (a simulator pair: 20 features of one
    frame on 4 of the other, a collapsed homography; on Brighton every true pair fits one
    motion to 0.1 m median, at a scale within 4 % of 1).  Keeping one match per feature
    instead lost three of Brighton's weak pairs: ORB finds a corner at several scales."""
    import cv2

    if not np.isfinite(tol_m):
        return True
    o = ga.mean(0)
    M, inl = cv2.estimateAffinePartial2D(ga - o, gb - o, method=cv2.RANSAC, ransacReprojThreshold=tol_m,
                                         maxIters=2000, confidence=0.999)
    if M is None or inl is None or int(inl.sum()) < max(min_inliers, len(ga) // 2):
        return False
    # the frames' heights are known to a few per cent: a scale far from 1 is no real pair
    return 0.8 < float(np.hypot(M[0, 0], M[1, 0])) < 1.25


def _select(prior_self, prior_other, margin):
    """Indices of a frame's features whose direct ground lies in the other's footprint (grown by
    ``margin`` metres); NaN ground points are left out."""
    import shapely

    g = prior_self.ground
    zone = prior_other.footprint.buffer(margin)
    return np.flatnonzero(shapely.contains_xy(zone, g[:, 0], g[:, 1]))


def match_pair(fa, fb, a: int, b: int, *, min_inliers: int = 20, max_ties: int = 80,
               ransac_px: float = 12.0, prior: tuple[FramePrior, FramePrior] | None = None,
               reach_m: float = 15.0) -> Tie | None:
    """Match two frames' features; the RANSAC homography's inliers, thinned to ``max_ties``
    spread over the overlap, or None when they do not share enough ground.

    ``ransac_px`` is in full-frame pixels (12 px = 3 px at 1/4 size).

    With ``prior`` (each frame's :class:`FramePrior`) the matching is guided by the direct
    georeference: only the features whose direct ground lies in the other frame's footprint
    (grown by a third of ``reach_m``) are compared, and a match is kept only when its two
    features' direct ground points lie within ``reach_m`` of each other (how far two frames'
    direct poses can disagree), and the pair only when its inliers fit one motion of the ground
    (:func:`_one_motion`).  Most of a frame's k-NN and nearly all of RANSAC's work were on
    features that could not match: on Brighton a third of the brute-force CPU, nearly the same
    ties (docs/registration.md).  Without a prior every feature is compared with every other.
    """
    import cv2

    (pa, da), (pb, db) = fa, fb
    if da is None or db is None or len(da) < min_inliers or len(db) < min_inliers:
        return None
    cv2.setRNGSeed(1)  # RANSAC draws at random: same frames, same ties
    if prior is None:
        i, j = _knn_ratio(da, db)
        ua, ub = pa[i], pb[j]
    else:
        ia = _select(prior[0], prior[1], reach_m / 3)
        ib = _select(prior[1], prior[0], reach_m / 3)
        i, j = _knn_ratio(da[ia], db[ib])
        i, j = ia[i], ib[j]
        close = np.hypot(*(prior[0].ground[i] - prior[1].ground[j]).T) < reach_m
        ua, ub = pa[i[close]], pb[j[close]]
    if len(ua) < min_inliers:
        return None
    H, keep = _homography(ua, ub, ransac_px, min_inliers)
    if H is None:
        return None
    if prior is not None:
        gi, gj = i[close][keep], j[close][keep]
        tol = 4 * ransac_px * float(np.fmax(prior[0].gsd_m, prior[1].gsd_m))   # NaN: unknown
        if not _one_motion(prior[0].ground[gi], prior[1].ground[gj], tol, min_inliers):
            return None
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
