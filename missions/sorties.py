"""Cutting a plan into sorties (one battery each) and sharing a sector among drones.

Sorties are cut at leg boundaries.  Each sortie takes off from home, flies to its first leg,
flies consecutive legs, and comes home; the next sortie starts again at the last leg of the
previous one (one line repeated, so a gap cannot open where a sortie ended early).

Drones share a sector by lines: the transects, ordered across the sweep direction, are cut
into N contiguous bands of (nearly) equal estimated flight time.  Each team flies a strip of
whole lines; the strips are stacked perpendicular to the line direction, so no line is cut
and no extra turns appear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from uav.errors import PlanningError


def split_sorties(leg_times_s: Sequence[float], link_times_s: Sequence[float], *,
                  budget_s: float, overhead_s: Callable[[int, int], float],
                  exact: Callable[[int, int], tuple[float, int]] | None = None,
                  leg_items: Sequence[int] | None = None, item_budget: int | None = None,
                  overlap: int = 1, describe: Callable[[int], str] | None = None) -> list[tuple[int, int]]:
    """Cut an ordered list of legs into sorties that each fit the budget.

    Parameters
    ----------
    leg_times_s : sequence of float
        Time to fly each leg (turnarounds included).
    link_times_s : sequence of float
        Time of the transit from leg ``k`` to leg ``k + 1`` (``len(legs) - 1`` values).
    budget_s : float
        Usable flight time of one battery.
    overhead_s : callable ``(i, j) -> seconds``
        Cost of a sortie flying legs ``i..j`` beyond the legs and links: takeoff, transit from
        home, transit back, landing.  May be an under-estimate when ``exact`` is given.
    exact : callable ``(i, j) -> (seconds, items)``, optional
        The true time and item count of a candidate sortie; sorties are shortened until it
        fits.
    leg_items, item_budget : optional
        Mission items of each leg and the most a sortie may hold (vehicle storage).
    overlap : int
        Legs repeated at the start of the next sortie (1 = one line).
    describe : callable ``i -> str``, optional
        Names leg ``i`` for the ranger in the error message (where it is, how far from home).

    Returns
    -------
    list of (first, last)
        Inclusive leg index ranges, in flight order.

    Raises
    ------
    PlanningError
        When a single leg cannot be flown on one battery.
    """
    n = len(leg_times_s)
    if n == 0:
        return []
    legs = np.asarray(leg_times_s, dtype=float)
    links = np.r_[np.asarray(link_times_s, dtype=float), 0.0][:n]
    # cum[k] = time from the start of leg 0 to the end of leg k-1 including links between.
    cum = np.r_[0.0, np.cumsum(legs + links)]
    icum = np.r_[0, np.cumsum(np.asarray(leg_items if leg_items is not None else np.zeros(n)))]
    out = []
    i = 0
    while i < n:
        def chain(j, i=i):
            return cum[j + 1] - cum[i] - links[j]
        # Furthest j by the cheap estimate.
        j = i
        while j + 1 < n and chain(j + 1) + overhead_s(i, j + 1) <= budget_s and (
                item_budget is None or icum[j + 2] - icum[i] <= item_budget):
            j += 1
        while True:
            if exact is not None:
                t, items = exact(i, j)
            else:
                t, items = chain(j) + overhead_s(i, j), int(icum[j + 1] - icum[i])
            if t <= budget_s and (item_budget is None or items <= item_budget):
                break
            if j == i:
                why = (f"{t / 60:.1f} min with transits, battery allows {budget_s / 60:.1f} min"
                       if t > budget_s else f"{items} mission items, the vehicle takes {item_budget}")
                what = describe(i) if describe is not None else f"leg {i + 1}"
                raise PlanningError(
                    f"{what} cannot be flown in one sortie ({why}); fly it from a launch "
                    "point closer to it (--home), lower the overlap, or use a bigger battery")
            j -= 1
        out.append((i, j))
        if j == n - 1:
            break
        i = max(j + 1 - overlap, i + 1)
    return out


def split_among_drones(line_times_s: Sequence[float], n: int) -> list[tuple[int, int]]:
    """Cut a sequence of lines into ``n`` contiguous bands of balanced flight time.

    Minimises the longest band's total time (binary search over the bound with a greedy
    fill), which for contiguous bands is the balanced answer.

    Parameters
    ----------
    line_times_s : sequence of float
        Estimated time of each line, in sweep order.
    n : int
        Number of drones (teams).

    Returns
    -------
    list of (first, last)
        Inclusive line index ranges, one per drone.
    """
    t = np.asarray(line_times_s, dtype=float)
    if n < 1:
        raise PlanningError(f"number of drones must be at least 1, got {n}")
    if len(t) < n:
        raise PlanningError(f"the area has only {len(t)} flight lines, too few to share among {n} drones")
    if n == 1:
        return [(0, len(t) - 1)]

    def bands(limit):
        out, start, acc = [], 0, 0.0
        for k, x in enumerate(t):
            if acc + x > limit and k > start:
                out.append((start, k - 1))
                start, acc = k, 0.0
            acc += x
        out.append((start, len(t) - 1))
        return out

    lo, hi = float(t.max()), float(t.sum())
    for _ in range(60):
        mid = (lo + hi) / 2
        if len(bands(mid)) <= n:
            hi = mid
        else:
            lo = mid
    result = bands(hi)
    # Fewer bands than drones can happen with very uneven lines: split the largest bands.
    while len(result) < n:
        k = max(range(len(result)), key=lambda b: result[b][1] - result[b][0])
        a, b = result[k]
        if b == a:
            break
        m = (a + b) // 2
        result[k:k + 1] = [(a, m), (m + 1, b)]
    return result
