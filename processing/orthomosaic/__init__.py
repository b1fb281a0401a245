"""A flight's mosaic, a Cloud Optimized GeoTIFF a GIS opens (issue 24).

Start here: :func:`build_mosaic` (``uav mosaic FLIGHT.gpkg -o OUT.tif``, ``uav process …
--mosaic``).  The frames are placed on the ground as the GeoPackage says (registered poses when
``--register`` made them, else each frame's own GPS/IMU; :mod:`.poses`), warped through
their cameras onto one grid (:mod:`.warp`), blended nearest-to-nadir with soft seams
(:mod:`.build`, :mod:`.blend`; the sums in tiles, in memory or on disk: :mod:`.tiles`),
checked for agreement where they overlap (:mod:`.seams`) and written as a COG with overviews
and an alpha band (:mod:`.cog`).  :mod:`.overlay` turns it into
the picture the review page lays under the flags.
"""

from __future__ import annotations

import os
import time

from uav.errors import MosaicError

from ..store import FlightStore
from .build import MosaicFile, mosaic_frames
from .growing import GrowingMosaic
from .poses import flight_ground, placed_frames
from .result import MosaicResult, default_mosaic_path, thermal_path
from .seams import MAX_PAIRS

__all__ = ["GrowingMosaic", "MosaicFile", "MosaicResult", "build_mosaic", "default_mosaic_path"]


def build_mosaic(gpkg, out=None, *, resolution: float | None = None, dem=None,
                 ground_elevation: float | None = None, camera=None, seam_pairs: int = MAX_PAIRS) -> MosaicResult:
    """Write the flight's mosaic(s) and record where in the GeoPackage (for ``uav review``).

    Parameters
    ----------
    gpkg : path
        The flight GeoPackage (``uav process``).
    out : path, optional
        The GeoTIFF to write; FLIGHT_mosaic.tif by default.  A flight with colour and thermal
        frames gets two: the thermal one named ``…_thermal.tif``.
    resolution : float, optional
        Cell size in metres; default the frames' median GSD × 4.
    dem, ground_elevation, camera
        As processing was given them (the DEM recorded in the GeoPackage is used by default).
    seam_pairs : int
        How many overlapping pairs of frames to measure for agreement at most (0: none); the
        colour mosaic's figures go to the GeoPackage's ``flight_meta`` as ``mosaic_seams`` (JSON).

    Raises
    ------
    MosaicError
        No frame of the flight is placed on the ground, or the mosaic cannot be written.
    """
    t0 = time.perf_counter()
    gpkg = os.fspath(gpkg)
    if not os.path.isfile(gpkg):
        raise MosaicError(f"flight GeoPackage {gpkg} not found (make it with `uav process`)")
    out = os.fspath(out) if out else default_mosaic_path(gpkg)
    with FlightStore.open(gpkg) as store:
        ground = flight_ground(store, dem, ground_elevation)
        frames, notes = placed_frames(store, ground, camera)
        if not frames:
            raise MosaicError(f"{gpkg} has no frame placed on the ground (no position or heading), "
                              "so there is nothing to make a mosaic of")
        kinds = {k: [p for p in frames if p.thermal == (k == "thermal")] for k in ("colour", "thermal")}
        kinds = {k: v for k, v in kinds.items() if v}
        files = []
        for kind, group in kinds.items():
            path = thermal_path(out) if kind == "thermal" and len(kinds) == 2 else out
            made = mosaic_frames(group, path, kind, resolution, notes, seam_pairs)
            if made is not None:
                files.append(made)
        if not files:
            raise MosaicError(f"no frame of {gpkg} could be read to draw: " + "; ".join(notes[:3]))
        # the review page shows the colour mosaic when there is one
        store.set_meta("mosaic", os.path.abspath(files[0].path))
        store.set_meta("mosaic_seams", files[0].seams.to_json() if files[0].seams else None)
    return MosaicResult(files, notes, time.perf_counter() - t0)
