"""Flags into sightings: one object on the ground, however many photos show it.

A survey photographs every spot four to ten times, so one fire becomes many flags.  Two flags
belong to the same sighting when they have the same class and their ground positions are closer
than the class's own extent plus each flag's position uncertainty (which grows with the height
flown, the camera's tilt and the pixel size; for a still object, the uncertainty measured through
the camera model where that is larger: a plume near the horizon is good to hundreds of metres).  Static classes (fire, smoke, hot spots) link at any
time; a vehicle or a person may also have moved between two photos taken shortly after one
another, as far as it can travel in that time.  Flags without a map position each make a sighting
of their own, marked ``positioned=False``.

Candidate pairs come from a uniform grid (a hash on cell coordinates, searched in sorted order),
so the work grows with the number of flags and near pairs, never with its square; the groups are
the connected components of the accepted pairs.

Multi-view consensus: for each sighting the frames whose footprint covers its position are
counted next to the frames that flagged it.  The sighting's score is its detection confidence
times ``sqrt((flagged + 1) / (covering + 2))``, so a fire flagged in 7 of the 8 photos over it
outranks a single-frame flash seen in 1 of 8.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from uav.errors import InvalidInputError
from uav.geo import LocalFrame

__all__ = [
    "FlagTable", "FrameCover", "Sighting", "Grouping", "group_flags", "position_uncertainty_m",
    "CLASS_EXTENT_M", "MOVER_SPEED_MS", "THERMAL_CLASSES", "LIKELY_SCORE", "parse_time_s",
]

# How far apart two flags of one object may lie on the ground, beyond position errors: about
# the object's own size (a box centre wanders across it from view to view).
CLASS_EXTENT_M = {"vehicle": 4.0, "person": 2.0, "fire": 8.0, "hotspot": 6.0, "spotlight": 6.0,
                  "smoke": 30.0}
DEFAULT_EXTENT_M = 8.0
# Classes that may move between photos, with the fastest plausible ground speed (m/s) on the
# roads and tracks of a park, and how long apart two photos may be for that to apply.
MOVER_SPEED_MS = {"vehicle": 15.0, "person": 2.0}
MOVER_MAX_GAP_S = 20.0
MOVER_NEIGHBOURS = 6          # later flags of the class looked at for the next position
MAX_SIZE_RATIO = 2.0          # a mover's flags differ in ground size by at most this
# Flags of these classes come from thermal frames only; the others from visible-light frames,
# so only frames of the matching kind count as having covered a sighting.
THERMAL_CLASSES = frozenset({"hotspot"})
MAX_UNCERTAINTY_M = 50.0
# A sighting scoring below this is listed but called weak (a single-frame flash among many
# frames that saw nothing there scores about 0.4; an object in most covering frames 0.6+).
LIKELY_SCORE = 0.5


def position_uncertainty_m(height_m, off_nadir_deg, gsd_m):
    """Expected ground-position error of a flag (metres; arrays or scalars).

    GPS and attitude errors grow with the height (about 5 % of it at nadir: the measured
    Brighton median is 2.4 m at 40 m) and with 1/cos^2 of the tilt; a box centre is good to a
    couple of pixels.  Unknown heights are taken as 100 m.
    """
    h = np.where(np.isfinite(height_m), np.abs(np.asarray(height_m, float)), 100.0)
    off = np.radians(np.clip(np.where(np.isfinite(off_nadir_deg), off_nadir_deg, 0.0), 0.0, 80.0))
    g = np.where(np.isfinite(gsd_m), gsd_m, 0.0)
    u = (0.5 + 0.05 * h) / np.cos(off) ** 2 + 2.0 * g
    return np.minimum(u, MAX_UNCERTAINTY_M)


def parse_time_s(text: str | None) -> float:
    """An ISO time as POSIX seconds (a time without a zone is read as UTC); NaN when absent."""
    if not text:
        return math.nan
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return math.nan
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


# --- inputs and outputs -------------------------------------------------------------------------
@dataclass
class FlagTable:
    """The flags of a flight as columns (one entry per flag; NaN where unknown).

    ``height_m`` is the camera's height above ground, ``off_nadir_deg`` the camera's tilt from
    straight down, ``time_s`` POSIX seconds of the photo.
    """

    fid: np.ndarray
    frame_fid: np.ndarray
    cls: np.ndarray                   # object array of class names
    score: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    time_s: np.ndarray
    height_m: np.ndarray
    off_nadir_deg: np.ndarray
    gsd_m: np.ndarray
    # what each box looks like (processing.look; None unknown) and its ground size (m, NaN
    # unknown): a mover is chained only to flags that look like it
    look: np.ndarray | None = None
    size_m: np.ndarray | None = None
    # flags without a map position: their image-space track (processing.image_tracks), -1 none
    track: np.ndarray | None = None
    # split off its sighting by a reviewer: joined to nothing
    apart: np.ndarray | None = None
    # how far each flag's position may be off, measured through the camera model when it was
    # placed (processing.flag_uncertainty; NaN for flags placed before that)
    uncertainty_m: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.fid)
        if self.look is None:
            self.look = np.full(n, None, object)
        if self.size_m is None:
            self.size_m = np.full(n, np.nan)
        if self.track is None:
            self.track = np.full(n, -1, np.int64)
        if self.apart is None:
            self.apart = np.zeros(n, bool)
        if self.uncertainty_m is None:
            self.uncertainty_m = np.full(n, np.nan)
        for name in ("frame_fid", "cls", "score", "lon", "lat", "time_s", "height_m",
                     "off_nadir_deg", "gsd_m", "look", "size_m", "track", "apart", "uncertainty_m"):
            if len(getattr(self, name)) != n:
                raise InvalidInputError(f"flag table column {name} has {len(getattr(self, name))} "
                                        f"entries for {n} flags")

    def __len__(self) -> int:
        return len(self.fid)

    @classmethod
    def from_rows(cls, rows) -> FlagTable:
        """From ``(fid, frame_fid, class, score, lon, lat, time_s, height_m, off_nadir_deg,
        gsd_m[, look, size_m])`` tuples (None for unknown)."""
        rows = list(rows)
        cols = list(zip(*rows)) if rows else [()] * 10
        extra = {}
        if len(cols) >= 12:
            extra = dict(look=np.array(cols[10], object), size_m=np.array(
                [np.nan if v is None else v for v in cols[11]], float))

        def num(c):
            return np.array([np.nan if v is None else v for v in c], float)

        return cls(fid=np.array(cols[0], np.int64),
                   frame_fid=np.array([-1 if v is None else v for v in cols[1]], np.int64),
                   cls=np.array(cols[2], object), score=num(cols[3]), lon=num(cols[4]),
                   lat=num(cols[5]), time_s=num(cols[6]), height_m=num(cols[7]),
                   off_nadir_deg=num(cols[8]), gsd_m=num(cols[9]), **extra)


@dataclass
class FrameCover:
    """Frame footprints (lon, lat polygons) for the consensus count; ``thermal`` per frame."""

    fid: np.ndarray
    footprint: np.ndarray             # shapely geometries
    thermal: np.ndarray


@dataclass
class Sighting:
    """One object: the flags of one class that show it, and how many frames agree."""

    cls: str
    lon: float | None
    lat: float | None
    score: float                      # detection confidence x multi-view consensus
    best_score: float                 # the best single flag's detector score
    best_flag: int                    # fid of that flag (the best view)
    flag_fids: list[int]
    frame_fids: list[int]
    frames_flagged: int
    frames_covering: int
    first_time: float                 # POSIX seconds (NaN when unknown)
    last_time: float
    positioned: bool = True
    moving: bool = False              # its flags lie further apart than a still object's would
    spread_m: float = 0.0             # largest distance of a flag from the sighting's position
    uncertainty_m: float | None = None  # its best-placed flag's measured uncertainty (None: none measured)

    @property
    def consensus(self) -> float:
        return self.frames_flagged / self.frames_covering if self.frames_covering else 1.0

    @property
    def likely(self) -> bool:
        return self.score >= LIKELY_SCORE


@dataclass
class Grouping:
    """What :func:`group_flags` made: the sightings, and each flag's sighting (by index)."""

    sightings: list[Sighting] = field(default_factory=list)
    label: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # per flag


# --- grouping -----------------------------------------------------------------------------------
def _grid_pairs(x, y, cell):
    """Index pairs (i < j in input order) of points in the same or adjacent grid cells."""
    ix = np.floor(x / cell).astype(np.int64)
    iy = np.floor(y / cell).astype(np.int64)
    ix -= ix.min()
    iy -= iy.min()
    span = int(iy.max()) + 3
    key = ix * span + (iy + 1)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    out_i, out_j = [], []
    # half the neighbourhood: every unordered pair of cells is visited once
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):
        want = skey + dx * span + dy
        lo = np.searchsorted(skey, want, side="left")
        hi = np.searchsorted(skey, want, side="right")
        if dx == 0 and dy == 0:
            lo = np.arange(len(skey)) + 1   # same cell: only the points after this one
        cnt = np.maximum(hi - lo, 0)
        total = int(cnt.sum())
        if total == 0:
            continue
        a = np.repeat(np.arange(len(skey)), cnt)
        start = np.repeat(lo - np.concatenate(([0], np.cumsum(cnt)[:-1])), cnt)
        b = start + np.arange(total)
        out_i.append(order[a])
        out_j.append(order[b])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_j)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of an undirected graph: the smallest member index per node."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    while True:
        la, lb = labels[a], labels[b]
        m = np.minimum(la, lb)
        new = labels.copy()
        np.minimum.at(new, la, m)   # hook each root onto the smaller root across an edge
        np.minimum.at(new, lb, m)
        while True:                 # pointer jumping: every node straight to its root
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, labels):
            return labels
        labels = new


def _nearest_per_frame(a, other_frame, d):
    """For pairs (a, b): whether b is a's nearest partner among the flags of b's frame."""
    if len(a) == 0:
        return np.zeros(0, bool)
    key = a * (int(other_frame.max()) + 2) + (other_frame + 1)    # one sort key per (a, frame)
    order = np.lexsort((d, key))
    k = key[order]
    first = np.ones(len(order), bool)
    first[1:] = k[1:] != k[:-1]
    out = np.zeros(len(order), bool)
    out[order[first]] = True
    return out


def _mutual(i, j, d, frame):
    """For undirected pairs: whether each is the nearest partner of both ends in the other's frame."""
    m = len(i)
    near = _nearest_per_frame(np.concatenate([i, j]), frame[np.concatenate([j, i])], np.concatenate([d, d]))
    return near[:m] & near[m:]


def _look_alike(a, b, look, size):
    """For pairs (a, b): whether the two boxes look alike (colour histogram) and are of similar
    ground size.  An unknown look never passes: a mover is not chained on position alone."""
    from .look import SAME_LOOK, look_similarity

    out = np.zeros(len(a), bool)
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
        sim = look_similarity(look[i], look[j])
        if sim is None or sim < SAME_LOOK:
            continue
        si, sj = size[i], size[j]
        out[k] = not (np.isfinite(si) and np.isfinite(sj) and max(si, sj) > MAX_SIZE_RATIO * min(si, sj))
    return out


def _class_edges(x, y, t, u, frame, cls: str, look=None, size=None):
    """Accepted flag pairs (local indices) of one class."""
    extent = CLASS_EXTENT_M.get(cls, DEFAULT_EXTENT_M)
    n = len(x)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = _grid_pairs(x, y, extent + 2.0 * float(u.max()))
    d = np.hypot(x[i] - x[j], y[i] - y[j])
    keep = d <= extent + u[i] + u[j]
    speed = MOVER_SPEED_MS.get(cls)
    if speed is not None:
        # two vehicles in one photo are two vehicles, however close
        keep &= frame[i] != frame[j]
    i, j, d = i[keep], j[keep], d[keep]
    if speed is None:
        return i, j
    # ... and a vehicle in the next photo is the nearest one there, seen from either side:
    # two cars parked side by side stay two chains instead of being joined crosswise
    mutual = _mutual(i, j, d, frame)
    i, j = i[mutual], j[mutual]
    # Movers: each flag is also joined to the flag of its class in the next photo that it could
    # have driven (walked) to: the nearest one in that photo, seen from both sides, so two cars
    # on one road stay two chains.
    order = np.argsort(np.where(np.isfinite(t), t, np.inf), kind="stable")
    ti = t[order]
    # the next photo (in time) that flagged this class at all: a vehicle that is not within
    # reach there is not followed into later photos, where another vehicle may stand
    nxt = np.searchsorted(ti, ti, side="right")
    next_frame = np.full(n, -1, np.int64)
    has_next = nxt < n
    next_frame[order[has_next]] = frame[order[nxt[has_next]]]
    ca, cb, cdt, cd = [], [], [], []
    for k in range(1, min(MOVER_NEIGHBOURS, n - 1) + 1):
        a, b = order[:-k], order[k:]
        dt = ti[k:] - ti[:-k]
        dist = np.hypot(x[a] - x[b], y[a] - y[b])
        ok = ((dt > 0) & (dt <= MOVER_MAX_GAP_S) & (frame[b] == next_frame[a])
              & (dist <= extent + u[a] + u[b] + speed * dt))
        ca.append(a[ok])
        cb.append(b[ok])
        cdt.append(dt[ok])
        cd.append(dist[ok])
    a, b, dt, dist = (np.concatenate(v) for v in (ca, cb, cdt, cd))
    # a mover is followed only to a flag that looks like it: position and speed alone would
    # chain a parked car to whatever stands within driving distance in the next photo
    alike = _look_alike(a, b, look, size) if look is not None else np.zeros(len(a), bool)
    a, b, dt, dist = a[alike], b[alike], dt[alike], dist[alike]
    mutual = _mutual(a, b, dist, frame)
    a, b, dt = a[mutual], b[mutual], dt[mutual]
    first = np.lexsort((dt, a))
    keep_first = np.ones(len(first), bool)
    keep_first[1:] = a[first][1:] != a[first][:-1]
    a, b = a[first][keep_first], b[first][keep_first]
    return np.concatenate([i, a]), np.concatenate([j, b])


def _link_uncertainty(flags: FlagTable, u: np.ndarray) -> np.ndarray:
    """How far each flag may be from another view of its object, beyond the class's extent.

    A still object (a fire, a plume) links as far as its flags' own measured uncertainty allows
    (:mod:`processing.flag_uncertainty`; the larger of that and the fixed estimate): one plume on
    a far ridge, seen from two legs of a lookout orbit, lands hundreds of metres apart in the
    two views, and two sightings of it would tell a ranger there are two fires.  Two fires
    closer than that uncertainty become one sighting, which is all the frames can say.  Movers
    keep the fixed estimate: their links already follow the nearest flag frame to frame, and
    they are only flagged where a pixel is fine enough that the two agree.
    """
    still = ~np.isin(flags.cls.astype(str), list(MOVER_SPEED_MS))
    measured = still & np.isfinite(flags.uncertainty_m)
    return np.where(measured, np.fmax(u, flags.uncertainty_m), u)


def group_flags(flags: FlagTable, frames: FrameCover | None = None) -> Grouping:
    """Group a flight's flags into sightings and score each by multi-view consensus.

    Parameters
    ----------
    flags : FlagTable
        Every flag of the flight.
    frames : FrameCover, optional
        Footprints of the flight's georeferenced frames; without them a sighting counts only
        the frames that flagged it as covering it.

    Returns
    -------
    Grouping
        Sightings ordered by score (best first), and per flag the index of its sighting.
    """
    n = len(flags)
    label = np.full(n, -1, np.int64)
    if n == 0:
        return Grouping([], label)
    placed = np.isfinite(flags.lon) & np.isfinite(flags.lat)
    alone = flags.apart.astype(bool)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if placed.any():
        lf = LocalFrame.around(float(np.median(flags.lon[placed])), float(np.median(flags.lat[placed])))
        x[placed], y[placed] = lf.to_metric(flags.lon[placed], flags.lat[placed])
    u = position_uncertainty_m(flags.height_m, flags.off_nadir_deg, flags.gsd_m)
    u_link = _link_uncertainty(flags, u)
    next_label = 0
    for cls in sorted(set(flags.cls[placed & ~alone].tolist())):
        idx = np.nonzero(placed & ~alone & (flags.cls == cls))[0]
        a, b = _class_edges(x[idx], y[idx], flags.time_s[idx], u_link[idx], flags.frame_fid[idx], cls,
                            flags.look[idx], flags.size_m[idx])
        comp = _components(len(idx), a, b)
        _, dense = np.unique(comp, return_inverse=True)
        label[idx] = dense + next_label
        next_label += int(dense.max()) + 1
    lone = np.nonzero(~placed | alone)[0]
    # without a map position: one sighting per image-space track, or per flag when untracked;
    # a flag a reviewer split off stays alone
    key = np.where((flags.track[lone] >= 0) & ~alone[lone], flags.track[lone], -1 - np.arange(len(lone)))
    _, dense = np.unique(key, return_inverse=True)
    label[lone] = next_label + dense
    groups = _summarise(flags, label, placed, x, y, u, frames)
    order = sorted(range(len(groups)), key=lambda k: (-groups[k].score, groups[k].best_flag))
    remap = np.empty(len(groups), np.int64)
    remap[order] = np.arange(len(groups))
    return Grouping([groups[k] for k in order], remap[label])


def _summarise(flags, label, placed, x, y, u, frames) -> list[Sighting]:
    # Everything per group with sorted arrays and bincounts: no per-sighting numpy calls.
    n_groups = int(label.max()) + 1
    order = np.lexsort((-flags.score, label))           # by group, best flag first
    counts = np.bincount(label, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    best = order[starts]
    # precision-weighted mean position (a nadir photo from low down counts more), by each flag's
    # measured uncertainty where it has one: a plume seen near the horizon (± hundreds of metres)
    # hardly moves the position a nearer view of it gives
    measured = np.isfinite(flags.uncertainty_m)
    w = np.where(placed, 1.0 / np.maximum(np.where(measured, flags.uncertainty_m, u), 0.1) ** 2, 0.0)
    sw = np.bincount(label, w, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        gx = np.bincount(label, np.where(placed, x, 0.0) * w, n_groups) / sw
        gy = np.bincount(label, np.where(placed, y, 0.0) * w, n_groups) / sw
    # The sighting is said to be as good as its best-placed flag, not better: the views of one
    # flight share the gimbal's and the altimeter's bias, so averaging them is not credited.
    best_u = np.full(n_groups, np.inf)
    np.minimum.at(best_u, label, np.where(placed & measured, flags.uncertainty_m, np.inf))
    spread = np.zeros(len(label))
    spread[placed] = np.hypot(x[placed] - gx[label[placed]], y[placed] - gy[label[placed]])
    max_spread = np.zeros(n_groups)
    np.maximum.at(max_spread, label, spread)
    group_placed = sw > 0
    lon = np.full(n_groups, np.nan)
    lat = np.full(n_groups, np.nan)
    if group_placed.any():
        lf = LocalFrame.around(float(np.median(flags.lon[placed])), float(np.median(flags.lat[placed])))
        lon[group_placed], lat[group_placed] = lf.to_lonlat(gx[group_placed], gy[group_placed])
    flagged, covering, frame_lists = _frame_counts(flags, label, n_groups, lon, lat, group_placed, frames)
    mean = np.bincount(label, flags.score, n_groups) / counts
    det = 0.5 * (flags.score[best] + mean)
    score = np.round(det * np.sqrt((flagged + 1) / (covering + 2)), 4)
    ts = flags.time_s[order]
    with np.errstate(invalid="ignore"):
        tmin = np.fmin.reduceat(ts, starts)
        tmax = np.fmax.reduceat(ts, starts)
    cls = flags.cls[best]
    extent = np.array([CLASS_EXTENT_M.get(c, DEFAULT_EXTENT_M) for c in cls.tolist()])
    mover = np.array([c in MOVER_SPEED_MS for c in cls.tolist()], bool)
    moving = mover & group_placed & (max_spread > extent + 2 * u[best])
    fids = flags.fid[order].tolist()
    bounds = np.append(starts, len(order)).tolist()
    cols = [cls.tolist(), lon.tolist(), lat.tolist(), score.tolist(), flags.score[best].tolist(),
            flags.fid[best].tolist(), flagged.tolist(), covering.tolist(), tmin.tolist(), tmax.tolist(),
            group_placed.tolist(), moving.tolist(), np.round(max_spread, 2).tolist(),
            np.where(np.isfinite(best_u), best_u, np.nan).tolist()]
    out = []
    for g, (c, lo, la, sc, bs, bf, nf, nc, t0, t1, pl, mv, sp, um) in enumerate(zip(*cols, strict=True)):
        out.append(Sighting(
            cls=str(c), lon=lo if pl else None, lat=la if pl else None, score=sc, best_score=bs,
            best_flag=int(bf), flag_fids=fids[bounds[g]:bounds[g + 1]], frame_fids=frame_lists[g],
            frames_flagged=nf, frames_covering=max(nc, nf), first_time=t0, last_time=t1,
            positioned=pl, moving=mv, spread_m=sp, uncertainty_m=um if math.isfinite(um) else None))
    return out


def _frame_counts(flags, label, n_groups, lon, lat, group_placed, frames):
    """Per sighting: frames that flagged it, frames that covered it (or flagged it), and the
    flagging frames' fids."""
    base = int(max(flags.frame_fid.max(), frames.fid.max() if frames is not None and len(frames.fid) else 0)) + 2
    flag_keys = np.unique(label * base + (flags.frame_fid + 1))
    kg = flag_keys // base
    flagged = np.bincount(kg, minlength=n_groups)
    kf = (flag_keys % base - 1).tolist()
    bounds = np.concatenate(([0], np.cumsum(flagged))).tolist()
    frame_lists = [kf[bounds[g]:bounds[g + 1]] for g in range(n_groups)]
    covering = flagged
    if frames is not None and len(frames.fid) and group_placed.any():
        valid = np.array([fp is not None and not fp.is_empty for fp in frames.footprint], bool)
        if valid.any():
            tree = shapely.STRtree(frames.footprint[valid])
            groups = np.nonzero(group_placed)[0]
            gi, fi = tree.query(shapely.points(lon[groups], lat[groups]), predicate="within")
            # only frames of the kind the class is looked for in (thermal or visible) count
            cls_of = np.empty(n_groups, object)
            cls_of[label] = flags.cls
            want_thermal = np.array([c in THERMAL_CLASSES for c in cls_of[groups[gi]].tolist()], bool)
            ok = frames.thermal[valid][fi].astype(bool) == want_thermal
            cover_keys = groups[gi[ok]] * base + (frames.fid[valid][fi[ok]] + 1)
            allk = np.unique(np.concatenate([flag_keys, cover_keys]))
            covering = np.bincount(allk // base, minlength=n_groups)
    return flagged, covering, frame_lists
