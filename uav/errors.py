"""The project's exceptions.

Every error a user can meet derives from :class:`UavError`, and most also derive from the
builtin that fits, so ``except ValueError`` still catches a bad polygon.  Messages are
written for the ranger reading them: say what was wrong and where, not how the code failed.
"""

from __future__ import annotations


class UavError(Exception):
    """Base class of every amur-uav error."""


# --- input -----------------------------------------------------------------------------
class InvalidInputError(UavError, ValueError):
    """A file or value given by the user cannot be used."""


class InvalidSectorError(InvalidInputError):
    """A sector or exclusion polygon is empty, broken, misplaced or absurd."""


class ProfileError(InvalidInputError):
    """A camera or aircraft profile is unknown or inconsistent."""


class PlanFileError(InvalidInputError):
    """A mission file (.plan, .waypoints, KML, GeoJSON) cannot be read or written."""


# --- planning --------------------------------------------------------------------------
class PlanningError(UavError, ValueError):
    """A plan cannot be made from the given sector and settings."""


class PlanValidationError(PlanningError):
    """A plan breaks a rule (fence, altitude, item count, endurance, camera interval).

    ``problems`` lists every violation found, each naming the item and why.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


# --- vehicle link ----------------------------------------------------------------------
class LinkError(UavError, ConnectionError):
    """The MAVLink connection failed or the vehicle stopped answering."""


class LinkTimeoutError(LinkError, TimeoutError):
    """Nothing arrived in time; the message says what was waited for."""


class MissionTransferError(UavError, RuntimeError):
    """A mission, fence or rally transfer failed."""


class MissionUploadError(MissionTransferError):
    """An upload did not arrive whole on the vehicle."""


class MissionDownloadError(MissionTransferError):
    """A download from the vehicle did not complete."""


class MissionVerifyError(MissionUploadError):
    """What was read back from the vehicle differs from what was sent."""


class ParameterError(UavError, RuntimeError):
    """A parameter could not be read or set."""


class CommandError(UavError, RuntimeError):
    """The vehicle refused or did not acknowledge a command (mode, arm, takeoff)."""


class ArmingError(CommandError):
    """The vehicle refused to arm; the message carries its pre-arm text."""


class SigningError(UavError, RuntimeError):
    """MAVLink2 signing keys or setup are wrong or missing."""


# --- simulation ------------------------------------------------------------------------
class SimulatorError(UavError, RuntimeError):
    """A simulated vehicle could not be started, reached or stopped."""


class SitlNotFoundError(SimulatorError, FileNotFoundError):
    """No ArduPilot SITL binary was found."""


# --- processing ------------------------------------------------------------------------
class FrameError(UavError, ValueError):
    """A frame cannot be read or has no usable metadata."""


class PoseError(FrameError):
    """A frame's position or orientation is missing or unusable."""


class TelemetryError(UavError, ValueError):
    """A telemetry log cannot be read or does not cover the frames."""


class GeoreferenceError(UavError, ValueError):
    """A pixel or frame cannot be placed on the ground."""


class DetectorError(UavError, RuntimeError):
    """A detector is unknown, its model is missing, or it failed."""


class FlightStoreError(UavError, RuntimeError):
    """A flight GeoPackage cannot be opened, read or written."""


class ReviewConflictError(FlightStoreError):
    """A review decision was based on a flag version that has since changed."""


class ExportError(UavError, RuntimeError):
    """An export could not be written or sent."""


class MosaicError(UavError, RuntimeError):
    """A flight's mosaic cannot be made or written (no placed frame, too large, unwritable)."""


class BaseMapError(InvalidInputError):
    """A base map for the review page (GeoTIFF or MBTiles) cannot be read or does not fit the flight."""
