"""Sightings against planted objects (the simulator's ``truth.json``): one object, one sighting?

Used by ``uav demo`` and the false-alarm measurement in ``benchmarks/sightings.py``.  A planted
object is found when a sighting of its class lies within ``radius_m`` of it (of a smoke plume's
axis, see :mod:`processing.scoring`); each sighting answers one object at most.  Every other
sighting is an *extra*; an extra near no object of its class is *false*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from uav.geo import LocalFrame

from .scoring import CLASS_OF_KIND, _object_shape

__all__ = ["SightingsScore", "score_sightings", "read_sightings"]


@dataclass
class SightingsScore:
    radius_m: float
    planted: int = 0
    found: int = 0
    errors_m: list[float] = field(default_factory=list)
    objects: list[dict] = field(default_factory=list)     # id, kind, sighting fid, error_m
    sightings: int = 0
    extra: list[dict] = field(default_factory=list)       # sightings answering no object
    false: list[dict] = field(default_factory=list)       # ... and near none of their class
    flags: int = 0

    @property
    def flags_per_sighting(self) -> float:
        return self.flags / self.sightings if self.sightings else 0.0

    def to_dict(self) -> dict:
        return {"radius_m": self.radius_m, "planted": self.planted, "found": self.found,
                "max_error_m": max(self.errors_m) if self.errors_m else None,
                "mean_error_m": float(np.mean(self.errors_m)) if self.errors_m else None,
                "sightings": self.sightings, "extra_sightings": len(self.extra),
                "false_sightings": len(self.false), "flags": self.flags,
                "flags_per_sighting": round(self.flags_per_sighting, 2), "objects": self.objects,
                "extra": self.extra}


def read_sightings(gpkg) -> list[dict]:
    """The ``sightings`` layer of a flight GeoPackage as dicts (best first)."""
    import sqlite3

    con = sqlite3.connect(gpkg)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(
            "SELECT fid, class, score, lon, lat, frames_flagged, frames_covering, n_flags, positioned, "
            "status FROM sightings ORDER BY score DESC, fid")]
    finally:
        con.close()


def score_sightings(sightings: list[dict], truth_objects: list[dict], radius_m: float = 15.0,
                    flags: int = 0) -> SightingsScore:
    """Match sightings (dicts with ``class``, ``lon``, ``lat``, ``fid``) to planted objects."""
    import shapely

    res = SightingsScore(radius_m=radius_m, planted=len(truth_objects), sightings=len(sightings), flags=flags)
    if not truth_objects:
        res.extra = list(sightings)
        res.false = list(sightings)
        return res
    frame = LocalFrame.around(truth_objects[0]["lon"], truth_objects[0]["lat"])
    shapes = [_object_shape(o, frame) for o in truth_objects]
    placed = [s for s in sightings if s.get("lon") is not None]
    pts = {}
    for s in placed:
        x, y = frame.to_metric(s["lon"], s["lat"])
        pts[s["fid"]] = shapely.Point(float(x), float(y))
    used: set = set()
    # nearest pairs first, so two objects never fight over one sighting
    cand = sorted((float(shape.distance(pts[s["fid"]])), k, s["fid"])
                  for k, (obj, shape) in enumerate(zip(truth_objects, shapes, strict=True))
                  for s in placed if s["class"] == CLASS_OF_KIND.get(obj["kind"], obj["kind"]))
    best: dict[int, tuple[float, int]] = {}
    for d, k, fid in cand:
        if d > radius_m or k in best or fid in used:
            continue
        best[k] = (d, fid)
        used.add(fid)
    for k, obj in enumerate(truth_objects):
        d, fid = best.get(k, (None, None))
        res.objects.append({"id": obj.get("id"), "kind": obj["kind"], "sighting": fid,
                            "error_m": None if d is None else round(d, 2)})
        if fid is not None:
            res.found += 1
            res.errors_m.append(d)
    for s in sightings:
        if s["fid"] in used:
            continue
        res.extra.append(s)
        near = s["fid"] in pts and any(
            s["class"] == CLASS_OF_KIND.get(o["kind"], o["kind"])
            and shape.distance(pts[s["fid"]]) <= radius_m + float(o.get("size_m") or 0)
            for o, shape in zip(truth_objects, shapes, strict=True))
        if not near:
            res.false.append(s)
    return res
