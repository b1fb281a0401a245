"""The flight GeoPackage's layout: geometry blobs, the records, the schema.

Shared by the write side (:mod:`.write`) and the read side (:mod:`.read`).  Geometries are OGC
GeoPackage binary geometries in EPSG:4326 (lon, lat): an 8-byte header (``GP``, version 0,
flags, srs_id), an optional envelope, then standard WKB.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass, field, fields

import shapely

from uav.errors import FlightStoreError

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10200          # GeoPackage 1.2
SRS_ID = 4326

FRAME_STATUSES = ("done", "no_pose", "failed")
FLAG_STATUSES = ("new", "confirmed", "rejected", "uncertain")

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- GeoPackage binary geometry -------------------------------------------------------------
def gpkg_geometry(geom: shapely.Geometry | None, srs_id: int = SRS_ID) -> bytes | None:
    """Encode a shapely geometry as a GeoPackage binary geometry blob (little endian).

    Points carry no envelope (the spec's recommendation); everything else an XY envelope.
    """
    if geom is None:
        return None
    empty = geom.is_empty
    if empty or geom.geom_type == "Point":
        env_type, envelope = 0, b""
    else:
        minx, miny, maxx, maxy = geom.bounds
        env_type, envelope = 1, struct.pack("<4d", minx, maxx, miny, maxy)
    flags = 0x01 | (env_type << 1) | (0x10 if empty else 0)
    header = b"GP" + struct.pack("<BBi", 0, flags, srs_id)
    return header + envelope + shapely.to_wkb(geom, byte_order=1, output_dimension=2)


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def parse_gpkg_geometry(blob: bytes | None) -> shapely.Geometry | None:
    """Decode a GeoPackage binary geometry blob to shapely (``None`` for NULL)."""
    if blob is None:
        return None
    blob = bytes(blob)
    if len(blob) < 8 or blob[:2] != b"GP":
        raise FlightStoreError("a geometry in the flight GeoPackage is not a GeoPackage geometry "
                               "(bad 'GP' header); the file may be damaged")
    flags = blob[3]
    env_type = (flags >> 1) & 0x07
    if env_type not in _ENVELOPE_BYTES:
        raise FlightStoreError(f"a geometry in the flight GeoPackage has an invalid envelope "
                               f"type {env_type}; the file may be damaged")
    return shapely.from_wkb(blob[8 + _ENVELOPE_BYTES[env_type]:])


# --- records --------------------------------------------------------------------------------
@dataclass
class FrameRecord:
    """One row of the ``frames`` layer.  ``footprint`` is the polygon (lon, lat) or ``None``."""

    path: str
    name: str | None = None
    sha256: str | None = None
    time: str | None = None
    lat: float | None = None
    lon: float | None = None
    alt_amsl: float | None = None
    alt_rel: float | None = None
    yaw: float | None = None
    pitch: float | None = None
    roll: float | None = None
    pose_source: str | None = None
    yaw_corrected: bool = False
    gsd_m: float | None = None
    width: int | None = None
    height: int | None = None
    thermal: bool = False
    status: str = "done"
    error: str | None = None
    processed_at: str | None = None
    footprint: shapely.Geometry | None = field(default=None, repr=False)
    fid: int | None = None


@dataclass
class FlagRecord:
    """One row of the ``flags`` layer: something a detector found in one frame.

    ``lat``/``lon`` are the box centre on the ground; both ``None`` when the frame has no pose,
    and then ``position_note`` says why.  ``position_uncertainty_m`` is how far that position may
    be off (:mod:`processing.flag_uncertainty`; ``None`` without a position, or from a version
    before it was measured).
    """

    cls: str
    score: float
    px_x0: float
    px_y0: float
    px_x1: float
    px_y1: float
    detector: str | None = None
    lat: float | None = None
    lon: float | None = None
    position_note: str | None = None
    position_uncertainty_m: float | None = None
    ground_size_m: float | None = None
    size_ok: bool | None = None
    status: str = "new"
    note: str | None = None
    reviewer: str | None = None
    reviewed_at: str | None = None
    version: int = 0
    frame_fid: int | None = None
    frame_path: str | None = None
    sighting_id: int | None = None      # the sighting it is evidence of (processing.sightings)
    look: str | None = None             # what the box looks like (processing.look): chains movers
    apart: bool = False                 # a reviewer split it off its sighting: it stays alone
    fid: int | None = None


@dataclass(frozen=True)
class SearchRecord:
    """What one frame was searched for: one row of ``frame_searches`` per detector that ran.

    ``model`` names the model file and the start of its SHA-256 (``vehicle.onnx 1a2b3c4d5e6f``),
    so a re-run with a retrained model can tell; ``threshold`` is the sensitivity used.
    """

    detector: str
    model: str | None = None
    threshold: float | None = None
    searched_at: str | None = None
    sensitivity: str | None = None      # low / normal / high (None: a threshold given outright)


@dataclass
class Decision:
    """One row of the ``decisions`` history table."""

    id: int
    flag_fid: int
    status: str
    note: str | None
    reviewer: str | None
    at: str


_FRAME_COLS = [f.name for f in fields(FrameRecord) if f.name not in ("footprint", "fid")]
_FLAG_COLS = [("class" if f.name == "cls" else f.name) for f in fields(FlagRecord)
              if f.name != "fid"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER NOT NULL PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS frames (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POLYGON, path TEXT UNIQUE NOT NULL, name TEXT,
  sha256 TEXT, time TEXT, lat REAL, lon REAL, alt_amsl REAL, alt_rel REAL, yaw REAL,
  pitch REAL, roll REAL, pose_source TEXT, yaw_corrected INTEGER, gsd_m REAL, width INTEGER,
  height INTEGER, thermal INTEGER, status TEXT NOT NULL, error TEXT, processed_at TEXT);
CREATE TABLE IF NOT EXISTS flags (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, frame_fid INTEGER REFERENCES frames(fid),
  frame_path TEXT, class TEXT NOT NULL, score REAL NOT NULL, detector TEXT,
  px_x0 REAL, px_y0 REAL, px_x1 REAL, px_y1 REAL, lat REAL, lon REAL, position_note TEXT,
  ground_size_m REAL, size_ok INTEGER, status TEXT NOT NULL DEFAULT 'new', note TEXT,
  reviewer TEXT, reviewed_at TEXT, version INTEGER NOT NULL DEFAULT 0, sighting_id INTEGER,
  look TEXT, apart INTEGER NOT NULL DEFAULT 0, position_uncertainty_m REAL);
CREATE INDEX IF NOT EXISTS flags_frame_fid ON flags(frame_fid);
CREATE INDEX IF NOT EXISTS flags_sighting ON flags(sighting_id);
CREATE INDEX IF NOT EXISTS flags_status ON flags(status);
CREATE TABLE IF NOT EXISTS decisions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, flag_fid INTEGER, status TEXT, note TEXT,
  reviewer TEXT, at TEXT);
CREATE TABLE IF NOT EXISTS track (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, geom LINESTRING, source TEXT);
"""

# Flight metadata, one row per key.  The INTEGER PRIMARY KEY is the GeoPackage standard's
# (requirement 119: an attribute table has one); files from before it had ``key`` as a TEXT
# primary key and are rebuilt on opening for writing (:mod:`.migrate`).
FLIGHT_META_SCHEMA = ("CREATE TABLE IF NOT EXISTS flight_meta ("
                      "id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, value TEXT)")

# Per frame, what it was searched for (added on open to files made before it existed).
SEARCHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS frame_searches (
  id INTEGER PRIMARY KEY AUTOINCREMENT, frame_fid INTEGER NOT NULL, detector TEXT NOT NULL,
  model TEXT, threshold REAL, searched_at TEXT, sensitivity TEXT, UNIQUE (frame_fid, detector));
"""
SEARCHES_CONTENTS = [("frame_searches", "attributes", "frame_searches",
                      "What each frame was searched for: detector, model, threshold, sensitivity level", None)]

_SRS_ROWS = [
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
    ("WGS 84 geodetic", 4326, "EPSG", 4326, _WGS84_WKT, "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
]

_CONTENTS = [
    # table, data_type, identifier, description, geometry type (None for attributes)
    ("frames", "features", "frames", "Frame footprints, poses and processing status", "POLYGON"),
    ("flags", "features", "flags", "Detections: smoke, fire, vehicles, hot spots", "POINT"),
    ("track", "features", "track", "Flown track", "LINESTRING"),
    ("decisions", "attributes", "decisions", "History of review decisions", None),
    ("flight_meta", "attributes", "flight_meta", "Flight metadata", None),
]


def _register(con, contents):
    """List layers in gpkg_contents (and their geometry column) so GIS programs see them."""
    for table, dtype, ident, desc, gtype in contents:
        con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier,"
                    " description, last_change, srs_id) VALUES (?,?,?,?,?,?)",
                    (table, dtype, ident, desc, _now(), SRS_ID if gtype else None))
        if gtype:
            con.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?,?,?,?,0,0)",
                        (table, "geom", gtype, SRS_ID))


__all__ = ["FLAG_STATUSES", "FRAME_STATUSES", "Decision", "FlagRecord", "FrameRecord", "SearchRecord",
           "gpkg_geometry", "parse_gpkg_geometry"]
