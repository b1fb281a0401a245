"""What a re-run still has to do for frames already done: what a frame was searched for is part
of "done".

Every frame records the detectors that searched it, with their model and sensitivity
(``frame_searches``).  A re-run asking for other detectors searches the frames again for the
ones they were not searched for (only those); one whose model or sensitivity differs from what
a frame was searched with is named, and searched again only with ``redo``.  A frame from a file
made before the record existed was given records on opening, from the detectors its flight
recorded (``flight_meta.detectors``), with unknown models.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .detect.registry import frame_kind_names

__all__ = ["Rerun", "plan_rerun"]


@dataclass
class Rerun:
    """Per frame already done, what it is searched for now; and what the summary says of it."""

    more: dict = field(default_factory=dict)          # path -> tuple of detector names to run
    added: Counter = field(default_factory=Counter)   # detector -> frames newly searched for it
    redone: Counter = field(default_factory=Counter)  # detector -> frames searched again (redo)
    outdated: dict = field(default_factory=dict)      # detector -> (frames, what they had, now)


def _current(names, cache: dict, sensitivity=None):
    from .detect.provenance import search_identity
    from .search import _resolve_detectors

    out = {}
    for n in names:
        if n not in cache:
            try:
                det = _resolve_detectors((n,), sensitivity)[0]
                cache[n] = (*search_identity(det), getattr(det, "sensitivity", None))
            except Exception:   # the worker names a broken detector on the frame
                cache[n] = (None, None, None)
        out[n] = cache[n]
    return out


def _said(model, thr, level) -> str:
    return f"{model} at {thr}" + (f" ({level} sensitivity)" if level else "")


def plan_rerun(store, paths, colour_names, thermal_names, redo: bool = False,
               sensitivity=None) -> Rerun:
    """What the frames among ``paths`` already done in ``store`` still need (at the levels of
    ``sensitivity``: a frame searched at another level is searched again only with ``redo``)."""
    done = store.done_frames()
    paths = [p for p in paths if p in done]
    res = Rerun()
    if not paths:
        return res
    records = store.searches()
    kinds = {False: frame_kind_names(colour_names, False), True: frame_kind_names(thermal_names, True)}
    cache: dict = {}
    for p in paths:
        fid, thermal = done[p]
        want = kinds[thermal]
        had = dict(records.get(fid, {}))
        legacy = [n for n, r in had.items() if r.model is None and r.searched_at == "before records"]
        for n in legacy:  # as the flight recorded them: "vehicle" searched thermal frames too
            del had[n]
        had.update({n: None for n in frame_kind_names(legacy, thermal)})
        todo = [n for n in want if n not in had]
        res.added.update(todo)
        now = _current([n for n in want if n in had and had[n] is not None], cache, sensitivity)
        for n, (model, thr, level) in now.items():
            rec = had[n]
            if model is None or (rec.model == model and rec.threshold == thr):
                continue
            if redo:
                todo.append(n)
                res.redone[n] += 1
            else:
                k, _, _ = res.outdated.get(n, (0, None, None))
                res.outdated[n] = (k + 1, _said(rec.model, rec.threshold, rec.sensitivity),
                                   _said(model, thr, level))
        if todo:
            res.more[p] = tuple(todo)
    return res
