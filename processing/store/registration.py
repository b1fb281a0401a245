"""The ``frame_registration`` table: each frame's registered pose beside its direct one.

Kept in its own attribute table (one row per frame, keyed by the frame's fid) so the ``frames``
layer keeps what the frame's own GPS/IMU said (``lat``, ``lon``, ``yaw``...) and a file made
before registration existed needs no migration beyond this table being created when a flight
is first registered.  What registration changes in place is what the map shows: the frame's
footprint (``frames.geom``, ``gsd_m``) and its flags' positions; the direct footprint is kept
here (``direct_geom``), so nothing of the direct georeference is lost.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, fields

import shapely

from .format import gpkg_geometry

__all__ = ["FrameRegistrationRecord", "REGISTRATION_SCHEMA", "save_registration", "read_registration"]

REGISTRATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS frame_registration (
  frame_fid INTEGER PRIMARY KEY, status TEXT NOT NULL, neighbours INTEGER NOT NULL DEFAULT 0,
  residual_m REAL, residual_before_m REAL, lat REAL, lon REAL, alt_amsl REAL, alt_rel REAL,
  yaw REAL, lens_k1 REAL, dx_m REAL, dy_m REAL, dz_m REAL, dyaw_deg REAL, note TEXT, direct_geom BLOB,
  registered_at TEXT, tilt_e_deg REAL, tilt_n_deg REAL);
"""
_CONTENTS = [("frame_registration", "attributes", "frame_registration",
              "Registered pose of each frame (frames tied to their neighbours), residual, "
              "neighbours; status 'direct' = kept its own GPS/IMU pose", None)]


@dataclass
class FrameRegistrationRecord:
    """One row: the frame's pose after registration (same conventions as ``frames``)."""

    frame_fid: int
    status: str                       # 'registered' or 'direct'
    neighbours: int = 0
    residual_m: float | None = None
    residual_before_m: float | None = None
    lat: float | None = None
    lon: float | None = None
    alt_amsl: float | None = None
    alt_rel: float | None = None
    yaw: float | None = None
    lens_k1: float | None = None      # radial distortion the frame was placed with (OpenCV k1)
    dx_m: float = 0.0
    dy_m: float = 0.0
    dz_m: float = 0.0
    dyaw_deg: float = 0.0
    note: str | None = None
    tilt_e_deg: float = 0.0           # the registered camera turned about the map's east and
    tilt_n_deg: float = 0.0           # north axes after its own angles (Pose.tilt)
    direct_footprint: shapely.Geometry | None = None


_COLS = [f.name for f in fields(FrameRegistrationRecord) if f.name != "direct_footprint"]


def save_registration(store, rows: list[FrameRegistrationRecord], footprints: dict,
                      flags: list[tuple]) -> None:
    """Write a flight's registration in one transaction.

    ``footprints``: frame fid -> (footprint lon/lat polygon, gsd_m) to put on the ``frames``
    layer; ``flags``: ``(fid, lon, lat, ground_size_m, size_ok)`` for every re-placed flag.
    Rows from an earlier registration are replaced.
    """
    store.add_layer(REGISTRATION_SCHEMA, _CONTENTS)
    _add_missing_columns(store)
    at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with store._tx() as con:
        con.execute("DELETE FROM frame_registration")
        con.executemany(
            f"INSERT INTO frame_registration ({', '.join(_COLS)}, direct_geom, registered_at) "
            f"VALUES ({', '.join('?' * (len(_COLS) + 2))})",
            [(*(getattr(r, c) for c in _COLS), gpkg_geometry(r.direct_footprint), at) for r in rows])
        con.executemany("UPDATE frames SET geom = ?, gsd_m = ? WHERE fid = ?",
                        [(gpkg_geometry(fp), gsd, fid) for fid, (fp, gsd) in footprints.items()])
        con.executemany(
            "UPDATE flags SET geom = ?, lon = ?, lat = ?, ground_size_m = ?, size_ok = ? WHERE fid = ?",
            [(None if lon is None else gpkg_geometry(shapely.Point(lon, lat)), lon, lat, size,
              None if ok is None else int(bool(ok)), fid) for fid, lon, lat, size, ok in flags])
    store._update_extents()


def _add_missing_columns(store) -> None:
    """A table made before the registered camera's tilt was kept gets its columns."""
    have = {r[1] for r in store._query("PRAGMA table_info(frame_registration)")}
    missing = [c for c in ("tilt_e_deg", "tilt_n_deg") if c not in have]
    if missing:
        with store._tx() as con:
            for c in missing:
                con.execute(f"ALTER TABLE frame_registration ADD COLUMN {c} REAL")


def read_registration(store) -> dict[int, dict]:
    """Frame fid -> its registration row as a dict (empty for a flight never registered).
    ``tilt_e_deg`` and ``tilt_n_deg`` are None in rows written before they were kept."""
    tables = {r[0] for r in store._query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "frame_registration" not in tables:
        return {}
    have = {r[1] for r in store._query("PRAGMA table_info(frame_registration)")}
    cols = [c for c in _COLS if c in have]
    rows = store._query(f"SELECT {', '.join(cols)} FROM frame_registration")
    return {r[0]: {c: None for c in _COLS} | dict(zip(cols, r, strict=True)) for r in rows}
