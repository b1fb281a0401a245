"""How well overlapping frames agree in the mosaic, in mosaic pixels (issue 24: within 2).

Each pair of frames whose footprints overlap is looked at where both saw the ground: the two
frames' own warps onto the mosaic grid (before blending) are cut to the overlap, ORB features
are matched between the two cuts (ratio test, then a RANSAC similarity to drop wrong matches),
and each surviving match is refined to a fraction of a pixel by phase correlation of the
patches around it (ORB places a corner to a whole pixel, which alone would read as about half
a pixel of disagreement between two perfect frames).  A match's displacement is how far the
same ground lies apart in the two warps: zero where they agree.

Cheap by construction: only the overlap's cut (at most ``CROP`` cells square, around its
centre) of each frame is kept, and only until its partner has been warped; at most
``max_pairs`` pairs are measured, spread over the flight when there are more.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from .blend import Grid

__all__ = ["SeamAgreement", "SeamMeter", "MAX_PAIRS", "pair_displacements"]

MAX_PAIRS = 40           # pairs measured at most (spread over the flight)
CROP = 768               # side of an overlap's cut, in cells
MIN_OVERLAP = 0.1        # of the smaller footprint's area, for a pair to count as overlapping
EDGE = 16                # cells kept clear of either frame's edge (an edge is a false corner)
PATCH = 32               # phase-correlation patch side, in cells
RATIO = 0.8              # Lowe's ratio test
RANSAC_PX = 3.0          # a match further than this from the pair's similarity is wrong
MIN_MATCHES = 8          # fewer surviving matches: the pair is not measured (too little texture)
FEATURES = 800           # ORB features per cut
REFINE = 60              # matches refined (and counted) per pair at most, spread over the cut


@dataclass(frozen=True)
class SeamAgreement:
    """Displacements (mosaic pixels) between the same ground in overlapping frames' warps."""

    pairs: int                       # pairs measured
    overlapping: int                 # pairs whose footprints overlap (measured or not)
    matches: int                     # matches pooled over the measured pairs
    median_px: float | None
    p90_px: float | None
    worst_pair_px: float | None      # the largest of the pairs' own medians
    worst_pair: str | None           # its two frames

    def summary(self) -> str:
        if not self.pairs:
            return (f"seams: not measured ({self.overlapping} overlapping pair(s), none with "
                    f"{MIN_MATCHES} or more features matched)")
        return (f"seams: frames agree to {self.median_px:.1f} px median (p90 {self.p90_px:.1f}; worst pair "
                f"{self.worst_pair_px:.1f}, {self.worst_pair}) over "
                + (f"{self.pairs} of {self.overlapping} overlapping pairs" if self.overlapping > self.pairs
                   else f"{self.pairs} overlapping pair(s)"))

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _grey(a: np.ndarray, b: np.ndarray, va: np.ndarray, vb: np.ndarray):
    """Both cuts as 8-bit grey, on one scale (thermal values stretched over what both saw)."""
    import cv2

    if a.dtype == np.uint8:
        g = [cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) if x.ndim == 3 else x for x in (a, b)]
        return g[0], g[1]
    a, b = (x[..., 0] if x.ndim == 3 else x for x in (a, b))
    vals = np.concatenate([a[va], b[vb]]).astype(np.float64)
    lo, hi = np.percentile(vals, [1, 99]) if vals.size else (0.0, 1.0)
    scale = 255.0 / max(hi - lo, 1e-9)
    return tuple(np.clip((x.astype(np.float64) - lo) * scale, 0, 255).astype(np.uint8) for x in (a, b))


def pair_displacements(a: np.ndarray, va: np.ndarray, b: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Displacements (cells) of the same ground between two frames' warps of one grid cut:
    ``a``/``b`` the pixels, ``va``/``vb`` where each frame saw the ground.  Empty when too
    little matches."""
    import cv2

    ga, gb = _grey(a, b, va, vb)
    both = (va & vb).astype(np.uint8)
    mask = cv2.erode(both, np.ones((2 * EDGE + 1, 2 * EDGE + 1), np.uint8))
    if mask.sum() < (4 * EDGE) ** 2:
        return np.empty(0)
    # both warps are on one grid: the same scale, so one pyramid level (a fifth of the time)
    orb = cv2.ORB_create(nfeatures=FEATURES, nlevels=1, edgeThreshold=EDGE, patchSize=31)
    ka, da = orb.detectAndCompute(ga, mask)
    kb, db = orb.detectAndCompute(gb, mask)
    if da is None or db is None or len(ka) < MIN_MATCHES or len(kb) < 2:
        return np.empty(0)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < MIN_MATCHES:
        return np.empty(0)
    pa = np.float32([ka[m.queryIdx].pt for m in good])
    pb = np.float32([kb[m.trainIdx].pt for m in good])
    _, inl = cv2.estimateAffinePartial2D(pa, pb, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX)
    if inl is None or inl.sum() < MIN_MATCHES:
        return np.empty(0)
    pa, pb = pa[inl.ravel() == 1], pb[inl.ravel() == 1]
    if len(pa) > REFINE:
        # phase correlation is the dearest step: a subset, ordered across the cut, not the best-lit
        keep = np.argsort(pa[:, 1] * ga.shape[1] + pa[:, 0])[np.linspace(0, len(pa) - 1, REFINE).astype(int)]
        pa, pb = pa[keep], pb[keep]
    return _refined(ga, gb, va & vb, pa, pb)


def _refined(ga, gb, both, pa, pb) -> np.ndarray:
    """Each match's displacement to a fraction of a cell: the whole-cell offset ORB found plus
    the phase correlation of the patches around it (a patch must lie where both frames saw)."""
    import cv2

    half = PATCH // 2
    h, w = ga.shape
    win = cv2.createHanningWindow((PATCH, PATCH), cv2.CV_32F)
    out = []
    fa, fb = ga.astype(np.float32), gb.astype(np.float32)
    for (xa, ya), (xb, yb) in zip(pa, pb):
        ca, ra = int(round(xa)), int(round(ya))
        cb, rb = int(round(xb)), int(round(yb))
        if not (half <= ca < w - half and half <= ra < h - half and half <= cb < w - half and half <= rb < h - half):
            continue
        sa, sb = (slice(ra - half, ra + half), slice(ca - half, ca + half)), \
            (slice(rb - half, rb + half), slice(cb - half, cb + half))
        if not (both[sa].all() and both[sb].all()):
            continue
        (dx, dy), response = cv2.phaseCorrelate(fa[sa], fb[sb], win)
        if response < 0.2 or abs(dx) > 2 or abs(dy) > 2:
            continue            # the patches do not look alike: keep only the whole-cell offset out
        out.append(np.hypot(cb - ca + dx, rb - ra + dy))
    return np.asarray(out)


class SeamMeter:
    """Fed every frame's warp as the mosaic is built; measures the chosen pairs as their
    second frame arrives (in ``pool``, an executor, when given: the caller blends meanwhile).
    ``frames`` are ``(name, footprint polygon in the grid's UTM)`` in the order :meth:`add`
    will see them."""

    def __init__(self, grid: Grid, frames, max_pairs: int = MAX_PAIRS, pool=None):
        import shapely

        self.grid, self.pool = grid, pool
        self.names = [n for n, _ in frames]
        polys = [p for _, p in frames]
        overlapping = []
        if len(polys) > 1 and max_pairs > 0:
            tree = shapely.STRtree(polys)
            i, j = tree.query(polys, predicate="intersects")
            for a, b in zip(i.tolist(), j.tolist()):
                if a < b:
                    inter = polys[a].intersection(polys[b])
                    if inter.area >= MIN_OVERLAP * min(polys[a].area, polys[b].area):
                        overlapping.append((a, b, inter))
        self.overlapping = len(overlapping)
        if len(overlapping) > max_pairs:        # spread over the flight, not its first minutes
            keep = np.unique(np.linspace(0, len(overlapping) - 1, max(max_pairs, 0)).round().astype(int))
            overlapping = [overlapping[k] for k in keep] if max_pairs > 0 else []
        overlapping.sort(key=lambda t: t[:2])
        self._want: dict[int, list[tuple[int, tuple]]] = {}
        for k, (a, b, inter) in enumerate(overlapping):
            cut = self._cut(inter, grid.window(polys[a].bounds), grid.window(polys[b].bounds))
            if cut is not None:
                for f in (a, b):
                    self._want.setdefault(f, []).append((k, cut))
        self._pairs = {k: (a, b) for k, (a, b, _) in enumerate(overlapping)}
        self._held: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        self._found: list[tuple[int, np.ndarray]] = []

    def _cut(self, inter, wa, wb):
        """The overlap's cells inside both frames' windows, at most ``CROP`` square."""
        c0, r0, c1, r1 = self.grid.window(inter.bounds)
        c0, r0 = max(c0, wa[0], wb[0]), max(r0, wa[1], wb[1])
        c1, r1 = min(c1, wa[2], wb[2]), min(r1, wa[3], wb[3])
        if c1 - c0 < 4 * EDGE or r1 - r0 < 4 * EDGE:
            return None
        cc, rc = (c0 + c1) // 2, (r0 + r1) // 2
        c0, c1 = max(c0, cc - CROP // 2), min(c1, cc + CROP // 2)
        r0, r1 = max(r0, rc - CROP // 2), min(r1, rc + CROP // 2)
        return c0, r0, c1, r1

    def add(self, index: int, pixels: np.ndarray, valid: np.ndarray, window) -> None:
        """Frame ``index``'s warp (``pixels``, ``valid`` over grid cells ``window``)."""
        for k, (c0, r0, c1, r1) in self._want.pop(index, ()):
            sl = (slice(r0 - window[1], r1 - window[1]), slice(c0 - window[0], c1 - window[0]))
            held = self._held.setdefault(k, {})
            held[index] = (pixels[sl].copy(), valid[sl].copy())
            if len(held) == 2:
                a, b = self._pairs[k]
                (pa, va), (pb, vb) = held[a], held[b]
                del self._held[k]
                if self.pool is not None:
                    self._found.append((k, self.pool.submit(pair_displacements, pa, va, pb, vb)))
                else:
                    self._found.append((k, pair_displacements(pa, va, pb, vb)))

    def forget(self, index: int) -> None:
        """Frame ``index`` will not be drawn (unreadable): its pairs are not measured."""
        for k, _ in self._want.pop(index, ()):
            self._held.pop(k, None)

    def result(self) -> SeamAgreement:
        """The figures over the pairs measured (waits for any still being measured)."""
        found = [(k, d if isinstance(d, np.ndarray) else d.result()) for k, d in self._found]
        found = [(k, d) for k, d in found if d.size >= MIN_MATCHES]
        if not found:
            return SeamAgreement(0, self.overlapping, 0, None, None, None, None)
        pooled = np.concatenate([d for _, d in found])
        k, d = max(found, key=lambda kd: float(np.median(kd[1])))
        a, b = self._pairs[k]
        return SeamAgreement(len(found), self.overlapping, int(pooled.size),
                             round(float(np.median(pooled)), 2), round(float(np.percentile(pooled, 90)), 2),
                             round(float(np.median(d)), 2), f"{self.names[a]}/{self.names[b]}")
