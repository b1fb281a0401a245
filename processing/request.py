"""What a processing run is asked, as one object: built once (by the command line, a script),
taken by the pipeline and the watch, and turned into per-frame tasks for the runners.

Every option that reaches a worker is a field here, so nothing travels unseen through
``**kwargs``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from uav.errors import InvalidInputError

__all__ = ["ProcessRequest"]


@dataclass(frozen=True)
class ProcessRequest:
    """How to process a flight's frames (see :func:`processing.process_frames`).

    Attributes
    ----------
    telemetry : path, optional
        MAVLink ``.tlog`` or DataFlash ``.bin`` giving poses instead of the frames' tags.
    dem : path, optional
        DEM GeoTIFF for georeferencing; flat ground at the take-off height otherwise.
    ground_elevation : float, optional
        Flat ground at this elevation (same datum as the GPS altitude).
    detectors : sequence of str or Detector, optional
        Detector names (``processing.detect.registry``) and/or Detector instances, for every
        frame.  ``None`` (the default) fits them to the frame: colour frames are searched for
        fire, smoke and vehicles, thermal frames for people and vehicles.  Frames already done
        are searched again for the detectors they were not searched for.
    sensitivity : Sensitivity or str, optional
        How much each class lets through: ``"high"``, ``"smoke=high"``
        (:func:`processing.detect.sensitivity.parse_sensitivity`); ``None`` is normal.  Each
        frame records its level per detector (``frame_searches.sensitivity``).
    camera : CameraProfile, optional
        Overrides the intrinsics read from the frames.
    workers : int, optional
        Local worker processes (default: CPU count; 0 runs in this process).
    dask_address : str or distributed.Client, optional
        Run the per-frame work on a Dask cluster instead.
    ship_frames : bool
        With ``dask_address``: send every frame's bytes with its task (workers that cannot
        read the frames' folder).  Without it, only frames a worker reports it cannot read
        are sent, to that worker; the summary says which and how many MB.
    geotiff : bool or path
        Write a GeoTIFF per frame (into ``FLIGHT_geotiff/`` next to the GeoPackage, or here).
    reduce : {1, 2, 4, 8}
        Decode and search at reduced resolution (boxes are reported in full-frame pixels).
    redo : bool
        Search frames already done again with the detectors whose model or sensitivity
        changed since (without it the summary names them).
    register : bool
        Register the frames to each other once they are through (:mod:`.register_flight`):
        footprints, flag positions and GeoTIFFs then use the registered poses.  Off by default:
        it decodes every frame once more (about 1000 px across) and matches its neighbours.
    check_pixels : bool
        Check frames re-saved by a photo viewer against an untouched neighbour (180° fix).
    """

    telemetry: Any = None
    dem: Any = None
    ground_elevation: float | None = None
    detectors: Any = None
    sensitivity: Any = None
    camera: Any = None
    workers: int | None = None
    dask_address: Any = None
    ship_frames: bool = False
    geotiff: Any = False
    reduce: int = 1
    redo: bool = False
    register: bool = False
    check_pixels: bool = True

    def __post_init__(self):
        if int(self.reduce) not in (1, 2, 4, 8):
            raise InvalidInputError(f"reduce must be 1, 2, 4 or 8, got {self.reduce}")
        if self.ship_frames and self.dask_address is None:
            raise InvalidInputError("--ship-frames sends frames to Dask workers: it needs --dask "
                                    "ADDRESS (a local run reads the frames from this disk)")

    @classmethod
    def from_options(cls, request: ProcessRequest | None, options: dict) -> ProcessRequest:
        """``request`` as given, or one made from keyword options (an unknown one is named)."""
        if request is not None and options:
            raise InvalidInputError(f"give either a ProcessRequest or options, not both "
                                    f"({', '.join(sorted(options))})")
        if request is not None:
            return request
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidInputError(f"unknown processing option(s) {', '.join(unknown)}; known: "
                                    f"{', '.join(sorted(known))}")
        return cls(**options)
