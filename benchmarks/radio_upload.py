"""Uploads over a telemetry radio: whole and verified through fades and a radio pulled out, the
time to a verified sortie against MAVProxy's unverified write, and the soak on a lossy link.

``python -m benchmarks.radio_upload [--runs 10] [--soak 100] [--backend builtin|ardupilot]``

- **field**: ``uav upload --reconnect 30`` of a 100-item mission + fence + rally through
  :mod:`simulators.radio`'s ``sik-57600-fades`` (57.6 kbaud half duplex, 50-200 ms, ~8 % burst
  loss, 2-8 s fades every 15-40 s) with the connection closed once, 20-40 s into the upload,
  and refused for 3 s (a USB radio pulled out and plugged back in).  Each run is then read back
  over the vehicle's *other* port (SERIAL1 / the telemetry port), not through the proxy, and
  compared item by item: "whole" means that independent read-back agrees.
- **speed**: the same sortie on the radio shape alone (no fades, no drop) at 57.6 and 19.2
  kbaud: our verified upload (write + read-back) against MAVProxy's ``wp load`` (write only),
  and the floor: the airtime of the frames a write must carry (one MISSION_REQUEST down and
  one MISSION_ITEM_INT up per item), at the baud rate, with nothing lost and no latency.
- **soak**: ``uav upload`` on the plain lossy link (20 % drop, 5 % duplicates, 5 % reordering,
  both ways), seeded runs 1..N: each must be whole or fail saying what the aircraft holds.

The vehicle runs in real time (speed-up 1): its telemetry and its 8 s upload timeout are then
what a radio carries in the field.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HOME = (43.1, 131.5, 120.0, 0.0)
ITEMS = 100


def _mission(n: int = ITEMS):
    from uav.items import Cmd, Frame, Home, Mission, MissionItem, MissionType

    items = [Home(*HOME[:3]).as_item(), MissionItem(Cmd.NAV_TAKEOFF, alt=40.0)]
    items += [MissionItem(Cmd.NAV_WAYPOINT, lat=HOME[0] + (i // 20) * 2e-4,
                          lon=HOME[1] + (i % 20) * 3e-4, alt=40.0 + (i % 7) * 0.01)
              for i in range(n - 3)]
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    fence = [MissionItem(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Frame.GLOBAL_INT, param1=4,
                         lat=HOME[0] + a, lon=HOME[1] + b, mission_type=MissionType.FENCE)
             for a, b in [(-0.01, -0.01), (0.02, -0.01), (0.02, 0.02), (-0.01, 0.02)]]
    rally = [MissionItem(Cmd.NAV_RALLY_POINT, lat=HOME[0] + 0.005, lon=HOME[1] + 0.005,
                         alt=30.0, mission_type=MissionType.RALLY)]
    return Mission(items, fence=fence, rally=rally, name=f"radio-{n}")


def _plan_file(tmp: Path, n: int = ITEMS) -> Path:
    from missions.formats.qgc_plan import write_plan
    from missions.model import Plan, PlanKind

    path = tmp / f"radio{n}.plan"
    write_plan(Plan(kind=PlanKind.SURVEY, sorties=[_mission(n)]), path)
    return path


def _cli_upload(plan: Path, url: str, *extra: str) -> tuple[int, str, float]:
    from click.testing import CliRunner

    from uav.cli import cli

    t = time.monotonic()
    res = CliRunner().invoke(cli, ["upload", str(plan), "--connect", url, *extra])
    return res.exit_code, res.output, time.monotonic() - t


def _independent(sim) -> dict:
    """What the vehicle holds, read over its other port (not the one the upload used)."""
    from uav.items import MissionType
    from uav.link import connect
    from uav.link.mission_transfer import MissionTransfer
    from uav.link.verify import compare_items

    m = _mission()
    out = {}
    with connect(sim.telemetry_connection_string, timeout=20, stream_rate_hz=0) as link:
        t = MissionTransfer(link)
        for mtype, sent in ((MissionType.MISSION, m.items), (MissionType.FENCE, m.fence),
                            (MissionType.RALLY, m.rally)):
            back = t.download(mtype).items
            out[mtype.label] = not compare_items(sent, back, mtype)
    return out


def _clear(sim) -> None:
    from uav.items import MissionType
    from uav.link import connect
    from uav.link.mission_transfer import MissionTransfer

    with connect(sim.telemetry_connection_string, timeout=20, stream_rate_hz=0) as link:
        t = MissionTransfer(link)
        for mtype in MissionType:
            t.clear(mtype)


def field(sim, runs: int, seed0: int = 100) -> dict:
    """``runs`` uploads through fades and one drop; whole = the independent read-back agrees."""
    from simulators.faults import FaultyLink
    from simulators.radio import radio_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = _plan_file(Path(tmp))
        for r in range(runs):
            rng = random.Random(seed0 + r)
            cut_at = rng.uniform(20, 40)
            radio = radio_model("sik-57600-fades", drops=((cut_at, 3.0),))
            _clear(sim)
            with FaultyLink(sim.connection_string, radio=radio, seed=seed0 + r) as proxy:
                code, out, secs = _cli_upload(plan, proxy.connection_string, "--reconnect", "30")
                fades = [f for f in proxy.channel.fades_so_far() if f[0] < secs]
                drops = list(proxy.drops_done)
            whole = _independent(sim)
            last = out.strip().splitlines()[-1] if out.strip() else ""
            row = dict(run=r + 1, exit=code, seconds=secs, whole=all(whole.values()),
                       lists=whole, fades=len(fades),
                       faded_s=sum(min(n, secs - a) for a, n in fades), drops=len(drops),
                       reconnected=out.count("is back after"), last=last)
            rows.append(row)
            print(f"  run {r + 1}: exit {code}, {secs:.0f} s, whole={row['whole']} "
                  f"({whole}), fades {row['fades']} ({row['faded_s']:.0f} s), drops "
                  f"{row['drops']}, reconnected {row['reconnected']}: {last[:120]}",
                  file=sys.stderr)
    ok = [r for r in rows if r["exit"] == 0 and r["whole"]]
    honest = all(r["whole"] or "On the vehicle now" in r["last"] for r in rows)
    return dict(rows=rows, whole=len(ok), runs=len(rows), honest_failures=honest,
                median_s=statistics.median(r["seconds"] for r in ok) if ok else None)


def _floor_s(n: int, baud: int) -> float:
    """Airtime of a write's frames at ``baud``: MISSION_COUNT, n requests, n items, the ack."""
    from pymavlink.dialects.v20 import ardupilotmega as M

    from uav.link.mission_transfer import encode_item

    class _L:
        mav = M.MAVLink(None, 255, 190)
        target_system = target_component = 1

    mission = _mission(n)
    size = len(M.MAVLink_mission_count_message(1, 1, n, 0).pack(_L.mav))
    size += len(M.MAVLink_mission_ack_message(255, 190, 0, 0).pack(_L.mav))
    for seq, item in enumerate(mission.items):
        size += len(encode_item(_L, item, seq, 0).pack(_L.mav))
        size += len(M.MAVLink_mission_request_message(255, 190, seq, 0).pack(_L.mav))
    return size * 10 / baud


def speed(sim, repeats: int = 3) -> list[dict]:
    """Verified upload vs MAVProxy's write on the radio shape alone, 57.6 and 19.2 kbaud."""
    from benchmarks.upload import _mavproxy, _write_waypoints
    from simulators.faults import FaultyLink
    from uav.items import MissionType
    from uav.link import connect
    from uav.link.upload import upload_verified

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wp = tmp / "radio.waypoints"
        _write_waypoints(wp, ITEMS)
        for preset, baud in (("sik-57600", 57600), ("sik-19200", 19200)):
            ours, writes, reads, theirs = [], [], [], []
            for r in range(repeats):
                _clear(sim)
                with FaultyLink(sim.connection_string, radio=preset, seed=200 + r) as proxy, \
                        connect(proxy.connection_string, timeout=20, stream_rate_hz=0) as link:
                    t = time.monotonic()
                    rep = upload_verified(link, _mission(), fence=False, rally=False)
                    ours.append(time.monotonic() - t)
                    lst = rep.lists[MissionType.MISSION]
                    writes.append(lst.upload.seconds)
                    reads.append(lst.readback.seconds)
                _clear(sim)
                with FaultyLink(sim.connection_string, radio=preset, seed=200 + r) as proxy:
                    res = _mavproxy(proxy.connection_string, wp, ITEMS, tmp)
                theirs.append(res["seconds"])
                print(f"  {preset} run {r + 1}: ours {ours[-1]:.1f} s (write {writes[-1]:.1f} "
                      f"+ read-back {reads[-1]:.1f}), MAVProxy write "
                      f"{res['seconds'] if res['seconds'] is None else round(res['seconds'], 1)}"
                      f" {res.get('error') or ''}", file=sys.stderr)
            good = [s for s in theirs if s is not None]
            rows.append(dict(radio=preset, ours=statistics.median(ours),
                             write=statistics.median(writes), read_back=statistics.median(reads),
                             mavproxy=statistics.median(good) if good else None,
                             mavproxy_ok=len(good), runs=repeats, floor=_floor_s(ITEMS, baud)))
    return rows


def soak(sim, runs: int) -> dict:
    """``uav upload`` on the plain lossy link, seeds 1..runs."""
    from simulators.faults import FaultyLink

    whole = silent = 0
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = _plan_file(Path(tmp), 30)
        for seed in range(1, runs + 1):
            with FaultyLink(sim.connection_string, drop=0.2, duplicate=0.05, reorder=0.05,
                            seed=seed) as proxy:
                code, out, _secs = _cli_upload(plan, proxy.connection_string)
            if code == 0:
                whole += 1
            else:
                last = out.strip().splitlines()[-1] if out.strip() else ""
                failures.append((seed, last))
                silent += "On the vehicle now" not in last
                print(f"  soak seed {seed}: {last[:160]}", file=sys.stderr)
    return dict(runs=runs, whole=whole, failures=failures, silent=silent)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.radio_upload")
    ap.add_argument("--backend", default="builtin", choices=("builtin", "ardupilot"))
    ap.add_argument("--runs", type=int, default=10, help="field runs (fades + one drop)")
    ap.add_argument("--speed", type=int, default=3, help="repeats of the speed rows (0: skip)")
    ap.add_argument("--soak", type=int, default=100, help="lossy-link soak runs (0: skip)")
    args = ap.parse_args(argv)
    from simulators.backend import start_vehicle

    extra = {"instance": None} if args.backend == "ardupilot" else {}
    with start_vehicle(backend=args.backend, home=HOME, speedup=1.0, **extra) as sim:
        print(f"vehicle: {args.backend}, real time; mission {ITEMS} items + 4 fence + 1 rally")
        if args.runs:
            f = field(sim, args.runs)
            med = f"{f['median_s']:.0f} s" if f["median_s"] else "--"
            print(f"field (sik-57600-fades, one drop per upload, uav upload --reconnect 30): "
                  f"{f['whole']}/{f['runs']} whole and verified by an independent read-back, "
                  f"median {med}; every failure said what the aircraft holds: "
                  f"{f['honest_failures']}")
        if args.speed:
            for row in speed(sim, args.speed):
                ratio = (f"{row['mavproxy'] / row['ours']:.2f}x" if row["mavproxy"] else "--")
                mp = f"{row['mavproxy']:.1f} s" if row["mavproxy"] else "failed"
                print(f"{row['radio']}: verified upload {row['ours']:.1f} s (write "
                      f"{row['write']:.1f} + read-back {row['read_back']:.1f}: verifying adds "
                      f"{100 * row['read_back'] / row['write']:.0f} %), MAVProxy write {mp} "
                      f"({row['mavproxy_ok']}/{row['runs']} done; ours/MAVProxy {ratio}), "
                      f"floor {row['floor']:.1f} s")
        if args.soak:
            s = soak(sim, args.soak)
            print(f"soak (20 % drop, 5 % duplicates, 5 % reordering, seeds 1-{s['runs']}): "
                  f"{s['whole']}/{s['runs']} whole; silent failures {s['silent']}")


if __name__ == "__main__":
    main()
