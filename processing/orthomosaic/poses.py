"""Each frame of a flight placed on the ground as the GeoPackage says: registered or direct.

A frame that ``uav process --register`` tied to its neighbours has a ``registered`` row in
``frame_registration`` (its adjusted position, height, yaw, tilt and the flight's lens term); every
other frame keeps the pose its own GPS/IMU gave (the ``frames`` layer).  The camera model is
rebuilt from the frame's own metadata, as processing built it, so the mosaic puts each pixel
where the footprints and flags were put.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from uav.errors import FrameError, GeoreferenceError, MosaicError

from ..georef import DemGround, FlatGround, FrameGeoref, georeference_frame
from ..poses import Pose, intrinsics_from_metadata
from ..store import FlightStore
from ..store.registration import read_registration

__all__ = ["PlacedFrame", "flight_ground", "placed_frames"]


@dataclass(frozen=True)
class PlacedFrame:
    """A frame ready to be drawn: its file, its place on the ground and where that came from."""

    fid: int
    path: str
    name: str
    thermal: bool
    geo: FrameGeoref
    registered: bool


def flight_ground(store: FlightStore, dem=None, ground_elevation: float | None = None):
    """The ground the frames are drawn on: ``dem``, else the DEM the flight was processed with
    (recorded in the GeoPackage), else flat at ``ground_elevation``."""
    import os

    dem = dem or store.get_meta("dem")
    if dem and not os.path.exists(dem):
        raise MosaicError(f"the DEM this flight was processed with, {dem}, is gone; give it with --dem "
                          "or use --ground-elevation")
    return DemGround(dem) if dem else FlatGround(ground_elevation)


def _pose(src: dict, f) -> Pose:
    # a registered row's tilt (None in rows made before it was kept: none)
    tilt = (src.get("tilt_e_deg") or 0.0, src.get("tilt_n_deg") or 0.0)
    return Pose(lat=src["lat"], lon=src["lon"], alt_amsl=src["alt_amsl"], alt_rel=src["alt_rel"],
                yaw=src["yaw"], pitch=f.pitch if f.pitch is not None else -90.0, roll=f.roll or 0.0, tilt=tilt)


def placed_frames(store: FlightStore, ground, camera=None, frames=None) -> tuple[list[PlacedFrame], list[str]]:
    """The flight's drawable frames and a note for each frame left out (why, by name).

    ``ground`` is a :class:`~processing.georef.FlatGround` or :class:`~processing.georef.DemGround`;
    ``camera`` a camera profile overriding the frames' own intrinsics (as ``--camera``);
    ``frames`` the done frames to place (default: all of them; a growing mosaic gives the new ones).
    """
    from ..frames import read_metadata

    reg = read_registration(store)
    out, notes = [], []
    for f in store.frames("done") if frames is None else frames:
        name = f.name or f.path
        if f.lat is None or f.yaw is None or f.footprint is None:
            notes.append(f"{name}: no georeference, left out")
            continue
        r = reg.get(f.fid)
        registered = r is not None and r["status"] == "registered"
        try:
            intr = intrinsics_from_metadata(read_metadata(f.path), camera, f.width, f.height)
            if registered and r["lens_k1"]:
                # the stored k1 is the lens term the frame was placed with (not an increment)
                d = list(intr.distortion or ()) + [0.0] * 5
                d[0] = r["lens_k1"]
                intr = replace(intr, distortion=tuple(d[:5]))
            geo = georeference_frame(_pose(r if registered else f.__dict__, f), intr, ground)
        except (FrameError, GeoreferenceError, OSError) as exc:
            notes.append(f"{name}: cannot be placed again ({exc}), left out")
            continue
        out.append(PlacedFrame(f.fid, f.path, name, bool(f.thermal), geo, registered))
    return out, notes
