"""Planning geometry and mission file formats. Pure computation, no I/O to vehicles.

Start here::

    from missions import FlightOptions, ImagingOptions, SurveyRequest, read_named_sector, write_any_plan

    sector, name = read_named_sector("park_sectors.geojson", name="Sector 7")
    request = SurveyRequest(sector, ImagingOptions(camera, altitude_m=100))
    plan = request.plan(FlightOptions(aircraft, name=name))
    write_any_plan(plan, "sector7.plan")

Concern modules: ``sectors`` (reading GIS files) and ``sector_checks``; ``request`` (what a
planner is asked) and the planners ``survey``, ``corridor``, ``lookout``; the steps they share:
``imaging`` (height, speeds, spacing, photos) and ``assemble`` (area, home, fence, sorties, the
final plan); ``model`` (the :class:`Plan`);
``validate``, ``estimate`` and ``figures`` (checks and figures); ``formats`` (files).
"""

from uav.lazy import lazy_exports

_WHERE = {
    # reading sectors, routes and points
    "read_sector": ".sectors", "read_named_sector": ".sectors", "read_areas": ".sectors",
    "read_route": ".sectors", "read_named_route": ".sectors", "read_points": ".sectors", "read_features": ".sectors",
    "validate_sector": ".sector_checks",
    # asking for a plan
    "FlightOptions": ".request", "ImagingOptions": ".request", "SurveyRequest": ".request",
    "CorridorRequest": ".request",
    "LookoutRequest": ".request", "PerimeterRequest": ".request",
    "plan_survey": ".survey", "plan_corridor": ".corridor", "plan_lookout": ".lookout",
    "plan_perimeter": ".lookout",
    # the steps every planner shares
    "make_planner": ".assemble", "finish_plan": ".assemble", "prepare_area": ".assemble",
    "Planner": ".assemble", "Shutter": ".imaging", "resolve_imaging": ".imaging",
    # the plan, its checks and figures
    "Plan": ".model", "PlanKind": ".model", "PlanStats": ".model", "AltitudeMode": ".model",
    "validate_plan": ".validate", "estimate_mission": ".estimate", "plan_figures": ".figures",
    # files
    "read_any_plan": ".formats", "write_any_plan": ".formats", "format_for": ".formats",
    "EXPORT_FORMATS": ".formats",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
