"""Start a vehicle to talk to: the real ArduPilot SITL when asked (or found), else the built-in.

>>> with start_vehicle("builtin", speedup=10) as v:      # doctest: +SKIP
...     print(v.connection_string)
tcp:127.0.0.1:40123
"""

from __future__ import annotations

from uav.errors import SimulatorError, SitlNotFoundError

BACKENDS = ("builtin", "ardupilot", "auto")
DEFAULT_HOME = (43.1056, 131.8735, 40.0, 0.0)  # a field near Vladivostok, Primorsky Krai

# What both backends get unless the caller says otherwise: a camera that can be triggered
# (CAM1_TYPE=1, servo), as a survey rehearsal needs; ArduPilot's default is no camera.
SIM_DEFAULT_PARAMS = {"CAM1_TYPE": 1}


def find_sitl(sitl_bin=None):
    """The SITL binary path, or None when none is found (or the launcher is not installed)."""
    try:
        from simulators import sitl
    except ImportError:
        return None
    try:
        return sitl.find_sitl_binary(sitl_bin)
    except SitlNotFoundError:
        return None


class BuiltinVehicle:
    """The built-in copter behind the same small interface as the SITL launcher."""

    backend = "builtin"

    def __init__(self, server):
        self.server = server

    @property
    def connection_string(self) -> str:
        return self.server.connection_string

    @property
    def home(self):
        return self.server.home

    @property
    def speedup(self) -> float:
        return self.server.speedup

    def on_camera_trigger(self, callback) -> None:
        self.server.on_camera_trigger(callback)

    def start(self):
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_vehicle(backend: str = "builtin", home=DEFAULT_HOME, speedup: float = 1.0,
                  instance: int = 0, port: int = 0, signing_key: bytes | None = None,
                  params: dict | None = None, sitl_bin=None, **kw):
    """Start a simulated copter and return it, running; use it as a context manager.

    Parameters
    ----------
    backend : {"builtin", "ardupilot", "auto"}
        "auto" takes real ArduPilot SITL when a binary is found, else the built-in copter.
    home : (lat, lon, alt_amsl, heading)
    speedup : float
        Simulated seconds per wall second.
    instance, port :
        SITL instance number (ports 5760 + 10 * instance) / the built-in's TCP port (0: free).
    signing_key : bytes, optional
        Built-in only: 32-byte key the vehicle starts with (SITL keys are set over MAVLink).
    params : dict, optional
        Parameters to start with, by ArduPilot name.
    sitl_bin : path, optional
        The arducopter binary, else ARDUPILOT_SITL or PATH.
    **kw :
        Passed to the backend (built-in: ``udp_port``, ``udp_out``, ``boot_time_s``).

    Returns
    -------
    A started vehicle with ``connection_string``, ``home``, ``stop()``.
    """
    if backend not in BACKENDS:
        raise SimulatorError(f"unknown vehicle backend {backend!r}: choose one of "
                             + ", ".join(BACKENDS))
    merged = dict(SIM_DEFAULT_PARAMS)
    merged.update(params or {})
    if backend == "auto":
        backend = "ardupilot" if find_sitl(sitl_bin) is not None else "builtin"
    if backend == "ardupilot":
        try:
            from simulators import sitl
        except ImportError as exc:
            raise SitlNotFoundError("the ArduPilot SITL launcher (simulators.sitl) is not "
                                    "available in this installation") from exc
        if signing_key is not None:
            raise SimulatorError("SITL starts unsigned; set its key with SETUP_SIGNING "
                                 "(uav signing setup) after it is running")
        binary = sitl.find_sitl_binary(sitl_bin)
        vehicle = sitl.ArduPilotSITL(binary=binary, home=home, speedup=speedup,
                                     instance=instance, params=merged, **kw)
        vehicle.start()
        if not hasattr(vehicle, "backend"):
            try:
                vehicle.backend = "ardupilot"
            except AttributeError:
                pass
        return vehicle
    from simulators.builtin import BuiltinVehicleServer

    server = BuiltinVehicleServer(home=home, speedup=speedup, port=port,
                                  signing_key=signing_key, params=merged, **kw)
    return BuiltinVehicle(server).start()
