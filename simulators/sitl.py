"""Launch and stop ArduPilot's own SITL copter (``arducopter``), the reference simulator.

The binary is ArduPilot's, built or downloaded by the user; this module finds it, runs it in a
working directory of its own (its eeprom and DataFlash logs land there), with our parameter
defaults (``simulators/data/copter-sim.parm``), waits until it is ready to arm, and always stops
it.  Facts about the command line come from ArduPilot's ``libraries/AP_HAL_SITL/SITL_cmdline.cpp``:

* ``--model quad --home LAT,LON,ALT,HDG --speedup N -I INSTANCE --defaults FILE[,FILE] [--wipe]``
* instance N adds ``10*N`` to every port; SERIAL0 is TCP 5760 (+10N) and SITL waits for a client
  there before it starts simulating; SERIAL1/SERIAL2 are TCP 5762/5763 (+10N).
* the defaults file is ``NAME VALUE`` lines; unknown names are skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from uav.errors import InvalidInputError, SimulatorError, SitlNotFoundError
from uav.geo import parse_latlon

from .readiness import ReadyStatus, wait_until_ready

ENV_VAR = "ARDUPILOT_SITL"
BINARY_NAME = "arducopter"
DEFAULT_PARAMS = Path(__file__).with_name("data") / "copter-sim.parm"
BASE_PORT = 5760
# Land of the Leopard ranger base, ground level; a harmless default home.
DEFAULT_HOME = (43.1000, 131.2000, 100.0, 0.0)
_PARAM_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")

HOW_TO_GET = (
    "ArduPilot's SITL copter binary 'arducopter' was not found.\nEither:\n"
    "  - build it: git clone --recursive https://github.com/ArduPilot/ardupilot && cd ardupilot && "
    "Tools/environment_install/install-prereqs-ubuntu.sh -y && ./waf configure --board sitl && "
    "./waf copter  (the binary is build/sitl/bin/arducopter; see ardupilot.org/dev/docs/"
    "setting-up-sitl-on-linux.html, \"Setting up SITL\"), or\n"
    "  - download a published SITL build from https://firmware.ardupilot.org (Copter, 'SITL' "
    "board, for your platform);\n"
    f"then pass --sitl-bin PATH, set {ENV_VAR}=PATH, or put 'arducopter' on PATH. "
    "Without it, use the built-in simulator (--backend builtin)."
)


def _check_binary(path: Path, source: str) -> Path:
    if not path.exists():
        raise SitlNotFoundError(f"{source} points to {path}, which does not exist.\n{HOW_TO_GET}")
    if path.is_dir():
        raise SitlNotFoundError(f"{source} points to {path}, which is a folder, not the arducopter binary.\n{HOW_TO_GET}")
    if not os.access(path, os.X_OK):
        raise SitlNotFoundError(
            f"{source} points to {path}, which is not executable (chmod +x it, or point to the "
            f"built binary).\n{HOW_TO_GET}")
    return path.resolve()


def find_sitl_binary(explicit: str | os.PathLike | None = None) -> Path:
    """The ArduPilot SITL copter binary to run.

    Looks at ``explicit`` (``--sitl-bin``), then the ``ARDUPILOT_SITL`` environment variable,
    then ``arducopter`` on ``PATH``.  A path that is given but wrong is an error even when a
    later source would work: the user asked for that one.

    Raises
    ------
    SitlNotFoundError
        With how to build or download one.
    """
    if explicit is not None and str(explicit) != "":
        return _check_binary(Path(explicit).expanduser(), "--sitl-bin")
    env = os.environ.get(ENV_VAR)
    if env:
        return _check_binary(Path(env).expanduser(), f"the {ENV_VAR} environment variable")
    found = shutil.which(BINARY_NAME)
    if found:
        return Path(found).resolve()
    raise SitlNotFoundError(HOW_TO_GET)


class SitlPortTaken(SimulatorError):
    """SITL could not bind its ports: another simulator holds them."""


@dataclass(frozen=True)
class Home:
    """Where the simulated copter starts: latitude, longitude, altitude AMSL (m), heading (deg)."""

    lat: float
    lon: float
    alt: float = 0.0
    heading: float = 0.0

    def __post_init__(self):
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise InvalidInputError(f"SITL home lat={self.lat}, lon={self.lon} is not a position (latitude first)")
        if not -500 <= self.alt <= 9000:
            raise InvalidInputError(f"SITL home altitude {self.alt} m AMSL is not plausible")

    @classmethod
    def parse(cls, value) -> Home:
        """From a Home, a ``(lat, lon[, alt[, hdg]])`` tuple or ``"LAT,LON[,ALT[,HDG]]"``."""
        if isinstance(value, Home):
            return value
        if isinstance(value, str):
            return cls(*parse_latlon(value))
        try:
            parts = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"SITL home must be LAT,LON[,ALT[,HDG]], got {value!r}") from None
        if not 2 <= len(parts) <= 4:
            raise InvalidInputError(f"SITL home must be LAT,LON[,ALT[,HDG]], got {value!r}")
        return cls(*parts)

    # Indexable like the built-in copter's (lat, lon, alt, heading) tuple, so callers need not
    # know which backend they got.
    def __iter__(self):
        return iter((self.lat, self.lon, self.alt, self.heading))

    def __getitem__(self, i):
        return (self.lat, self.lon, self.alt, self.heading)[i]

    def __len__(self) -> int:
        return 4

    @property
    def arg(self) -> str:
        return f"{self.lat:.7f},{self.lon:.7f},{self.alt:.2f},{self.heading % 360:.1f}"


def ports_for_instance(instance: int) -> dict[str, int]:
    """The ports SITL instance ``instance`` listens on (TCP) or uses internally (UDP)."""
    if isinstance(instance, bool) or not isinstance(instance, int) or not 0 <= instance <= 99:
        raise InvalidInputError(f"SITL instance must be a whole number 0-99, got {instance!r}")
    off = 10 * instance
    return {"serial0": BASE_PORT + off, "serial1": BASE_PORT + 2 + off, "serial2": BASE_PORT + 3 + off,
            "rc_in": 5501 + off, "sim_in": 9003 + off, "sim_out": 9002 + off}


def read_parm_file(path: str | os.PathLike) -> dict[str, float]:
    """Parse an ArduPilot parameter defaults file (``NAME VALUE`` or ``NAME,VALUE`` lines).

    Stricter than ArduPilot (which skips what it cannot read): a malformed line is an error
    naming the file and line, so a typo is not silently dropped.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInputError(f"cannot read parameter file {path}: {exc.strerror}") from None
    params: dict[str, float] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(raw) >= 99:
            raise InvalidInputError(f"{path}:{n}: line longer than ArduPilot reads (98 characters)")
        parts = [p for p in re.split(r"[,\s=]+", line) if p]
        if len(parts) < 2 or (len(parts) > 2 and parts[2] != "@READONLY"):
            raise InvalidInputError(f"{path}:{n}: expected 'NAME VALUE', got {raw!r}")
        name, value = parts[0], parts[1]
        _check_param_name(name, f"{path}:{n}")
        try:
            params[name] = float(value)
        except ValueError:
            raise InvalidInputError(f"{path}:{n}: {name} value {value!r} is not a number") from None
    return params


def _check_param_name(name: str, where: str) -> None:
    if not _PARAM_NAME.match(name):
        raise InvalidInputError(
            f"{where}: {name!r} is not an ArduPilot parameter name (capitals, digits and '_', "
            "at most 16 characters)")


def tcp_port_free(port: int) -> bool:
    """Whether a TCP port on loopback can be bound now (as SITL binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as SITL itself binds: a port left in TIME-WAIT by a closed client is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# Every running launcher, so that interpreter exit and SIGTERM stop them all.
_LIVE: weakref.WeakSet[ArduPilotSITL] = weakref.WeakSet()
_HANDLERS_INSTALLED = False


def _stop_all() -> None:
    for sitl in list(_LIVE):
        with contextlib.suppress(Exception):
            sitl.stop()


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(signum)

            def handler(sig, frame, previous=previous):
                _stop_all()
                if callable(previous):
                    previous(sig, frame)
                else:
                    raise SystemExit(128 + sig)

            signal.signal(signum, handler)
    _HANDLERS_INSTALLED = True


class ArduPilotSITL:
    """A running ArduPilot SITL copter, as a context manager.

    Parameters
    ----------
    binary : path-like, optional
        The ``arducopter`` binary; found with :func:`find_sitl_binary` when omitted.
    home : (lat, lon, alt, hdg) or "LAT,LON,ALT,HDG"
        Start position, altitude AMSL in metres, heading in degrees.
    speedup : float
        Simulation speed relative to real time.
    instance : int
        Several instances run side by side; each adds ``10*instance`` to its ports.
    workdir : path-like, optional
        Where eeprom and logs go; a fresh temporary folder when omitted (removed after a clean
        stop, kept when something failed).
    params : dict, optional
        Extra parameter defaults, applied after ``copter-sim.parm``.
    model : str
        SITL physics model (``quad`` is plus-configured; ``x`` an X quad).
    wipe : bool
        Start from a wiped eeprom so the defaults apply.
    boot_speedup : float, optional
        Boot at this speed-up (it takes SITL ~40 simulated seconds to be ready to arm), then
        switch to ``speedup`` through ``SIM_SPEEDUP`` once ready.  None: boot at ``speedup``.

    Used as a context manager it starts SITL and waits until it is ready to arm.

    Examples
    --------
    >>> with ArduPilotSITL(home=(43.1, 131.2, 100, 0), speedup=10) as sitl:   # doctest: +SKIP
    ...     link = connect(sitl.connection_string)
    """

    def __init__(self, binary: str | os.PathLike | None = None, home=DEFAULT_HOME, speedup: float = 1.0,
                 instance: int = 0, workdir: str | os.PathLike | None = None,
                 params: dict[str, float] | None = None, model: str = "quad", wipe: bool = True,
                 defaults: str | os.PathLike | None = None, boot_speedup: float | None = None):
        self._binary_arg = binary
        self.home = Home.parse(home)
        try:
            self.speedup = float(speedup)
        except (TypeError, ValueError):
            raise InvalidInputError(f"SITL speed-up must be a number, got {speedup!r}") from None
        if not 0 < self.speedup <= 1000:
            raise InvalidInputError(f"SITL speed-up must be above 0 and at most 1000, got {speedup!r}")
        boot = self.speedup if boot_speedup is None else float(boot_speedup)
        if not 0 < boot <= 1000:
            raise InvalidInputError(f"SITL boot speed-up must be above 0 and at most 1000, got {boot_speedup!r}")
        self.boot_speedup = boot
        self._launch_speedup = max(boot, self.speedup)
        self.ports = ports_for_instance(instance)
        self.instance = instance
        if not isinstance(model, str) or not re.fullmatch(r"[A-Za-z0-9_+:.-]+", model):
            raise InvalidInputError(f"SITL model must be a name such as 'quad' or 'x', got {model!r}")
        self.model = model
        self.wipe = bool(wipe)
        self.defaults = Path(defaults) if defaults is not None else DEFAULT_PARAMS
        self.params: dict[str, float] = {}
        for name, value in (params or {}).items():
            _check_param_name(str(name), "SITL params")
            try:
                self.params[str(name)] = float(value)
            except (TypeError, ValueError):
                raise InvalidInputError(f"SITL params: {name} value {value!r} is not a number") from None
        if model.lower() in ("x", "quadx") and "FRAME_TYPE" not in self.params:
            self.params["FRAME_TYPE"] = 1.0  # the "x" model needs an X frame to fly
        self._workdir_arg = Path(workdir) if workdir is not None else None
        self.workdir: Path | None = self._workdir_arg
        self._own_workdir = False
        self.binary: Path | None = None
        self.process: subprocess.Popen | None = None
        self._log = None
        self.failed = False
        self.kept_logs: Path | None = None

    # --- facts ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """TCP port of SERIAL0, where a GCS or ``uav`` connects."""
        return self.ports["serial0"]

    @property
    def connection_string(self) -> str:
        """pymavlink / ``uav`` connection string for SERIAL0."""
        return f"tcp:127.0.0.1:{self.port}"

    @property
    def telemetry_connection_string(self) -> str:
        """SERIAL1 (a telemetry radio's port): unlike SERIAL0 (USB), it refuses unsigned
        messages once signing is set up."""
        return f"tcp:127.0.0.1:{self.ports['serial1']}"

    @property
    def log_path(self) -> Path | None:
        """SITL's console output (stdout and stderr)."""
        return None if self.workdir is None else self.workdir / "sitl.log"

    def arguments(self) -> list[str]:
        """The arguments given to the binary (everything after its path)."""
        defaults = str(self.defaults.resolve())
        if self.params:
            defaults += "," + str(self._extra_params_path())
        args = ["--model", self.model, "--home", self.home.arg, "--speedup", f"{self._launch_speedup:g}",
                "-I", str(self.instance), "--defaults", defaults]
        if self.wipe:
            args.append("--wipe")
        return args

    def command(self) -> list[str]:
        """The command line that :meth:`start` runs (binary resolved if needed)."""
        binary = self.binary or find_sitl_binary(self._binary_arg)
        return [str(binary), *self.arguments()]

    def _extra_params_path(self) -> Path:
        base = self.workdir if self.workdir is not None else Path(tempfile.gettempdir())
        return base / "amur-extra.parm"

    # --- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> ArduPilotSITL:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.failed = True
        self.stop()

    def start(self, timeout: float = 20.0) -> ArduPilotSITL:
        """Launch SITL and wait until its SERIAL0 port accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return self
        if not self.defaults.is_file():
            raise SimulatorError(f"SITL parameter defaults file {self.defaults} is missing")
        read_parm_file(self.defaults)  # fail here, clearly, rather than inside ArduPilot
        self._launch_speedup = max(self.boot_speedup, self.speedup)
        for name in ("serial0", "serial1", "serial2"):
            if not tcp_port_free(self.ports[name]):
                raise SimulatorError(
                    f"TCP port {self.ports[name]} ({name.upper()} of SITL instance {self.instance}) is "
                    "already in use: another simulator is running there; stop it or pick another "
                    "instance number (uav sim start --instance N; each adds 10 to the ports)")
        self.binary = find_sitl_binary(self._binary_arg)
        if self._workdir_arg is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"amur-uav-sitl-{self.instance}-"))
            self._own_workdir = True
        else:
            self.workdir = self._workdir_arg
            try:
                self.workdir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SimulatorError(f"cannot create SITL working folder {self.workdir}: {exc.strerror}") from None
        if self.params:
            self._extra_params_path().write_text(
                "# extra defaults from amur-uav\n" + "".join(f"{k} {v:g}\n" for k, v in self.params.items()))
        cmd = self.command()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        _install_handlers()
        try:
            self.process = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        except OSError as exc:
            self.failed = True
            self._close_log()
            raise SimulatorError(f"could not run {self.binary}: {exc.strerror}; log in {self.log_path}") from None
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                self.failed = True
                tail = self._log_tail()
                self.stop()
                raise SimulatorError(
                    f"ArduPilot SITL exited with status {code} right after starting; its output "
                    f"(kept in {self.kept_logs or self.log_path}) ends with:\n{tail}")
            # its own words that it holds the port: another simulator may have taken the
            # port since it was checked, and then this one's "bind failed" is what counts
            log = self._log_text()
            if f"bind failed on port {self.port}" in log:
                self.stop()  # nothing of its own to keep
                raise SitlPortTaken(
                    f"TCP port {self.port} (SERIAL0 of SITL instance {self.instance}) was taken "
                    "by another simulator while this one started; pick another instance number")
            if f"SERIAL0 on TCP port {self.port}" in log and not tcp_port_free(self.port):
                return self
            time.sleep(0.05)
        self.failed = True
        self.stop()
        raise SimulatorError(
            f"ArduPilot SITL did not open TCP port {self.port} within {timeout:.0f} s; "
            f"log kept in {self.kept_logs}")

    def wait_ready(self, timeout: float = 120.0) -> ReadyStatus:
        """Connect to SERIAL0 and wait until the copter is ready to arm.

        Ready means: a heartbeat past BOOT, a 3D GPS fix, an EKF with horizontal and vertical
        absolute position, and SYS_STATUS saying the pre-arm checks pass.  When the copter
        booted faster than asked (``boot_speedup``), it is then set to ``speedup``.

        Raises
        ------
        SimulatorError
            On timeout, saying what was still missing (and the last arming text).
        """
        if self.process is None or self.process.poll() is not None:
            raise SimulatorError("SITL is not running: call start() first (or use it as a context manager)")

        def alive():
            if self.process is None or self.process.poll() is not None:
                return f"status {None if self.process is None else self.process.returncode}"
            return None

        then = self.speedup if self._launch_speedup != self.speedup else None
        try:
            status = wait_until_ready(self.connection_string, timeout, who="ArduPilot SITL",
                                      alive=alive, log_hint=f" Log in {self.log_path}",
                                      then_speedup=then)
        except SimulatorError:
            self.failed = True
            raise
        self._launch_speedup = self.speedup
        return status

    def stop(self, grace: float = 5.0) -> None:
        """Stop SITL (terminate, then kill) and tidy up; logs are kept if anything failed."""
        proc = self.process
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(grace)
            elif proc.returncode not in (0, -signal.SIGTERM):
                self.failed = True
            self.process = None
        _LIVE.discard(self)
        self._close_log()
        if self.workdir is not None and self.workdir.exists():
            if self.failed or not self._own_workdir:
                self.kept_logs = self.workdir
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _close_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    def _log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def _log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except (OSError, AttributeError):
            return "(no output)"
        return "\n".join(lines[-n:]) or "(no output)"


__all__ = ["ArduPilotSITL", "DEFAULT_PARAMS", "ENV_VAR", "HOW_TO_GET", "Home", "ReadyStatus",
           "SitlPortTaken",
           "find_sitl_binary", "ports_for_instance", "read_parm_file", "tcp_port_free"]
