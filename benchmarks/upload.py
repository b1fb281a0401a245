"""Mission upload time: our verified upload (write + read-back + compare) next to MAVProxy's
unverified ``wp load``, on the same simulated copter and the same (clean or lossy) link.

``python -m benchmarks.upload`` prints a table; ``run() -> dict`` returns the figures.

Both ground stations run as separate processes, so neither shares the vehicle's interpreter.
The vehicle is the built-in ArduPilot-compatible copter at real-time speed (its re-request and
cancel timers as ArduPilot's) and, when an ``arducopter`` SITL binary is found (ARDUPILOT_SITL,
PATH or ../shared/sitl/), ArduPilot's own SITL at speed-up 1, where the vehicle sets the pace;
the lossy link is the fault proxy (drop 10 %, duplicate and
reorder 2.5 % each way).  Each upload is checked afterwards over a clean link: did the whole
mission arrive?  Timing: ours from the call to the verified result (connecting excluded);
MAVProxy from writing ``wp load`` on its console to its "Sent all N waypoints" (its own
"Loaded N waypoints in X s" is shown too).  Runs alternate between the tools; each cell is
the median with min-max.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HOME = (43.1, 131.5, 120.0, 0.0)
SIZES = (50, 500)
LOSS = 0.10
MAVPROXY_TIMEOUT_S = 60.0

# Our client: read the same .waypoints file, upload it verified, print the seconds taken.
OUR_CLIENT = r"""
import json, sys, time
from uav.items import MissionItem, Mission
from uav.link import connect
from uav.link.upload import upload_verified

url, path = sys.argv[1], sys.argv[2]
items = []
for line in open(path).read().splitlines()[1:]:
    f = line.split("\t")
    items.append(MissionItem(int(f[3]), int(f[2]), *map(float, f[4:8]), float(f[8]),
                             float(f[9]), float(f[10]), bool(int(f[11]))))
with connect(url, timeout=20) as link:
    t = time.perf_counter()
    phases = {}
    try:
        rep = upload_verified(link, Mission(items), fence=False, rally=False)
        ok = None
        lst = rep.lists[0]  # the mission list: its write and read-back, timed separately
        phases = {"write": lst.upload.seconds, "read_back": lst.readback.seconds}
    except Exception as exc:  # report, do not crash the benchmark
        ok = str(exc)
    print(json.dumps({"seconds": time.perf_counter() - t, "error": ok, **phases}))
"""


def _write_waypoints(path: Path, n: int) -> None:
    """A survey-like mission of ``n`` items (home + n-1 waypoints) as QGC WPL 110."""
    lines = ["QGC WPL 110"]
    lines.append("\t".join(map(str, [0, 1, 0, 16, 0, 0, 0, 0, f"{HOME[0]:.8f}",
                                     f"{HOME[1]:.8f}", f"{HOME[2]:.3f}", 1])))
    for i in range(1, n):
        lat = HOME[0] + (i // 25) * 2e-4
        lon = HOME[1] + (i % 25) * 3e-4
        lines.append("\t".join(map(str, [i, 0, 3, 16, 0, 0, 0, 0, f"{lat:.8f}", f"{lon:.8f}",
                                         f"{40 + (i % 5) * 0.5:.3f}", 1])))
    path.write_text("\n".join(lines) + "\n")


def _ours(url: str, wp: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", OUR_CLIENT, url, str(wp)], capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        return {"seconds": None, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mavproxy_bin() -> str | None:
    cand = Path(sys.executable).with_name("mavproxy.py")
    return str(cand) if cand.exists() else None


def _mavproxy(url: str, wp: Path, n: int, workdir: Path) -> dict:
    """Drive ``mavproxy.py`` through its console: connect, settle, ``wp load``, time it."""
    exe = _mavproxy_bin()
    if exe is None:
        return {"seconds": None, "error": "mavproxy.py not installed (pip install MAVProxy)"}
    proc = subprocess.Popen(
        [sys.executable, "-u", exe, f"--master={url}", "--default-modules=wp",
         f"--state-basedir={workdir}", "--streamrate=-1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=workdir)
    lines: list[tuple[float, str]] = []
    online = threading.Event()
    done = threading.Event()

    def reader():
        for line in proc.stdout:
            lines.append((time.perf_counter(), line.rstrip()))
            if "online system" in line:
                online.set()
            # done when all are sent, or the vehicle gave up (INVALID_SEQUENCE is not fatal)
            if f"Sent all {n} waypoints" in line or "MISSION_ACK" in line and not any(
                    ok in line for ok in ("ACCEPTED", "INVALID_SEQUENCE")):
                done.set()

    threading.Thread(target=reader, daemon=True).start()
    try:
        if not online.wait(30):
            return {"seconds": None, "error": "MAVProxy did not connect"}
        time.sleep(2.0)  # let its start-up downloads finish so they do not share the link
        start = time.perf_counter()
        proc.stdin.write(f"wp load {wp}\n")
        proc.stdin.flush()
        if not done.wait(MAVPROXY_TIMEOUT_S):
            return {"seconds": None, "error": f"no 'Sent all {n} waypoints' within "
                                              f"{MAVPROXY_TIMEOUT_S:.0f} s"}
        end = next((t for t, s in lines if f"Sent all {n} waypoints" in s), None)
        if end is None:
            fatal = [s for _t, s in lines if "MISSION_ACK" in s and "INVALID_SEQUENCE" not in s]
            return {"seconds": None, "error": fatal[-1] if fatal else "unknown"}
        # MAVProxy's own figure, MISSION_COUNT sent -> last item sent ("Loaded N waypoints in
        # X s"): excludes reading the console and the file, so it flatters MAVProxy slightly.
        own = next((float(m[1]) for _t, s in lines
                    if (m := re.search(rf"Loaded {n} waypoints in ([0-9.]+)s", s))), None)
        return {"seconds": end - start, "error": None, "own": own}
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _held(url: str) -> int:
    """Items the vehicle holds now (home included), read over a clean link."""
    from uav.items import MissionType
    from uav.link import connect
    from uav.link.mission_transfer import MissionTransfer

    with connect(url, timeout=10, identify=False, stream_rate_hz=0) as link:
        return len(MissionTransfer(link).download(MissionType.MISSION).items)


def _clear(url: str) -> None:
    from uav.items import MissionType
    from uav.link import connect
    from uav.link.mission_transfer import MissionTransfer

    with connect(url, timeout=10, identify=False, stream_rate_hz=0) as link:
        MissionTransfer(link).clear(MissionType.MISSION)


def _one(tool: str, sim, wp: Path, n: int, loss: float, workdir: Path, seed: int) -> dict:
    from simulators.faults import FaultyLink

    _clear(sim.connection_string)
    if loss:
        with FaultyLink(sim.connection_string, drop=loss, duplicate=loss / 4,
                        reorder=loss / 4, seed=seed) as proxy:
            res = (_ours(proxy.connection_string, wp) if tool == "ours"
                   else _mavproxy(proxy.connection_string, wp, n, workdir))
    else:
        res = (_ours(sim.connection_string, wp) if tool == "ours"
               else _mavproxy(sim.connection_string, wp, n, workdir))
    held = _held(sim.connection_string)
    res["whole"] = held == n
    res["held"] = held
    return res


def _summary(runs: list[dict]) -> dict:
    """Median and spread of the runs' seconds; ``whole`` only if every run arrived whole."""
    secs = [r["seconds"] for r in runs if r["seconds"] is not None and r["whole"]]
    out = {"runs": runs, "n": len(runs), "ok": len(secs),
           "whole": all(r["whole"] for r in runs),
           "errors": [str(r["error"]) for r in runs if r.get("error")]}
    if secs:
        out.update(median=statistics.median(secs), min=min(secs), max=max(secs))
    for key in ("write", "read_back", "own"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if vals:
            out[key] = statistics.median(vals)
    return out


def run(sizes=SIZES, loss: float = LOSS, repeats: int = 5, lossy_repeats: int = 1,
        backend: str = "builtin", sitl_bin=None) -> dict:
    """Measure and return ``{"rows": [...], "speedup_500_clean": x, ...}``.

    Each cell is ``repeats`` runs (``lossy_repeats`` on the lossy link, seeded), the two tools
    alternating run by run so a change in machine load hits both alike; figures are medians
    with min-max.  A run counts only if the whole mission arrived.
    """
    from simulators.backend import start_vehicle

    rows = []
    with tempfile.TemporaryDirectory() as tmp, start_vehicle(backend=backend, home=HOME,
                                                             speedup=1.0,
                                                             sitl_bin=sitl_bin) as sim:
        tmp = Path(tmp)
        for n in sizes:
            wp = tmp / f"survey{n}.waypoints"
            _write_waypoints(wp, n)
            for link_loss in (0.0, loss):
                row = {"items": n, "link": f"{link_loss:.0%} loss" if link_loss else "clean"}
                runs = {"ours": [], "mavproxy": []}
                for r in range(repeats if not link_loss else lossy_repeats):
                    for tool in ("ours", "mavproxy"):
                        res = _one(tool, sim, wp, n, link_loss, tmp, seed=11 + r)
                        runs[tool].append(res)
                        extra = "".join(f"  {k}={res[k]:.3f}" for k in ("write", "read_back",
                                                                          "own")
                                        if res.get(k) is not None)
                        print(f"  {n:4d} items, {row['link']:9s} {tool:8s}: "
                              f"{_fmt(res['seconds'])}  whole={res['whole']}{extra}"
                              + (f"  ({res['error']})" if res.get("error") else ""),
                              file=sys.stderr)
                row["ours"] = _summary(runs["ours"])
                row["mavproxy"] = _summary(runs["mavproxy"])
                rows.append(row)
    out = {"rows": rows}
    for row in rows:
        o, m = row["ours"].get("median"), row["mavproxy"].get("median")
        if o and m:
            key = f"speedup_{row['items']}_{'clean' if row['link'] == 'clean' else 'lossy'}"
            out[key] = round(m / o, 2)
    return out


def _fmt(s) -> str:
    return f"{s:7.3f} s" if s is not None else "   --   "


def _cell(c: dict) -> str:
    if "median" not in c:
        return "failed"
    spread = f" ({c['min']:.3f}-{c['max']:.3f})" if c["ok"] > 1 else ""
    return f"{c['median']:.3f} s{spread}"


SHARED_SITL = Path(__file__).resolve().parents[1].parent / "shared" / "sitl" / "arducopter"


def _sitl_binary():
    """The real SITL to measure on too: ARDUPILOT_SITL / PATH, else ../shared/sitl/."""
    from simulators.backend import find_sitl

    found = find_sitl()
    if found is None and SHARED_SITL.is_file():
        found = SHARED_SITL
    return found


def _table(res: dict) -> None:
    print(f"{'items':>5} {'link':10} {'ours (verified)':>24} {'MAVProxy wp load':>24} "
          f"{'ratio':>6}  whole (ours / MAVProxy)")
    for row in res["rows"]:
        o, m = row["ours"], row["mavproxy"]
        ratio = (f"{m['median'] / o['median']:.1f}x" if "median" in o and "median" in m
                 else "--")
        print(f"{row['items']:>5} {row['link']:10} {_cell(o):>24} {_cell(m):>24} {ratio:>6}  "
              f"{o['whole']} / {m['whole']}"
              + (f" (MAVProxy: {m['errors'][-1]})" if m["errors"] else "")
              + (f" (ours: {o['errors'][-1]})" if o["errors"] else ""))
        if "write" in o:
            own = f", MAVProxy's own 'Loaded in' {m['own']:.3f} s" if "own" in m else ""
            print(f"{'':17}ours: write {o['write']:.3f} s + read-back {o['read_back']:.3f} s"
                  f"{own}")


def main() -> None:
    print("Mission upload on the built-in copter (real-time), ours = write + read-back + "
          "compare, MAVProxy = wp load (write only), from the command to the last item; "
          "median (min-max) of the runs", file=sys.stderr)
    res = run()
    print("built-in copter, real time:")
    _table(res)
    target = res.get("speedup_500_clean")
    if target is not None:
        print(f"target: verified 500 items at least 2x faster than MAVProxy on a clean link "
              f"(ratio of medians): {target:.2f}x {'MET' if target >= 2 else 'NOT MET'}")
    binary = _sitl_binary()
    if binary is None:
        print("real ArduPilot SITL: skipped, no arducopter binary (ARDUPILOT_SITL, PATH or "
              "../shared/sitl/)")
        return
    print(f"Same on ArduPilot SITL ({binary}, speed-up 1): the vehicle sets the pace",
          file=sys.stderr)
    sitl = run(sizes=(500,), repeats=3, lossy_repeats=1, backend="ardupilot", sitl_bin=binary)
    print("real ArduPilot SITL (arducopter 4.7), speed-up 1:")
    _table(sitl)


if __name__ == "__main__":
    os.environ.setdefault("MAVLINK20", "1")
    main()
