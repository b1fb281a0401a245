"""Metric-frame polygon helpers for the planners.

All planning happens in the UTM zone of the area (:class:`uav.geo.LocalFrame`), in metres.
This module holds the geometry the survey, corridor and lookout planners share:

* :func:`rotate_xy` / :func:`rotate_geom` turn the area so that flight lines run along x;
* :func:`scanline_segments` clips a whole family of parallel lines to a polygon at once
  (numpy, even-odd rule, exact: holes and notches split lines, nothing is bridged);
* :class:`Router` finds a path between two points that stays inside a polygon (straight when
  the straight line stays inside, otherwise the shortest path over the polygon's reflex
  vertices, searched with A* on a lazily built visibility graph).
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from uav.errors import PlanningError

# Points computed by clipping lie on a boundary to within floating-point noise; a path is
# judged "inside" against the area grown by this much (a millimetre, far below any margin).
INSIDE_TOLERANCE_M = 1e-3


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of a Polygon, MultiPolygon or GeometryCollection."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    if isinstance(geom, MultiPolygon):
        return [p for p in geom.geoms if not p.is_empty]
    return [p for g in getattr(geom, "geoms", []) for p in polygons_of(g)]


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the areal part of an overlay result (drop stray lines and points)."""
    parts = polygons_of(geom)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def rotate_xy(xy: np.ndarray, deg: float, origin) -> np.ndarray:
    """Rotate ``(n, 2)`` points counter-clockwise by ``deg`` degrees about ``origin``."""
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    d = np.asarray(xy, dtype=float) - origin
    return np.column_stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]]) + origin


def rotate_geom(geom: BaseGeometry, deg: float, origin) -> BaseGeometry:
    """Rotate a shapely geometry counter-clockwise by ``deg`` degrees about ``origin``."""
    return shapely.transform(geom, lambda xy: rotate_xy(xy, deg, origin))


def bearing_rotation(bearing_deg: float) -> float:
    """The counter-clockwise rotation that turns lines of grid bearing ``bearing_deg``
    (clockwise from grid north) into lines along +x."""
    return bearing_deg - 90.0


def ring_coords(geom: BaseGeometry) -> list[np.ndarray]:
    """Coordinates of every ring (exteriors and holes) of a polygonal geometry."""
    rings = []
    for p in polygons_of(geom):
        rings.append(np.asarray(p.exterior.coords)[:, :2])
        rings.extend(np.asarray(r.coords)[:, :2] for r in p.interiors)
    return rings


def edges_of(geom: BaseGeometry) -> np.ndarray:
    """All boundary edges as an ``(m, 4)`` array ``x1, y1, x2, y2``."""
    parts = []
    for c in ring_coords(geom):
        parts.append(np.hstack([c[:-1], c[1:]]))
    return np.vstack(parts) if parts else np.zeros((0, 4))


def scanline_segments(area_rot: BaseGeometry, ys: np.ndarray):
    """Clip horizontal lines ``y = ys[k]`` to a polygon exactly, all lines at once.

    Every boundary edge is crossed by the lines whose ``y`` falls in the edge's half-open
    y-range; the crossings of one line, sorted by x, alternate out/in (even-odd rule), so
    consecutive pairs are the inside pieces.  Holes and concave notches split a line into
    several segments; nothing is ever bridged.

    Returns
    -------
    line_index : ndarray of int, x0 : ndarray, x1 : ndarray
        One entry per inside segment, sorted by line then x (``x0 < x1``).
    """
    ys = np.asarray(ys, dtype=float)
    e = edges_of(area_rot)
    if len(ys) == 0 or len(e) == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    y1, y2 = e[:, 1], e[:, 3]
    lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
    keep = hi > lo  # horizontal edges never count in the half-open rule
    e, lo, hi = e[keep], lo[keep], hi[keep]
    # ys is sorted ascending: the lines crossing an edge are a contiguous index range.
    k0 = np.searchsorted(ys, lo, side="left")
    k1 = np.searchsorted(ys, hi, side="left")
    n = k1 - k0
    total = int(n.sum())
    if total == 0:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    edge_id = np.repeat(np.arange(len(e)), n)
    offs = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
    k = np.repeat(k0, n) + offs
    ex = e[edge_id]
    t = (ys[k] - ex[:, 1]) / (ex[:, 3] - ex[:, 1])
    x = ex[:, 0] + t * (ex[:, 2] - ex[:, 0])
    order = np.lexsort((x, k))
    k, x = k[order], x[order]
    # Pairs: crossings 0-1, 2-3, ... within each line.  Every line has an even count for a
    # valid polygon; drop an odd leftover rather than invent a segment.
    starts = np.r_[0, np.flatnonzero(np.diff(k)) + 1]
    counts = np.diff(np.r_[starts, len(k)])
    rank = np.arange(len(k)) - np.repeat(starts, counts)
    first = (rank % 2 == 0) & (rank + 1 < np.repeat(counts, counts))
    i = np.flatnonzero(first)
    seg_k, seg_x0, seg_x1 = k[i], x[i], x[i + 1]
    ok = seg_x1 - seg_x0 > 1e-6
    return seg_k[ok], seg_x0[ok], seg_x1[ok]


def line_offsets(lo: float, hi: float, spacing: float, anchor: float | None = None) -> np.ndarray:
    """Parallel line positions ``spacing`` apart covering ``[lo, hi]``.

    With ``anchor`` the lines sit on ``anchor + k * spacing`` (so a sub-area keeps the grid of
    the whole); otherwise they are centred on the range, the outermost no more than half a
    spacing from its ends.
    """
    if spacing <= 0:
        raise PlanningError(f"line spacing must be positive, got {spacing}")
    if anchor is None:
        n = max(1, math.ceil((hi - lo) / spacing))
        mid = (lo + hi) / 2.0
        return mid + (np.arange(n) - (n - 1) / 2.0) * spacing
    k0 = math.floor((lo - anchor) / spacing)
    k1 = math.ceil((hi - anchor) / spacing)
    return anchor + np.arange(k0, k1 + 1) * spacing


class Router:
    """Paths that stay inside a polygonal area.

    Parameters
    ----------
    area : Polygon or MultiPolygon
        Where the aircraft may fly (metric).  A path is accepted when the area grown by
        :data:`INSIDE_TOLERANCE_M` covers it.
    """

    def __init__(self, area: BaseGeometry):
        self.area = area
        self.check = area.buffer(INSIDE_TOLERANCE_M, join_style="mitre")
        shapely.prepare(self.check)
        self.nodes, self._prev, self._next = self._reflex_vertices(area)
        self._vis: dict[tuple[int, int], bool] = {}

    @staticmethod
    def _reflex_vertices(area: BaseGeometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Shortest paths inside a polygon bend only at vertices where the free space is
        # non-convex: right turns when walking with the inside on the left.  Their ring
        # neighbours are kept for the tangency test.
        pts, prev, nxt = [], [], []
        for p in polygons_of(area):
            p = shapely.geometry.polygon.orient(p, 1.0)
            for ring in [p.exterior, *p.interiors]:
                c = np.asarray(ring.coords)[:-1, :2]
                if len(c) < 3:
                    continue
                cp, cn = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
                a, b = c - cp, cn - c
                reflex = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] < 0
                pts.append(c[reflex])
                prev.append(cp[reflex])
                nxt.append(cn[reflex])
        if not pts:
            z = np.zeros((0, 2))
            return z, z, z
        return np.vstack(pts), np.vstack(prev), np.vstack(nxt)

    def _tangent(self, p: np.ndarray, js: np.ndarray) -> np.ndarray:
        """Whether the line from ``p`` to each node ``js`` touches the boundary there
        tangentially (both ring neighbours on one side): only such nodes can be the next bend
        of a shortest path."""
        v = self.nodes[js]
        d = v - p
        a = self._prev[js] - v
        b = self._next[js] - v
        c1 = d[:, 0] * a[:, 1] - d[:, 1] * a[:, 0]
        c2 = d[:, 0] * b[:, 1] - d[:, 1] * b[:, 0]
        scale = (d[:, 0] ** 2 + d[:, 1] ** 2) * np.hypot(*a.T) * np.hypot(*b.T)
        return c1 * c2 >= -1e-6 * scale

    def contains_point(self, xy) -> bool:
        return bool(self.check.covers(shapely.points(xy[0], xy[1])))

    def covers(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether each straight segment ``a[i] -> b[i]`` stays inside (vectorised)."""
        a = np.atleast_2d(a)
        b = np.atleast_2d(b)
        if len(a) == 0:
            return np.zeros(0, bool)
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        return shapely.covers(self.check, lines)

    def route(self, a, b) -> np.ndarray:
        """Shortest path from ``a`` to ``b`` inside the area, as an ``(n, 2)`` array.

        Raises
        ------
        PlanningError
            When no path exists (the points lie in separate pieces of the area).
        """
        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        if self.covers(a, b)[0]:
            return np.vstack([a, b])
        straight = float(np.hypot(*(b - a)))
        nodes = self.nodes
        if len(nodes):
            detour = np.hypot(*(nodes - a).T) + np.hypot(*(nodes - b).T)
        reach = 2.0 * straight + 500.0
        while True:
            cand = np.flatnonzero(detour <= reach) if len(nodes) else np.zeros(0, int)
            path = self._astar(a, b, cand)
            if path is not None:
                return path
            if len(nodes) == 0 or len(cand) == len(nodes):
                # Tangency pruning is exact for clean polygons; on degenerate rings retry
                # with every node before giving up.
                path = self._astar(a, b, cand, prune=False) if len(nodes) else None
                if path is not None:
                    return path
                raise PlanningError(
                    f"no path inside the allowed area from ({a[0]:.0f}, {a[1]:.0f}) to "
                    f"({b[0]:.0f}, {b[1]:.0f}) m: they are in separate pieces of the area or "
                    "an exclusion zone cuts the way")
            reach *= 3.0

    def _visible(self, i: int, js: np.ndarray) -> np.ndarray:
        out = np.empty(len(js), bool)
        todo = []
        for n, j in enumerate(js):
            key = (i, j) if i < j else (j, i)
            v = self._vis.get(key)
            if v is None:
                todo.append(n)
            else:
                out[n] = v
        if todo:
            t = np.asarray(todo)
            res = self.covers(np.repeat(self.nodes[i][None], len(t), axis=0), self.nodes[js[t]])
            out[t] = res
            for n, r in zip(t, res):
                j = int(js[n])
                self._vis[(i, j) if i < j else (j, i)] = bool(r)
        return out

    def _astar(self, a, b, cand: np.ndarray, prune: bool = True):
        # Node ids: -1 = start, -2 = goal, >= 0 = reflex vertex index.
        nodes = self.nodes
        pos = {-1: a, -2: b}
        g = {-1: 0.0}
        parent: dict[int, int] = {}
        heap = [(float(np.hypot(*(b - a))), -1)]
        closed: set[int] = set()
        cand_set = cand
        from_start = np.zeros(len(cand), bool)
        if len(cand):
            tan = self._tangent(a, cand) if prune else np.ones(len(cand), bool)
            from_start[tan] = self.covers(np.repeat(a[None], int(tan.sum()), axis=0), nodes[cand[tan]])
        goal_ok = {}
        if len(cand):
            tan = self._tangent(b, cand) if prune else np.ones(len(cand), bool)
            to_goal = self.covers(nodes[cand[tan]], np.repeat(b[None], int(tan.sum()), axis=0))
            goal_ok = {int(c): bool(v) for c, v in zip(cand[tan], to_goal)}
        while heap:
            f, u = heapq.heappop(heap)
            if u in closed:
                continue
            if u == -2:
                path = [b]
                while u != -1:
                    u = parent[u]
                    path.append(pos[u] if u < 0 else nodes[u])
                return np.vstack(path[::-1])
            closed.add(u)
            pu = pos[u] if u < 0 else nodes[u]
            if u == -1:
                vis = np.asarray(from_start, bool)
                js = cand_set
            else:
                js = cand_set[cand_set != u]
                if prune:
                    js = js[self._tangent(pu, js)]
                js = js[[j not in closed for j in js]] if closed else js
                vis = self._visible(u, js)
                if goal_ok.get(u):
                    d = g[u] + float(np.hypot(*(b - pu)))
                    if d < g.get(-2, math.inf):
                        g[-2] = d
                        parent[-2] = u
                        heapq.heappush(heap, (d, -2))
            for j, ok in zip(js, vis):
                j = int(j)
                if not ok or j in closed:
                    continue
                d = g[u] + float(np.hypot(*(nodes[j] - pu)))
                if d < g.get(j, math.inf):
                    g[j] = d
                    parent[j] = u
                    heapq.heappush(heap, (d + float(np.hypot(*(b - nodes[j]))), j))
        return None


def path_length(xy: np.ndarray) -> float:
    xy = np.asarray(xy, dtype=float)
    if len(xy) < 2:
        return 0.0
    return float(np.hypot(*np.diff(xy, axis=0).T).sum())
