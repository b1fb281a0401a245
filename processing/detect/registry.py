"""Find detectors by name; plugins add their own through entry points.

Built-in names: ``fire``, ``smoke``, ``vehicle`` (learned, ONNX), ``person`` and
``thermal-vehicle`` (thermal frames, learned; ``vehicle`` hands over to the latter on thermal
frames), ``hotspot`` (thermal),
``spotlight`` (night RGB), and the colour-rule baselines ``fire-colour`` and ``smoke-colour``
(for comparison only).

A plugin package registers more in its ``pyproject.toml``::

    [project.entry-points."amur_uav.detectors"]
    poacher-boat = "mypkg.boats:BoatDetector"

The entry point may name a :class:`~processing.detect.base.Detector` subclass or any
callable returning a Detector; it is called with the options given to :func:`get_detector`.
A plugin cannot replace a built-in name.
"""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points

from uav.errors import DetectorError

from .base import Detector

ENTRY_POINT_GROUP = "amur_uav.detectors"

BUILTINS: dict[str, str] = {
    "fire": "processing.detect.learned:FireDetector",
    "smoke": "processing.detect.learned:SmokeDetector",
    "vehicle": "processing.detect.learned:VehicleDetector",
    "hotspot": "processing.detect.thermal:HotspotDetector",
    "person": "processing.detect.thermal_models:PersonDetector",
    "thermal-vehicle": "processing.detect.thermal_models:ThermalVehicleDetector",
    "spotlight": "processing.detect.night:SpotlightDetector",
    "fire-colour": "processing.detect.colour:FireColourDetector",
    "smoke-colour": "processing.detect.colour:SmokeColourDetector",
}


def _plugins() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.name not in BUILTINS}


def available_detectors() -> list[str]:
    """Names of every detector: built-ins first, then plugins, each group sorted."""
    return sorted(BUILTINS) + sorted(_plugins())


def _load_builtin(name: str):
    module, attr = BUILTINS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def get_detector(name: str, **options) -> Detector:
    """A ready detector by name.

    Raises
    ------
    DetectorError
        The name is unknown (the message lists the known ones), a plugin cannot be loaded,
        an option is not one the detector takes, or its model is missing or broken.
    """
    name = name.strip()
    if name in BUILTINS:
        factory, origin = _load_builtin(name), "built-in"
    else:
        plugins = _plugins()
        if name not in plugins:
            raise DetectorError(f"unknown detector {name!r}; known detectors: "
                                f"{', '.join(available_detectors())}")
        ep = plugins[name]
        origin = f"plugin {ep.value}"
        try:
            factory = ep.load()
        except Exception as exc:   # a broken plugin must not look like our bug
            raise DetectorError(f"detector plugin {name!r} ({ep.value}) cannot be loaded: "
                                f"{type(exc).__name__}: {exc}") from exc
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise DetectorError(f"detector {name!r} ({origin}) does not take options "
                            f"{sorted(options)}: {exc}") from exc
    except ValueError:   # no signature available (C callables): let the call decide
        pass
    det = factory(**options)
    if not isinstance(det, Detector):
        raise DetectorError(f"detector {name!r} ({origin}) returned {type(det).__name__}, "
                            "not a Detector")
    if not det.name:
        det.name = name
    return det


# What searches a frame when no detector is named: each kind of frame gets what its models are
# made for (a thermal frame has no fire or smoke model; a colour photo no person model).
DEFAULT_COLOUR = ("fire", "smoke", "vehicle")
DEFAULT_THERMAL = ("person", "vehicle")

# On a thermal frame a colour-only detector hands over to the thermal one reporting its class.
THERMAL_COUNTERPART = {"vehicle": "thermal-vehicle"}

# The class whose ``--sensitivity`` level a built-in detector takes (``vehicle=high`` sets the
# thermal vehicle model too: a ranger asks for a class, not a model).  Others have no levels.
SENSITIVITY_CLASS = {"fire": "fire", "smoke": "smoke", "vehicle": "vehicle",
                     "thermal-vehicle": "vehicle", "person": "person"}


def level_options(name: str, sensitivity=None) -> dict:
    """The options giving detector ``name`` its level of ``sensitivity`` (a
    :class:`~processing.detect.sensitivity.Sensitivity`); none at ``normal``, so a normal run
    builds exactly the detectors it always did."""
    cls = SENSITIVITY_CLASS.get(name)
    if sensitivity is None or cls is None:
        return {}
    level = sensitivity.level_for(cls)
    return {} if level == "normal" else {"sensitivity": level}


def detectors_for_frame(detectors: list[Detector], thermal: bool,
                        path: str = "", sensitivity=None) -> list[Detector]:
    """The detectors that search a thermal (or colour) frame: those made for that kind of
    frame, with ``vehicle`` replaced by ``thermal-vehicle`` on thermal frames.

    Raises
    ------
    DetectorError
        Every detector named is thermal-only and the frame is a colour photo: nothing would
        search it, which is a mistake worth naming rather than an empty result.
    """
    out: list[Detector] = []
    for det in detectors:
        if bool(getattr(det, "wants_thermal", False)) == bool(thermal):
            out.append(det)
        elif thermal and det.name in THERMAL_COUNTERPART:
            out.append(_counterpart(THERMAL_COUNTERPART[det.name], sensitivity))
    seen: set[str] = set()
    out = [d for d in out if not (d.name in seen or seen.add(d.name))]   # once each, in order
    if (not out and not thermal and detectors
            and any(d.name in ("person", "thermal-vehicle") for d in detectors)):
        where = f" {path.rsplit('/', 1)[-1]}" if path else ""
        raise DetectorError(f"frame{where} is an 8-bit colour photo, and "
                            f"{', '.join(sorted(d.name for d in detectors))} search thermal "
                            "frames only (a colour-mapped thermal image? give --camera its "
                            "thermal profile)")
    return out


def frame_kind_names(names, thermal: bool) -> list[str]:
    """The names of the detectors that would search a frame of this kind (as
    :func:`detectors_for_frame` picks them), found without loading any model: so the parent
    can tell what a frame already done still needs searching for."""
    out: list[str] = []
    for name in names:
        if not isinstance(name, str):
            wants = bool(getattr(name, "wants_thermal", False))
            name = name.name or type(name).__name__
        else:
            wants = _wants_thermal(name)
        if wants == bool(thermal):
            pick = name
        elif thermal and name in THERMAL_COUNTERPART:
            pick = THERMAL_COUNTERPART[name]
        else:
            continue
        if pick not in out:
            out.append(pick)
    return out


def _wants_thermal(name: str) -> bool:
    if name in BUILTINS:
        factory = _load_builtin(name)
    else:
        factory = None
        ep = _plugins().get(name)
        if ep is not None:
            try:
                factory = ep.load()
            except Exception:   # get_detector names the broken plugin when it runs
                return False
    if isinstance(factory, type):
        return bool(getattr(factory, "wants_thermal", False))
    try:
        return bool(getattr(get_detector(name), "wants_thermal", False))
    except DetectorError:
        return False


_counterparts: dict[tuple, Detector] = {}


def _counterpart(name: str, sensitivity=None) -> Detector:
    options = level_options(name, sensitivity)
    key = (name, tuple(sorted(options.items())))
    if key not in _counterparts:
        _counterparts[key] = get_detector(name, **options)
    return _counterparts[key]


def get_detectors(names, sensitivity=None) -> list[Detector]:
    """Detectors for a list of names or a comma-separated string ("fire,smoke,vehicle"), each
    at its class's level of ``sensitivity`` (normal when ``None``)."""
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise DetectorError(f"no detectors named; choose from {', '.join(available_detectors())}")
    seen, out = set(), []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(get_detector(n, **level_options(n, sensitivity)))
    return out
