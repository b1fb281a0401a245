"""Mission files: QGroundControl ``.plan``, ``QGC WPL 110`` waypoints, KML/KMZ, GeoJSON and
DJI Pilot 2 routes (WPML KMZ).

``.plan``, ``.waypoints`` and DJI route KMZs are read and written (lossless within each
format's precision); KML and GeoJSON are written for people looking at a map (Google Earth,
QGIS).  A ``.kmz`` is read as a DJI route (``wpmz/``); Google Earth KMZs are written only.
"""

from __future__ import annotations

from pathlib import Path

from uav.errors import PlanFileError

EXPORT_FORMATS = ("plan", "waypoints", "kml", "kmz", "geojson", "wpml")


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


def write_any_plan(plan, path, to: str | None = None, *, photos: bool = False) -> list[Path]:
    """Write ``plan`` in the format ``to`` names, or the one ``path``'s suffix names.

    Parameters
    ----------
    plan : missions.model.Plan
    path : str or Path
        Output file; with no suffix (and no ``to``) a QGroundControl ``.plan`` is written.
    to : {"plan", "waypoints", "kml", "kmz", "geojson", "wpml"}, optional
        Format; default from the suffix (``.json`` = GeoJSON, ``.txt`` = waypoints, ``.kmz``
        = Google Earth); ``wpml`` = DJI Pilot 2 route, one KMZ per sortie.
    photos : bool
        KML/KMZ/GeoJSON: also mark every planned photo position.

    Returns
    -------
    list of Path
        Every file written: a ``.plan`` of several sorties also gets ``OUT-sortieN.plan`` files
        (each with the fence and rally points), ``.waypoints`` one file per sortie.

    Raises
    ------
    PlanFileError
        An unknown format, or a file that cannot be written.
    """
    path = Path(path)
    if not path.suffix and not to:
        path = path.with_suffix(".plan")
    fmt = format_for(path, to)
    if fmt == "plan":
        from .qgc_plan import write_plan

        return write_plan(plan, path, split_sorties=True)
    if fmt == "waypoints":
        from .waypoints import write_plan_waypoints

        return write_plan_waypoints(plan, path)
    if fmt == "wpml":
        from .wpml import write_wpml

        return write_wpml(plan, path)
    if fmt in ("kml", "kmz"):
        from .kml import write_kml

        if fmt == "kmz" and path.suffix.lower() != ".kmz":  # the writer zips by suffix
            path = path.with_suffix(".kmz")
        return [write_kml(plan, path, photos=photos)]
    from .geojson import write_geojson

    return [write_geojson(plan, path, photos=photos)]


def read_any_plan(path):
    """A :class:`~missions.model.Plan` from a ``.plan``, ``.waypoints`` or DJI route ``.kmz``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".kmz":
        from .wpml_reader import read_wpml_plan

        return read_wpml_plan(path)
    if suffix in (".waypoints", ".txt", ".mission"):
        from .waypoints import read_waypoints_plan

        return read_waypoints_plan(path)
    _refuse_binary(path)
    from .qgc_plan import read_plan

    return read_plan(path)


def _refuse_binary(path) -> None:
    """A GeoPackage (or any SQLite file) is not a plan: say what it is and what reads it, instead
    of a text decoding error."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return   # the reader names the missing or unreadable file
    if head.startswith(b"SQLite format 3"):
        raise PlanFileError(f"{path} is a GeoPackage, not a mission plan: a flight processed by "
                            f"`uav process` opens with `uav review {path}`; a sector in it is planned with "
                            f"`uav plan survey {path} --sector-name NAME`. Plans are .plan, .waypoints "
                            "or DJI .kmz files")


_LAZY = {"json_safe": ".qgc_plan", "write_wpml": ".wpml", "read_wpml_plan": ".wpml_reader",
         "geoid_height": ".geoid"}


def __getattr__(name):
    # The writers load only when used; these are the helpers callers reach for by name.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EXPORT_FORMATS", "format_for", "geoid_height", "json_safe", "read_any_plan", "read_wpml_plan",
           "write_any_plan", "write_wpml"]
