"""The built-in copter's fence and battery failsafes, worded as AC_Fence and AP_BattMonitor
do: a part of :class:`~simulators.builtin.vehicle.Vehicle` (a mixin; its state lives there)."""

from __future__ import annotations

import math

from .flight import FenceShapes
from .modes import MODES, M, fence_names


class Failsafes:
    """Fence shapes, breaches and battery failsafes of :class:`Vehicle` (a mixin)."""

    # --- failsafes --------------------------------------------------------------------------------
    def fence_shapes(self) -> FenceShapes | None:
        if self._fence_version == self.fence.version:
            return self._fence_shapes
        self._fence_version = self.fence.version
        shapes = FenceShapes([], [], [], [])
        items = self.fence.items
        i = 0
        ok = True
        while i < len(items):
            it = items[i]
            c = it.command
            if c in (M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                     M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION):
                nv = int(it.param1)
                poly = [self.frame.to_metric(v.lon, v.lat)[::-1] for v in items[i:i + nv]]  # (n, e)
                if nv < 3 or len(poly) < nv:
                    ok = False
                    break
                (shapes.inclusion_polygons if c == M.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
                 else shapes.exclusion_polygons).append(poly)
                i += nv
                continue
            e, n = self.frame.to_metric(it.lon, it.lat)
            if c == M.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION:
                shapes.inclusion_circles.append((n, e, it.param1))
            elif c == M.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION:
                shapes.exclusion_circles.append((n, e, it.param1))
            elif c == M.MAV_CMD_NAV_FENCE_RETURN_POINT:
                shapes.return_point = (n, e)
            i += 1
        self._fence_shapes = shapes if ok else None
        return self._fence_shapes

    def _current_breaches(self) -> list[str]:
        return self._breaches_at(self.k.n, self.k.e, self.k.u)

    def _breaches_at(self, n: float, e: float, up: float) -> list[str]:
        p = self.params
        ftype = int(p["FENCE_TYPE"])
        out = []
        if ftype & 1 and up > p["FENCE_ALT_MAX"]:
            out.append("Max Alt")
        if ftype & 2 and math.hypot(n, e) > p["FENCE_RADIUS"]:
            out.append("Circle")
        shapes = self.fence_shapes()
        if ftype & 4 and shapes is not None:
            for b in shapes.breaches(n, e):
                if b == "Circle" and "Circle" in out:
                    continue
                out.append(b)
        return out

    def _check_fence(self) -> None:
        if not int(self.params["FENCE_ENABLE"]) or not self.armed or self.landed:
            self.fence_breached = []
            return
        breaches = self._current_breaches()
        new = [b for b in breaches if b not in self.fence_breached]
        if self.fence_breached and not breaches:
            # Copter::fence_check, once every breach is gone (SITL 4.7: a circle breach clears
            # as soon as the copter is back within FENCE_RADIUS, during the RTL it caused)
            self.send_text(M.MAV_SEVERITY_NOTICE, "Fence breach cleared")
        self.fence_breached = breaches
        if not new:
            return
        self.fence_breach_count += 1
        self.send_text(M.MAV_SEVERITY_NOTICE, f"{fence_names(new)} breached")
        action = int(self.params["FENCE_ACTION"])
        if action == 0 or self.mode in (MODES["RTL"], MODES["LAND"]):
            return
        if action == 2:
            self.set_mode(MODES["LAND"], "fence")
        elif action == 4:
            self.set_mode(MODES["BRAKE"], "fence")
        elif self.set_mode(MODES["RTL"], "fence") is not None:
            self.set_mode(MODES["LAND"], "fence")

    def destination_outside_fence(self, n: float, e: float, up: float) -> bool:
        """AC_Fence::check_destination_within_fence, negated: ArduCopter's GUIDED refuses a
        destination beyond an enabled fence (SITL answers a "fly here" there with an ERROR)."""
        return bool(int(self.params["FENCE_ENABLE"])) and bool(self._breaches_at(n, e, up))

    def _check_battery(self) -> None:
        p = self.params
        if self.batt_failsafe or not self.armed:
            return
        now = self.now()
        low_mah = p["BATT_LOW_MAH"] > 0 and self.battery.remaining_mah < p["BATT_LOW_MAH"]
        low_volt = False
        if p["BATT_LOW_VOLT"] > 0 and self.battery.voltage < p["BATT_LOW_VOLT"]:
            if self.batt_low_since is None:
                self.batt_low_since = now
            low_volt = now - self.batt_low_since >= p["BATT_LOW_TIMER"]
        else:
            self.batt_low_since = None
        if not (low_mah or low_volt):
            return
        self.batt_failsafe = True
        self.send_text(M.MAV_SEVERITY_CRITICAL,
                       f"Battery 1 is low {self.battery.voltage:.2f}V used "
                       f"{self.battery.consumed_mah:.0f} mAh")
        action = int(p["BATT_FS_LOW_ACT"])
        if action == 0 or self.landed:
            return
        if action in (1, 4, 7):
            self.set_mode(MODES["LAND"], "battery")
        elif action in (2, 3, 6):
            if self.set_mode(MODES["RTL"], "battery") is not None:
                self.set_mode(MODES["LAND"], "battery")
