"""The flight GeoPackage: one file per flight, frames and flags, written transactionally.

:mod:`.format` is the file's layout (layers ``frames``, ``flags``, ``track``; attribute tables
``decisions`` and ``flight_meta``); :mod:`.write` (:class:`FlightStore`) writes it as frames are
processed, each frame with its flags in one transaction; :mod:`.read` (:class:`FlightDB`) reads
it for the review page and the exports and records review decisions; :mod:`.sightings` keeps
the ``sightings`` layer (flags grouped into objects, :mod:`processing.sightings`) up to date
without losing a decision; :mod:`.images` caches thumbnails and crops of the frames beside it.
"""

from uav.errors import ReviewConflictError

from .format import (
    FLAG_STATUSES,
    FRAME_STATUSES,
    Decision,
    FlagRecord,
    FrameRecord,
    SearchRecord,
    gpkg_geometry,
    parse_gpkg_geometry,
)
from .read import DECISIONS, FlagNotFoundError, FlagQuery, FlightDB, SightingQuery
from .write import FlightStore

__all__ = [
    "FlightStore", "FrameRecord", "FlagRecord", "SearchRecord", "Decision", "ReviewConflictError",
    "FRAME_STATUSES", "FLAG_STATUSES", "gpkg_geometry", "parse_gpkg_geometry",
    "FlightDB", "FlagQuery", "SightingQuery", "FlagNotFoundError", "DECISIONS",
]
