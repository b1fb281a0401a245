"""Start a vehicle to talk to: the real ArduPilot SITL when asked (or found), else the built-in.

Either way it is returned ready to arm (see :mod:`simulators.readiness`).

>>> with start_vehicle("builtin", speedup=10) as v:      # doctest: +SKIP
...     print(v.connection_string)
tcp:127.0.0.1:40123
"""

from __future__ import annotations

from uav.errors import SimulatorError, SitlNotFoundError

from .readiness import ReadyStatus, wait_until_ready

BACKENDS = ("builtin", "ardupilot", "auto")
DEFAULT_HOME = (43.1056, 131.8735, 40.0, 0.0)  # a field near Vladivostok, Primorsky Krai

# Both vehicles boot at least this fast, then run at the speed asked for (see readiness.py).
# SITL needs ~40 simulated seconds to be ready to arm; the built-in copter's boot is shorter
# (``boot_time_s``, 10 simulated seconds by default) and costs nothing to run faster.
SITL_BOOT_SPEEDUP = 20.0
BUILTIN_BOOT_SPEEDUP = 100.0
READY_TIMEOUT_S = 120.0

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

    def __init__(self, server, speedup: float | None = None):
        self.server = server
        self._run_speedup = server.speedup if speedup is None else float(speedup)

    @property
    def connection_string(self) -> str:
        return self.server.connection_string

    @property
    def telemetry_connection_string(self) -> str:
        """The copter's second port (SERIAL1 on ArduPilot): refuses unsigned once signed."""
        return self.server.telemetry_connection_string

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

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> ReadyStatus:
        """Wait until the copter can arm (see :func:`simulators.readiness.wait_until_ready`)."""
        then = self._run_speedup if self._run_speedup != self.server.speedup else None

        def alive():
            if self.server.error is not None:
                return f"the built-in copter failed: {self.server.error!r}"
            return None

        status = wait_until_ready(self.connection_string, timeout, who="the built-in copter",
                                  alive=alive, then_speedup=then)
        self._run_speedup = self.server.speedup
        return status

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def sitl_defaults_for_builtin() -> dict[str, float]:
    """The parameter file SITL starts with (``simulators/data/copter-sim.parm``), as far as
    the built-in copter has those parameters: both backends start from the same values."""
    from simulators.builtin.params import DEFAULTS
    from simulators.sitl import DEFAULT_PARAMS, read_parm_file

    return {k: v for k, v in read_parm_file(DEFAULT_PARAMS).items() if k in DEFAULTS}


def free_sitl_instance(first: int = 0) -> int:
    """The first SITL instance number from ``first`` whose ports are all free."""
    from simulators.sitl import ports_for_instance, tcp_port_free

    for instance in range(first, 100):
        ports = ports_for_instance(instance)
        if all(tcp_port_free(ports[k]) for k in ("serial0", "serial1", "serial2")):
            return instance
    raise SimulatorError("no free SITL instance: ports 5760-6753 are all taken")


def start_vehicle(backend: str = "builtin", home=DEFAULT_HOME, speedup: float = 1.0,
                  instance: int | None = None, port: int = 0, signing_key: bytes | None = None,
                  params: dict | None = None, sitl_bin=None, wait_ready: bool = True,
                  ready_timeout: float = READY_TIMEOUT_S, **kw):
    """Start a simulated copter and return it, running and ready to arm.

    Parameters
    ----------
    backend : {"builtin", "ardupilot", "auto"}
        "auto" takes real ArduPilot SITL when a binary is found, else the built-in copter.
    home : (lat, lon, alt_amsl, heading)
    speedup : float
        Simulated seconds per wall second, once ready (both boot faster, then slow down).
    instance, port :
        SITL instance number (ports 5760 + 10 * instance; None: the first free one) / the
        built-in's TCP port (0: free).
    signing_key : bytes, optional
        Built-in only: 32-byte key the vehicle starts with (SITL keys are set over MAVLink).
    params : dict, optional
        Parameters to start with, by ArduPilot name.
    sitl_bin : path, optional
        The arducopter binary, else ARDUPILOT_SITL or PATH.
    wait_ready : bool
        Return only once the copter can arm: heartbeat past BOOT, 3D fix, EKF position,
        pre-arm checks passing (:mod:`simulators.readiness`); on timeout a SimulatorError
        names what is missing and the vehicle is stopped.
    **kw :
        Passed to the backend (built-in: ``udp_port``, ``udp_out``, ``boot_time_s``; SITL:
        ``boot_speedup``, ``workdir``, ``model``).

    Returns
    -------
    A started vehicle with ``connection_string``, ``telemetry_connection_string``, ``home``,
    ``stop()``.
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
        if wait_ready:  # the switch to ``speedup`` happens once it is ready
            kw.setdefault("boot_speedup", max(SITL_BOOT_SPEEDUP, float(speedup)))
        first = 0
        for attempt in range(5):
            # another simulator may take the free instance first: then the next one
            chosen = free_sitl_instance(first) if instance is None else instance
            vehicle = sitl.ArduPilotSITL(binary=binary, home=home, speedup=speedup,
                                         instance=chosen, params=merged, **kw)
            try:
                vehicle.start()
                break
            except sitl.SitlPortTaken:
                if instance is not None or attempt == 4:
                    raise
                first = chosen + 1
        vehicle.backend = "ardupilot"
    else:
        from simulators.builtin import BuiltinVehicleServer

        boot = max(BUILTIN_BOOT_SPEEDUP, float(speedup)) if wait_ready else speedup
        server = BuiltinVehicleServer(home=home, speedup=boot, port=port,
                                      signing_key=signing_key,
                                      params={**sitl_defaults_for_builtin(), **merged}, **kw)
        vehicle = BuiltinVehicle(server, speedup=speedup).start()
    if wait_ready:
        try:
            vehicle.wait_ready(ready_timeout)
        except BaseException:
            vehicle.stop()
            raise
    return vehicle
