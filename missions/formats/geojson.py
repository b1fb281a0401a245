"""GeoJSON for QGIS: one FeatureCollection with everything the plan draws.

Each feature's ``role`` property says what it is (``sector``, ``exclusion``,
``fence_inclusion``, ``fence_exclusion``, ``rally``, ``flight_path``, ``home``, ``waypoint``,
``imaging_leg``, ``photo``); ``sortie`` is 1-based; ``altitude_mode`` says how to read the z
coordinate of 3-D features (``absolute`` = metres AMSL, ``relativeToGround``).  Coordinates are
lon, lat[, z] in WGS84 as RFC 7946 requires.
"""

from __future__ import annotations

import json
from pathlib import Path

import shapely

from uav.errors import PlanFileError
from uav.files import write_atomic

from .layers import plan_shapes
from .qgc_plan import json_safe


def _round(obj, nd=8):
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, list | tuple):
        return [_round(v, nd) for v in obj]
    return obj


def plan_feature_collection(plan, *, photos: bool = False) -> dict:
    """The FeatureCollection for ``plan``."""
    features = []
    for s in plan_shapes(plan, photos=photos):
        geom = shapely.geometry.mapping(s.geometry)
        geom = {"type": geom["type"], "coordinates": _round(geom["coordinates"])}
        props = {"role": s.role, "name": s.name}
        if s.sortie is not None:
            props["sortie"] = s.sortie
        if shapely.has_z(s.geometry):
            props["altitude_mode"] = s.altitude_mode
        props.update(s.properties)
        features.append({"type": "Feature", "properties": json_safe(props), "geometry": geom})
    stats = plan.stats
    return {
        "type": "FeatureCollection",
        "name": plan.name or f"{plan.kind.value} plan",
        "amur_plan": json_safe({
            "kind": plan.kind, "altitude_mode": plan.altitude_mode, "sorties": len(plan.sorties),
            "area_m2": stats.area_m2, "distance_m": stats.distance_m,
            "flight_time_s": stats.flight_time_s, "photo_count": stats.photo_count,
            "gsd_m": stats.gsd_m,
        }),
        "features": features,
    }


def write_geojson(plan, path, *, photos: bool = False) -> Path:
    """Write ``plan`` as a GeoJSON FeatureCollection; returns the path."""
    path = Path(path)
    text = json.dumps(plan_feature_collection(plan, photos=photos), ensure_ascii=False,
                      allow_nan=False)
    write_atomic(path, text + "\n", error=PlanFileError)
    return path
