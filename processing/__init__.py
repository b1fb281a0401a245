"""Frames in, georeferenced flags out; the review page; exports.

Start here: :func:`process_frames` (a folder of photos -> a flight GeoPackage) and
:func:`watch_folder`; :class:`FlightStore` (the GeoPackage); :func:`export_flight`.  Steps, in
the order data flows: ``frames`` (metadata) -> ``poses`` / ``telemetry`` -> ``georef`` ->
``detect`` -> ``store`` -> ``review`` / ``export``.  Processing imports only the kernel
(``uav``), never ``simulators``.
"""

from uav.lazy import lazy_exports

_WHERE = {
    "process_frames": ".pipeline", "process_frame": ".worker", "watch_folder": ".watch",
    "ProcessRequest": ".request",
    "read_metadata": ".frames", "FrameMeta": ".frames",
    "Pose": ".poses", "Intrinsics": ".poses", "pose_from_metadata": ".poses",
    "read_telemetry": ".telemetry", "poses_from_telemetry": ".telemetry",
    "georeference_frame": ".georef", "FlatGround": ".georef", "DemGround": ".georef",
    "write_frame_geotiff": ".geotiff", "quicklook": ".mosaic",
    "FlightStore": ".store",
    "get_detector": ".detect", "available_detectors": ".detect",
    "export_flight": ".export",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
