"""Mission files: QGroundControl ``.plan``, ``QGC WPL 110`` waypoints, KML/KMZ and GeoJSON.

``.plan`` and ``.waypoints`` are read and written (lossless within each format's precision);
KML and GeoJSON are written for people looking at a map (Google Earth, QGIS).
"""

from __future__ import annotations

from pathlib import Path

from uav.errors import PlanFileError

EXPORT_FORMATS = ("plan", "waypoints", "kml", "kmz", "geojson")


def format_for(path, to: str | None = None) -> str:
    """The export format named by ``to`` or guessed from the file suffix."""
    if to:
        fmt = to.lower().lstrip(".")
    else:
        fmt = Path(path).suffix.lower().lstrip(".")
        fmt = {"json": "geojson", "txt": "waypoints", "mission": "waypoints"}.get(fmt, fmt)
    if fmt not in EXPORT_FORMATS:
        raise PlanFileError(f"unknown mission file format {fmt!r} for {path}; "
                            f"use one of: {', '.join(EXPORT_FORMATS)}")
    return fmt


def read_any_plan(path):
    """A :class:`~missions.model.Plan` from a ``.plan`` or ``.waypoints`` file."""
    suffix = Path(path).suffix.lower()
    if suffix in (".waypoints", ".txt", ".mission"):
        from .waypoints import read_waypoints_plan

        return read_waypoints_plan(path)
    from .qgc_plan import read_plan

    return read_plan(path)
