"""Which detectors search a frame, how small it is decoded for them, and the size check of
their flags (the worker side of :mod:`processing.pipeline`).

A learned detector searches a frame at the ground resolution it was trained at
(:mod:`processing.detect.scales`), so before decoding the worker asks each detector what
fraction of the full-size frame it will look at, given the frame's GSD from its pose, and a
JPEG is decoded straight at the coarsest libjpeg scale (1/2, 1/4, 1/8) that still gives them
that.
"""

from __future__ import annotations

from collections.abc import Sequence

from uav.errors import DetectorError, PoseError, UavError

from .detect.base import MAX_GROUND_SIZE_M, MIN_GROUND_SIZE_M, Detector
from .georef import DemGround, FlatGround, georeference_frame
from .poses import intrinsics_from_metadata, pose_from_metadata

_DETECTOR_CACHE: dict = {}


def _resolve_detectors(spec: Sequence, sensitivity=None) -> list[Detector]:
    """Detectors by name (built once per process and level) and Detector instances as given."""
    names = tuple(s for s in spec if isinstance(s, str))
    objs = [s for s in spec if not isinstance(s, str)]
    if names:
        key = (names, None if sensitivity is None or sensitivity.is_normal else sensitivity)
        if key not in _DETECTOR_CACHE:
            try:
                from .detect.registry import get_detectors
            except ImportError as exc:
                raise DetectorError(f"no detector registry available ({exc}); "
                                    f"run with no detectors or install the detectors") from None
            _DETECTOR_CACHE[key] = get_detectors(list(names), sensitivity)
        objs = list(_DETECTOR_CACHE[key]) + objs
    return objs


def _size_check(cls: str, size: float | None) -> bool | None:
    if size is None:
        return None
    hi = MAX_GROUND_SIZE_M.get(cls)
    lo = MIN_GROUND_SIZE_M.get(cls)
    if hi is None and lo is None:
        return None
    return (hi is None or size <= hi) and (lo is None or size >= lo)


def _camera_thermal(task) -> bool:
    """The camera profile given for the flight is a thermal one (m3t-thermal, ...)."""
    return bool(getattr(task.camera, "thermal", False))


def _search_reduction(task, meta, is_jpeg: bool) -> int:
    """How much smaller than full size this frame is decoded (libjpeg's 1/2, 1/4, 1/8).

    The detectors say what resolution they will search the frame at (from its GSD: a learned
    model resamples it to the GSD it was trained at), so a JPEG is decoded straight at the
    coarsest scale that still gives them that.  ``task.reduce`` stays a floor; frames written
    out as GeoTIFFs keep it exactly.  When anything is unknown the frame is decoded as asked.
    """
    thermal = bool(meta.thermal or _camera_thermal(task))
    names = task.detectors_for(thermal)
    if task.geotiff_dir or not is_jpeg or not names or not (meta.width and meta.height):
        return task.reduce
    try:
        detectors = _resolve_detectors(names, task.sensitivity)
    except Exception:   # the search step reports it, naming the frame
        return task.reduce
    gsd, row_gsd = None, ()
    try:
        pose = task.pose
        if pose is None and task.pose_error is None:
            pose = pose_from_metadata(meta)
        if pose is None:
            raise PoseError(task.pose_error)
        intr = intrinsics_from_metadata(meta, task.camera, meta.width, meta.height)
        ground = DemGround(task.dem) if task.dem else FlatGround(task.ground_elevation)
        geo = georeference_frame(pose, intr, ground)
        gsd, row_gsd = geo.gsd_m, geo.camera.row_gsd()
    except (UavError, ValueError):
        pass   # no pose or footprint: detectors fall back to a few scales
    need = 0.0
    from .detect.registry import detectors_for_frame

    try:
        searching = detectors_for_frame(detectors, thermal, sensitivity=task.sensitivity)
    except DetectorError:   # the search step reports it, naming the frame
        return task.reduce
    from .detect.bands import is_oblique, row_bands

    # an oblique frame is searched band by band: its coarsest band searched (the far rows)
    # needs the most of the camera's resolution
    coarse = {}
    for det in searching:
        if getattr(det, "use_gsd", False) and is_oblique(row_gsd):
            bands = row_bands(row_gsd, meta.height, getattr(det, "max_gsd_m", None))
            coarse[id(det)] = max((b.gsd_m for b in bands), default=gsd)
    for det in searching:
        fn = getattr(det, "resolution_needed", None)
        need = max(need, 1.0 if fn is None else fn(meta.width, meta.height, coarse.get(id(det), gsd)))
    if need <= 0.0:
        return task.reduce
    from .detect.scales import decode_reduction

    return max(task.reduce, decode_reduction(need))
