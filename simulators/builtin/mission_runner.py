"""The built-in copter's AUTO mission execution, camera triggering, RTL and landing,
and NAV command verification: a part of :class:`~simulators.builtin.vehicle.Vehicle`
(its state lives there; see that module for the ArduCopter rules followed)."""

from __future__ import annotations

import math

from .flight import Target
from .modes import (
    MODES,
    CameraTrigger,
    M,
    cmd_short,
)
from .storage import NAV_COMMANDS, StoredItem


class MissionRunner:
    """Mission, camera, RTL and landing behaviour of :class:`Vehicle` (a mixin)."""

    # --- camera ---------------------------------------------------------------------------------
    def take_picture(self, at: tuple[float, float, float] | None = None) -> None:
        if int(self.params["CAM1_TYPE"]) == 0:
            return
        t = self.now()
        if t - self.cam_last_time < self.params["CAM1_INTRVAL_MIN"]:
            return
        self.cam_last_time = t
        n, e, u = at if at is not None else (self.k.n, self.k.e, self.k.u)
        lon, lat = self.frame.to_lonlat(e, n)
        self.image_count += 1
        trig = CameraTrigger(self.image_count, int(t * 1e6), lat, lon, self.home_alt + u, u,
                             self.k.roll, self.k.pitch, self.k.yaw)
        self.cam_last = (n, e)
        self.broadcast(M.MAVLink_camera_feedback_message(
            trig.time_usec, 0, 0, trig.img_idx, int(round(lat * 1e7)), int(round(lon * 1e7)),
            trig.alt_msl, trig.alt_rel, trig.roll, trig.pitch, trig.yaw, 0.0,
            M.CAMERA_FEEDBACK_PHOTO, trig.img_idx))
        for cb in list(self.camera_callbacks):
            cb(trig)

    def _camera_distance(self, n0: float, e0: float) -> None:
        if self.cam_trigg_dist <= 0 or not self.armed or self.landed:
            return
        if int(self.params["CAM_AUTO_ONLY"]) and self.mode != MODES["AUTO"]:
            return
        if self.cam_last is None:
            self.cam_last = (n0, e0)
        d = self.cam_trigg_dist
        # several shots may fall inside one step at high speed: place each on the path
        while True:
            ln, le = self.cam_last
            dn, de = self.k.n - n0, self.k.e - e0
            seg = math.hypot(dn, de)
            if math.hypot(self.k.n - ln, self.k.e - le) < d or seg < 1e-9:
                return
            # solve |p0 + s*(p1-p0) - last| = d for s in [0,1]
            fx, fy = n0 - ln, e0 - le
            a = dn * dn + de * de
            b = 2 * (fx * dn + fy * de)
            c = fx * fx + fy * fy - d * d
            disc = max(0.0, b * b - 4 * a * c)
            s = (-b + math.sqrt(disc)) / (2 * a)
            s = min(1.0, max(0.0, s))
            pn, pe = n0 + s * dn, e0 + s * de
            before = self.image_count
            self.take_picture((pn, pe, self.k.u))
            if self.image_count == before:  # held back by the minimum interval
                self.cam_last = (pn, pe)
            n0, e0 = pn, pe

    # --- mission execution ---------------------------------------------------------------------
    def _start_or_resume(self) -> None:
        if self.mission.count() <= 1:
            return
        if self.mission_state in (M.MISSION_STATE_COMPLETE, M.MISSION_STATE_NO_MISSION,
                                  M.MISSION_STATE_NOT_STARTED) or self.mission_current < 1:
            self.jump_counts.clear()
            self._begin_from(1)
        else:
            self._begin_from(self.mission_current)

    def _begin_from(self, seq: int) -> None:
        self.mission_state = M.MISSION_STATE_ACTIVE
        idx, later = self._advance(seq)
        if idx is None:
            self._mission_complete()
        else:
            self._start_nav(idx, later)

    def _advance(self, start: int) -> tuple[int | None, list[int]]:
        """Run DO commands from ``start`` up to the next NAV command; return its index and the
        DO commands left to run once it has started.

        AP_Mission starts one DO command while it looks for the next NAV command and the rest
        after that NAV command has started, one per loop: SITL 4.7 says "Mission: 3
        ChangeSpeed", "Mission: 5 WP", "Mission: 4 SetCamTrigDst" for DO, DO, NAV.
        """
        i = start
        guard = 0
        later: list[int] = []
        started_one = False
        while i < self.mission.count():
            guard += 1
            if guard > 2000:
                return None
            it = self.mission.get(i)
            if it.command == M.MAV_CMD_DO_JUMP:
                target, times = int(it.param1), int(it.param2)
                if times < 0:
                    i = target
                    continue
                left = self.jump_counts.setdefault(i, times)
                if left > 0:
                    self.jump_counts[i] = left - 1
                    # as AP_Mission words it (SITL 4.7): "Mission: 4 Jump 1/2"
                    self.send_text(M.MAV_SEVERITY_INFO,
                                   f"Mission: {i} Jump {times - left + 1}/{times}")
                    i = target
                    continue
                i += 1
                continue
            if it.command in NAV_COMMANDS:
                return i, later
            if not started_one:
                self._do_command(i, it)
                started_one = True
            else:
                later.append(i)
            i += 1
        for j in later:  # no NAV command left: the mission ends, its last DOs done
            self._do_command(j, self.mission.get(j))
        return None, []

    def _do_command(self, idx: int, it: StoredItem) -> None:
        self.send_text(M.MAV_SEVERITY_INFO, f"Mission: {idx} {cmd_short(it.command)}")
        c = it.command
        if c == M.MAV_CMD_DO_CHANGE_SPEED:
            self.change_speed(it.param2)
        elif c == M.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
            self.set_cam_trigg_dist(it.param1, trigger_now=int(it.param3) == 1)
        elif c == M.MAV_CMD_DO_DIGICAM_CONTROL:
            if int(it.x) == 1:
                self.take_picture()
        elif c == M.MAV_CMD_IMAGE_START_CAPTURE:
            self.take_picture()
        elif c == M.MAV_CMD_DO_FENCE_ENABLE:
            self.params.set("FENCE_ENABLE", 1 if int(it.param1) == 1 else 0)

    def _start_nav(self, idx: int, later: list[int] = ()) -> None:
        it = self.mission.get(idx)
        self.mission_current = idx
        self.send_text(M.MAV_SEVERITY_INFO, f"Mission: {idx} {cmd_short(it.command)}")
        self.broadcast_mission_current()
        for j in later:
            self._do_command(j, self.mission.get(j))
        c = it.command
        nav = {"index": idx, "item": it, "phase": "goto", "target": None, "t0": None}
        if c == M.MAV_CMD_NAV_TAKEOFF:
            up = max(self._item_target_up(it), 1.0) if it.z > 0 else 1.0
            if not self.landed and self.k.u >= up:
                up = self.k.u
            self.landed = False
            nav["target"] = self._target(self.k.n, self.k.e, up)
        elif c == M.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self._start_rtl()
            nav["phase"] = "rtl"
        elif c == M.MAV_CMD_NAV_LAND:
            n, e = self._item_ne(it)
            nav["target"] = self._target(n, e, self.k.u)
            nav["phase"] = "land_goto"
        else:
            n, e = self._item_ne(it)
            up = self._item_target_up(it) if (it.x or it.y or it.z) else self.k.u
            if c == M.MAV_CMD_NAV_LOITER_TURNS or c == M.MAV_CMD_NAV_LOITER_UNLIM:
                pass
            nav["target"] = self._target(n, e, up, arrive=self._arrive_speed(idx, n, e))
        self.nav = nav

    def _arrive_speed(self, idx: int, n: float, e: float) -> float:
        """Speed to pass a plain waypoint at: full on a straight line, less at a corner."""
        it = self.mission.get(idx)
        if it.command != M.MAV_CMD_NAV_WAYPOINT or it.param1 > 0:
            return 0.0
        j = idx + 1
        while j < self.mission.count():
            nxt = self.mission.get(j)
            if nxt.command in NAV_COMMANDS:
                break
            if nxt.command == M.MAV_CMD_DO_JUMP:
                return 0.0
            j += 1
        else:
            return 0.0
        if nxt.command != M.MAV_CMD_NAV_WAYPOINT:
            return 0.0
        n2, e2 = self._item_ne(nxt) if (nxt.x or nxt.y) else (n, e)
        a1 = math.atan2(e - self.k.e, n - self.k.n)
        a2 = math.atan2(e2 - e, n2 - n)
        turn = abs((a2 - a1 + math.pi) % (2 * math.pi) - math.pi)
        return self.wp_speed() * max(0.0, math.cos(turn)) if turn < math.pi / 2 else 0.0

    def _nav_done(self) -> None:
        idx = self.nav["index"]
        self.reached.append(idx)
        self.broadcast(M.MAVLink_mission_item_reached_message(idx))
        if self.mission.get(idx).command in (M.MAV_CMD_NAV_WAYPOINT,
                                             M.MAV_CMD_NAV_SPLINE_WAYPOINT,
                                             M.MAV_CMD_NAV_LOITER_TIME):
            # ArduCopter says this for waypoints and LOITER_TIME (SITL 4.7), not for takeoff,
            # LOITER_TURNS or RTL
            self.send_text(M.MAV_SEVERITY_INFO, f"Reached command #{idx}")
        self.nav = None
        nxt, later = self._advance(idx + 1)
        if nxt is None:
            self._mission_complete()
        else:
            self._start_nav(nxt, later)

    def _mission_complete(self) -> None:
        self.nav = None
        self.mission_state = M.MISSION_STATE_COMPLETE
        self.hold_point = (self.k.n, self.k.e, self.k.u)
        self.broadcast_mission_current()

    def broadcast_mission_current(self) -> None:
        self.broadcast(self.mission_current_message())

    def mission_current_message(self):
        total = max(0, self.mission.count() - 1)
        state = self.mission_state
        if self.mission.count() <= 1:
            state = M.MISSION_STATE_NO_MISSION
        elif state == M.MISSION_STATE_NO_MISSION:
            state = M.MISSION_STATE_NOT_STARTED
        return M.MAVLink_mission_current_message(
            self.mission_current, total, state, 1 if self.mode == MODES["AUTO"] else 0)

    # --- RTL / land ---------------------------------------------------------------------------
    def _start_rtl(self) -> None:
        rtl_alt = max(self.params["RTL_ALT"] / 100.0, self.k.u)
        self.rtl = {"phase": "climb", "alt": rtl_alt, "t0": None}

    def _rtl_target(self) -> tuple[Target | None, bool]:
        """Target for the RTL/LAND sequence, and whether it has landed."""
        r = self.rtl
        p = self.params
        speed = p["RTL_SPEED"] / 100.0 if p["RTL_SPEED"] > 0 else self.wp_speed()
        if r["phase"] == "climb":
            if self.k.u >= r["alt"] - 0.2 or self.landed:
                r["phase"] = "return"
            else:
                return self._target(self.k.n, self.k.e, r["alt"]), False
        if r["phase"] == "return":
            if math.hypot(self.k.n, self.k.e) < 1.0 and self.k.groundspeed < 0.5:
                r["phase"] = "loiter"
                r["t0"] = self.now()
            else:
                return self._target(0.0, 0.0, r["alt"], speed=speed), False
        if r["phase"] == "loiter":
            if self.now() - r["t0"] >= p["RTL_LOIT_TIME"] / 1000.0:
                final = p["RTL_ALT_FINAL"] / 100.0
                r["phase"] = "final" if final > 0 else "land"
            else:
                return self._target(0.0, 0.0, r["alt"]), False
        if r["phase"] == "final":
            return self._target(0.0, 0.0, p["RTL_ALT_FINAL"] / 100.0), False
        # land: straight down where we are
        low = p["LAND_ALT_LOW"] / 100.0
        high_speed = p["LAND_SPEED_HIGH"] / 100.0 or p["WPNAV_SPEED_DN"] / 100.0
        speed_dn = high_speed if self.k.u > low else p["LAND_SPEED"] / 100.0
        if self.k.u <= 0.02:
            return None, True
        t = self._target(self.k.n, self.k.e, -1.0)
        t.descent = speed_dn
        return t, False

    def _verify_nav(self) -> None:
        if self.rtl is not None and self.mode != MODES["AUTO"]:
            return
        if self.mode != MODES["AUTO"] or self.nav is None or not self.armed or self.paused:
            return
        nav = self.nav
        it = nav["item"]
        c = it.command
        t = self.now()
        radius = max(0.5, self.params["WPNAV_RADIUS"] / 100.0)
        if nav["phase"] == "rtl":
            # RTL inside a mission: handled by the RTL sequence; completes on touchdown
            return
        tgt = nav["target"]
        if nav["phase"] in ("goto", "land_goto"):
            dh, dv = self.k.distance_to(tgt)
            if c == M.MAV_CMD_NAV_TAKEOFF:
                if self.k.u >= tgt.up - 0.2:
                    self._nav_done()
                return
            arrived = dh <= radius and abs(dv) <= 1.0
            if tgt.arrive_speed == 0.0:
                arrived = arrived and self.k.groundspeed < max(1.0, 0.3 * self.wp_speed())
            if not arrived:
                return
            if nav["phase"] == "land_goto":
                nav["phase"] = "land"
                return
            if c == M.MAV_CMD_NAV_WAYPOINT and it.param1 > 0 or c == M.MAV_CMD_NAV_LOITER_TIME:
                nav["phase"] = "hold"
                nav["t0"] = t
                return
            if c == M.MAV_CMD_NAV_LOITER_TURNS:
                self._start_circle(nav)
                return
            if c == M.MAV_CMD_NAV_LOITER_UNLIM:
                nav["phase"] = "hold"
                nav["t0"] = math.inf
                return
            self._nav_done()
        elif nav["phase"] == "hold":
            if t - nav["t0"] >= it.param1:
                self._nav_done()
        elif nav["phase"] == "to_edge":
            dh, dv = self.k.distance_to(tgt)
            if dh <= radius and self.k.groundspeed < 1.0:
                nav.update(phase="circle", t_last=t)
        elif nav["phase"] == "circle":
            self._circle_step(nav)

    def _start_circle(self, nav: dict) -> None:
        """Arrived over the loiter centre: fly out to the circle's edge, then circle."""
        it = nav["item"]
        r = abs(it.param3) if it.param3 else self.params["CIRCLE_RADIUS"] / 100.0
        c = nav["target"]
        angle = math.radians(self.k.yaw)
        nav.update(center=(c.north, c.east, c.up), radius=max(r, 0.0), turned=0.0,
                   angle=angle, ccw=it.param3 < 0, turns=max(1.0, it.param1))
        if r <= 0:
            nav.update(phase="circle", t_last=self.now())
            return
        nav["phase"] = "to_edge"
        nav["target"] = self._target(c.north + r * math.cos(angle), c.east + r * math.sin(angle),
                                     c.up)

    def _circle_step(self, nav: dict) -> None:
        t = self.now()
        dt = t - nav["t_last"]
        nav["t_last"] = t
        r = nav["radius"]
        speed = self.wp_speed()
        omega = math.radians(self.params["CIRCLE_RATE"])
        if r > 0:
            omega = min(omega, speed / r)
        d = omega * dt
        nav["turned"] += d
        nav["angle"] += -d if nav["ccw"] else d
        cn, ce, _ = nav["center"]
        a = nav["angle"]
        self.k.n = cn + r * math.cos(a)
        self.k.e = ce + r * math.sin(a)
        # the circle's own velocity, not the step's displacement over dt: the server's last
        # step in a tick can be microseconds long, and a centimetre over it read as hundreds
        # of m/s, which RTL then spent an hour braking from (seen as a rehearsal that never
        # ended on a loaded machine)
        w = -omega if nav["ccw"] else omega
        self.k.vn, self.k.ve = -r * math.sin(a) * w, r * math.cos(a) * w
        if nav["turned"] >= nav["turns"] * 2 * math.pi:
            self._nav_done()
