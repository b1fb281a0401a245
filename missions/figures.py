"""The figures a person reads about a plan: area, distance, flight time, photos, sorties.

A plan made here carries its statistics; one read from another tool's file (QGroundControl,
Mission Planner) has none, so distance and time are estimated from its items.
"""

from __future__ import annotations

from .model import Plan


def plan_figures(plan: Plan) -> dict:
    """The figures ``uav plan show`` prints, filled in from the items when the file had none.

    Parameters
    ----------
    plan : Plan

    Returns
    -------
    dict
        ``name``, ``kind``, ``altitude_mode``, ``sorties``, ``area_m2``, ``distance_m``,
        ``flight_time_s``, ``photo_count``, ``gsd_m``, ``altitude_m``, ``line_spacing_m``,
        ``trigger_distance_m``, ``grid_angle_deg``, ``transect_count``, ``sortie_times_s``,
        ``sortie_distances_m``, ``items`` (per sortie, home included), ``rally_points``,
        ``camera``, ``aircraft``; ``estimated_with`` (the aircraft profile) when distance and
        time were estimated from the items.
    """
    st = plan.stats
    fig = {
        "name": plan.name, "kind": plan.kind.value, "altitude_mode": plan.altitude_mode.value,
        "sorties": len(plan.sorties), "area_m2": st.area_m2, "distance_m": st.distance_m,
        "flight_time_s": st.flight_time_s, "photo_count": st.photo_count, "gsd_m": st.gsd_m,
        "altitude_m": st.altitude_m, "line_spacing_m": st.line_spacing_m,
        "trigger_distance_m": st.trigger_distance_m, "grid_angle_deg": st.grid_angle_deg,
        "transect_count": st.transect_count, "sortie_times_s": list(st.sortie_times_s),
        "sortie_distances_m": list(st.sortie_distances_m),
        "items": [len(m.items) for m in plan.sorties],
        "rally_points": len(plan.sorties[0].rally) if plan.sorties else 0,
        "camera": plan.camera.name if plan.camera else None,
        "aircraft": plan.aircraft.name if plan.aircraft else None,
    }
    if not st.distance_m and plan.sorties:
        from uav.profiles import DEFAULT_AIRCRAFT, get_aircraft

        from .estimate import estimate_mission

        aircraft = plan.aircraft or get_aircraft(DEFAULT_AIRCRAFT)
        est = [estimate_mission(m, aircraft) for m in plan.sorties]
        fig["distance_m"] = sum(e.distance_m for e in est)
        fig["flight_time_s"] = sum(e.time_s for e in est)
        fig["sortie_times_s"] = [e.time_s for e in est]
        fig["sortie_distances_m"] = [e.distance_m for e in est]
        fig["estimated_with"] = aircraft.name
    return fig


__all__ = ["plan_figures"]
