"""Score flags against a truth file: which planted objects were found, and how close.

Many frames see the same fire, so flags are first grouped into sightings (flags of one class
within ``radius_m`` of each other); a planted object counts as found when a sighting of its
class lies within ``radius_m`` of it.  Sightings near no object of their class are false alarms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from uav.errors import InvalidInputError
from uav.geo import LocalFrame, offset_lonlat

# Truth kinds and flag classes that answer them.
CLASS_OF_KIND = {"fire": "fire", "smoke": "smoke", "vehicle": "vehicle"}


@dataclass
class Sighting:
    cls: str
    lon: float
    lat: float
    flags: int
    best_score: float


@dataclass
class ObjectResult:
    id: str
    kind: str
    lon: float
    lat: float
    found: bool
    error_m: float | None  # distance from the nearest sighting of its class


@dataclass
class Score:
    radius_m: float
    objects: list[ObjectResult] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    false_sightings: list[Sighting] = field(default_factory=list)

    @property
    def found(self) -> int:
        return sum(o.found for o in self.objects)

    @property
    def planted(self) -> int:
        return len(self.objects)

    @property
    def mean_error_m(self) -> float | None:
        errs = [o.error_m for o in self.objects if o.found]
        return float(np.mean(errs)) if errs else None

    @property
    def max_error_m(self) -> float | None:
        errs = [o.error_m for o in self.objects if o.found]
        return float(np.max(errs)) if errs else None

    def sightings_by_class(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sightings:
            out[s.cls] = out.get(s.cls, 0) + 1
        return out

    def to_dict(self) -> dict:
        return {
            "radius_m": self.radius_m, "planted": self.planted, "found": self.found,
            "mean_error_m": self.mean_error_m, "max_error_m": self.max_error_m,
            "sightings_by_class": self.sightings_by_class(),
            "false_sightings": len(self.false_sightings),
            "objects": [o.__dict__ for o in self.objects],
        }


def load_truth_objects(truth_path) -> list[dict]:
    """The planted objects of a simulator ``truth.json``."""
    path = Path(truth_path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the truth file {path}: {exc}") from None
    objects = data.get("objects") or data.get("scene", {}).get("objects")
    if objects is None:
        raise InvalidInputError(f"truth file {path} lists no objects")
    return objects


def _object_shape(obj: dict, frame: LocalFrame):
    """Where an object is on the ground, metric: a point, or for smoke the plume's axis.

    A smoke plume is planted at its source and drifts ``size_m`` downwind (``heading_deg``);
    a detector's box centre lands mid-plume, so distances are measured to the plume's axis.
    """
    import shapely

    ox, oy = frame.to_metric(obj["lon"], obj["lat"])
    if obj["kind"] == "smoke" and obj.get("size_m") and obj.get("heading_deg") is not None:
        # heading is a compass (true) bearing: find the plume's end on the ellipsoid, not along
        # UTM grid north, which differs by the grid convergence (1.5 degrees in the park)
        h = np.radians(float(obj["heading_deg"]))
        length = float(obj["size_m"])
        end_lon, end_lat = offset_lonlat(obj["lon"], obj["lat"], length * np.sin(h), length * np.cos(h))
        ex, ey = frame.to_metric(end_lon, end_lat)
        return shapely.LineString([(ox, oy), (ex, ey)])
    return shapely.Point(ox, oy)


def group_sightings(flags, radius_m: float, frame: LocalFrame) -> list[Sighting]:
    """Group georeferenced flags (dicts with cls/class, lon, lat, score) into sightings."""
    out: list[Sighting] = []
    by_cls: dict[str, list] = {}
    for f in flags:
        cls = f.get("cls") or f.get("class")
        if f.get("lon") is None or f.get("lat") is None:
            continue
        by_cls.setdefault(cls, []).append(f)
    for cls, group in by_cls.items():
        group.sort(key=lambda f: -float(f.get("score") or 0))
        xs, ys = frame.to_metric(np.array([f["lon"] for f in group]), np.array([f["lat"] for f in group]))
        pts = np.column_stack([xs, ys])
        taken = np.zeros(len(group), bool)
        for i in range(len(group)):
            if taken[i]:
                continue
            near = (~taken) & (np.hypot(*(pts - pts[i]).T) <= radius_m)
            taken |= near
            cx, cy = pts[near].mean(axis=0)
            lon, lat = frame.to_lonlat(cx, cy)
            out.append(Sighting(cls, float(lon), float(lat), int(near.sum()),
                                float(group[i].get("score") or 0)))
    return out


def score_flags(flags, truth_objects, radius_m: float = 15.0) -> Score:
    """Match flags to planted objects.

    Parameters
    ----------
    flags : iterable of dict
        Each with ``class`` (or ``cls``), ``lon``, ``lat`` (None when unplaced), ``score``.
    truth_objects : iterable of dict
        Each with ``id``, ``kind``, ``lon``, ``lat``.
    radius_m : float
        How far a sighting may be from the object and still count as finding it.
    """
    truth_objects = list(truth_objects)
    flags = list(flags)
    if not truth_objects:
        raise InvalidInputError("no planted objects to score against")
    frame = LocalFrame.around(truth_objects[0]["lon"], truth_objects[0]["lat"])
    sightings = group_sightings(flags, radius_m, frame)
    score = Score(radius_m=radius_m, sightings=sightings)
    used: set[int] = set()
    import shapely

    shapes = [_object_shape(obj, frame) for obj in truth_objects]
    sx, sy = frame.to_metric(np.array([s.lon for s in sightings]), np.array([s.lat for s in sightings]))
    at = shapely.points(sx, sy) if sightings else []
    for obj, where in zip(truth_objects, shapes):
        cls = CLASS_OF_KIND.get(obj["kind"], obj["kind"])
        best, best_i = None, None
        for i, s in enumerate(sightings):
            if s.cls != cls:
                continue
            d = float(where.distance(at[i]))
            if best is None or d < best:
                best, best_i = d, i
        found = best is not None and best <= radius_m
        if found:
            used.add(best_i)
        score.objects.append(ObjectResult(str(obj.get("id")), obj["kind"], obj["lon"], obj["lat"],
                                          found, best))
    # A sighting is false when no object of its class is near it (several sightings of one big
    # smoke plume are not false alarms).
    for i, s in enumerate(sightings):
        if i in used:
            continue
        near_any = any(
            CLASS_OF_KIND.get(obj["kind"], obj["kind"]) == s.cls
            and where.distance(at[i]) <= radius_m + float(obj.get("size_m") or 0)
            for obj, where in zip(truth_objects, shapes))
        if not near_any:
            score.false_sightings.append(s)
    return score
