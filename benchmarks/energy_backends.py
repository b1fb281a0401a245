"""The same survey rehearsed on the built-in copter and on ArduPilot's SITL: do they agree?

The demo sector's survey (mavic3e-wide at 60 m, 75 %/65 % overlap, the ``arducopter-quad``
profile: what SITL flies) is planned once and rehearsed on both backends.  Figures per backend:
photos taken, minutes flown and charge used (mAh, BATTERY_STATUS.current_consumed) summed over
the sorties, next to the planner's own estimates; the ratios SITL / built-in are what issue 10
asks to agree (photos ±10 %, time ±25 %, battery ±10 %).  Baseline: the planner's figures.
Without a SITL binary (ARDUPILOT_SITL or ``arducopter`` on PATH) the SITL leg is skipped.

    .venv/bin/python -m benchmarks.energy_backends [--speedup-sitl 30]
"""

from __future__ import annotations

import argparse

from missions.data import sample_path
from missions.sectors import read_areas, read_sector
from missions.survey import plan_survey
from simulators.backend import find_sitl
from simulators.rehearsal import rehearse
from uav.profiles import get_aircraft, get_camera

HOME = (43.1341, 131.2674)
HOME_ALT = 142.0


def survey():
    sector = read_sector(sample_path("demo_sector.geojson"))
    return plan_survey(sector, camera=get_camera("mavic3e-wide"), aircraft=get_aircraft("arducopter-quad"),
                       exclusions=read_areas(sample_path("demo_exclusion.geojson")), altitude_m=60,
                       front_overlap=0.75, side_overlap=0.65, home=HOME, home_alt_amsl=HOME_ALT,
                       name="energy benchmark")


def _totals(report) -> dict:
    s = report.sorties
    return {"photos": sum(x.photos_taken for x in s),
            "minutes": round(sum(x.flown_time_s for x in s) / 60, 2),
            "mah": round(sum(x.battery_used_mah or 0 for x in s)),
            "ok": report.ok, "wall_s": round(report.wall_time_s, 1)}


def run(speedup_builtin: float = 100.0, speedup_sitl: float = 30.0) -> dict:
    plan = survey()
    planned = {"sorties": len(plan.sorties), "photos": plan.stats.photo_count,
               "minutes": round(sum(plan.stats.sortie_times_s) / 60, 2)}
    from missions.estimate import estimate_mission

    planned["mah"] = round(sum(estimate_mission(m, plan.aircraft).charge_mah for m in plan.sorties))
    out = {"planned": planned, "builtin": _totals(rehearse(plan, backend="builtin", speedup=speedup_builtin))}
    if find_sitl() is None:
        out["ardupilot"] = "skipped: no SITL binary (ARDUPILOT_SITL or arducopter on PATH)"
        return out
    out["ardupilot"] = _totals(rehearse(plan, backend="ardupilot", speedup=speedup_sitl))
    b, a = out["builtin"], out["ardupilot"]
    out["sitl_over_builtin"] = {k: round(a[k] / b[k], 3) for k in ("photos", "minutes", "mah") if b[k]}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--speedup-builtin", type=float, default=100.0)
    ap.add_argument("--speedup-sitl", type=float, default=30.0)
    args = ap.parse_args(argv)
    for key, value in run(args.speedup_builtin, args.speedup_sitl).items():
        print(f"{key:18s} {value}")


if __name__ == "__main__":
    main()
