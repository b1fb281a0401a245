"""Vehicle parameters: read all, read one, set with confirmation.

ArduPilot answers an unknown parameter name with silence, and names change between releases
(MAV_SYSID on 4.7, SYSID_THISMAV before), so a missing answer becomes a ParameterError that
says so instead of a bare timeout.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from ..errors import ParameterError
from .connection import Link

Progress = Callable[[int, int], None]


def _name(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).rstrip("\x00")


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", float(value)))[0]


def _check_name(name: str) -> bytes:
    if not name or len(name) > 16 or not name.isascii():
        raise ParameterError(f"parameter name {name!r} is not valid (1-16 ASCII characters)")
    return name.encode("ascii")


def read_all(link: Link, progress: Progress | None = None, timeout: float = 2.0,
             retries: int = 3) -> dict[str, float]:
    """Read every parameter.

    The vehicle streams PARAM_VALUE for all of them; any index missing when the stream goes
    quiet for ``timeout`` seconds is asked for again by index, up to ``retries`` times.

    Returns
    -------
    dict
        name -> value.

    Raises
    ------
    ParameterError
        If the vehicle sends nothing, or some indices never arrive.
    """
    link.mav.param_request_list_send(link.target_system, link.target_component)
    values: dict[int, tuple[str, float]] = {}
    total = None
    tries = 0
    while True:
        msg = link.poll("PARAM_VALUE", timeout)
        if msg is not None:
            total = int(msg.param_count)
            if 0 <= msg.param_index < total and msg.param_index not in values:
                values[int(msg.param_index)] = (_name(msg.param_id), float(msg.param_value))
                if progress is not None:
                    progress(len(values), total)
            if len(values) >= total:
                break
            continue
        if total is None:
            if tries >= retries:
                raise ParameterError(
                    f"the vehicle sent no parameters: waited {timeout:.1f} s x {retries + 1} "
                    "for PARAM_VALUE after asking for the full list")
            tries += 1
            link.mav.param_request_list_send(link.target_system, link.target_component)
            continue
        if tries >= retries:
            missing = sorted(set(range(total)) - set(values))
            raise ParameterError(
                f"{len(missing)} of {total} parameters never arrived (indices "
                f"{', '.join(map(str, missing[:10]))}{'...' if len(missing) > 10 else ''}): "
                f"waited {timeout:.1f} s x {retries + 1}")
        tries += 1
        for index in sorted(set(range(total)) - set(values)):
            link.mav.param_request_read_send(link.target_system, link.target_component,
                                             b"", index)
    return {name: value for name, value in values.values()}


def read(link: Link, name: str, timeout: float = 1.0, retries: int = 2) -> float:
    """Read one parameter by name.

    Raises
    ------
    ParameterError
        If the vehicle does not answer: it has no parameter of that name (names differ
        between firmware releases) or the link is down.
    """
    raw = _check_name(name)
    for _ in range(retries + 1):
        link.mav.param_request_read_send(link.target_system, link.target_component, raw, -1)
        msg = link.poll("PARAM_VALUE", timeout, condition=lambda m: _name(m.param_id) == name)
        if msg is not None:
            return float(msg.param_value)
    raise ParameterError(
        f"the vehicle did not answer for parameter {name}: waited {timeout:.1f} s x "
        f"{retries + 1} for its PARAM_VALUE. This firmware probably has no parameter of that "
        "name (names change between releases, e.g. SYSID_THISMAV became MAV_SYSID)")


def set_param(link: Link, name: str, value: float, timeout: float = 1.0, retries: int = 2,
              param_type: int = mavlink.MAV_PARAM_TYPE_REAL32) -> float:
    """Set a parameter and wait for the vehicle to confirm it with PARAM_VALUE.

    Returns
    -------
    float
        The value the vehicle reports it now holds.

    Raises
    ------
    ParameterError
        If the vehicle never confirms (unknown name) or confirms a different value
        (it clamped or refused it).
    """
    raw = _check_name(name)
    if not math.isfinite(float(value)):
        raise ParameterError(f"cannot set {name} to {value}: not a finite number")
    want = _f32(value)
    for _ in range(retries + 1):
        link.mav.param_set_send(link.target_system, link.target_component, raw, float(value),
                                param_type)
        msg = link.poll("PARAM_VALUE", timeout, condition=lambda m: _name(m.param_id) == name)
        if msg is None:
            continue
        got = float(msg.param_value)
        if math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6):
            return got
        # An old value may still be in flight; give the new one a moment.
        late = link.poll("PARAM_VALUE", timeout / 2,
                         condition=lambda m: _name(m.param_id) == name and math.isclose(
                             float(m.param_value), want, rel_tol=1e-6, abs_tol=1e-6))
        if late is not None:
            return float(late.param_value)
        raise ParameterError(f"the vehicle kept {name} at {got:g} instead of {value:g} "
                             "(out of range or read-only?)")
    raise ParameterError(
        f"setting {name} was not confirmed: waited {timeout:.1f} s x {retries + 1} for the "
        f"vehicle's PARAM_VALUE. This firmware probably has no parameter named {name}")


def set_many(link: Link, values: dict[str, float], progress: Progress | None = None,
             **kw) -> dict[str, float]:
    """Set several parameters (e.g. FENCE_ENABLE, FENCE_ACTION, WPNAV_SPEED) in order."""
    out = {}
    for i, (name, value) in enumerate(values.items(), start=1):
        out[name] = set_param(link, name, value, **kw)
        if progress is not None:
            progress(i, len(values))
    return out
