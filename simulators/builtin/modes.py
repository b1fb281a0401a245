"""ArduCopter's mode numbers and names, the camera-shot record and the wording helpers
shared by the built-in copter's modules."""

from __future__ import annotations

from dataclasses import dataclass

from pymavlink.dialects.v20 import ardupilotmega as mavlink

M = mavlink

# ArduCopter custom modes (Mode::Number)
MODES = {
    "STABILIZE": 0, "ACRO": 1, "ALT_HOLD": 2, "AUTO": 3, "GUIDED": 4, "LOITER": 5, "RTL": 6,
    "CIRCLE": 7, "LAND": 9, "DRIFT": 11, "SPORT": 13, "FLIP": 14, "AUTOTUNE": 15,
    "POSHOLD": 16, "BRAKE": 17, "THROW": 18, "AVOID_ADSB": 19, "GUIDED_NOGPS": 20,
    "SMARTRTL": 21, "FLOWHOLD": 22, "FOLLOW": 23, "ZIGZAG": 24, "SYSTEMID": 25,
    "AUTOROTATE": 26, "AUTO_RTL": 27,
}
MODE_NAMES = {v: k for k, v in MODES.items()}
# modes this simulator flies; the others are refused as on a build without them
SUPPORTED_MODES = {0, 1, 2, 3, 4, 5, 6, 7, 9, 16, 17, 21}
POSITION_MODES = {3, 4, 5, 6, 7, 16, 17, 21}
ARMABLE_MODES = {0, 1, 2, 4, 5, 7, 16}
GUIDED_FLAG_MODES = {3, 27, 6, 5, 19, 23, 4, 7, 16, 17, 21}


@dataclass(frozen=True)
class CameraTrigger:
    """One camera shot, as CAMERA_FEEDBACK reports it."""

    img_idx: int
    time_usec: int
    lat: float
    lon: float
    alt_msl: float
    alt_rel: float
    roll: float
    pitch: float
    yaw: float


FENCE_ORDER = ("Max Alt", "Circle", "Polygon", "Min Alt")  # AC_Fence's bit order


def fence_names(kinds: list[str]) -> str:
    """"Circle fence", "Max Alt and Polygon fences"... as AC_Fence::get_fence_names words it."""
    names = [k for k in FENCE_ORDER if k in kinds]
    if not names:
        return ""
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text + (" fences" if len(names) > 1 else " fence")


# AP_Mission::Mission_Command::type(), the word in "Mission: 2 WP" (SITL 4.7 says these), for
# the commands the built-in copter stores
CMD_WORDS = {
    M.MAV_CMD_NAV_WAYPOINT: "WP", M.MAV_CMD_NAV_SPLINE_WAYPOINT: "SplineWP",
    M.MAV_CMD_NAV_RETURN_TO_LAUNCH: "RTL", M.MAV_CMD_NAV_LOITER_UNLIM: "LoitUnlim",
    M.MAV_CMD_NAV_LOITER_TIME: "LoitTime", M.MAV_CMD_NAV_LOITER_TURNS: "LoitTurns",
    M.MAV_CMD_NAV_LOITER_TO_ALT: "LoitAltitude", M.MAV_CMD_NAV_TAKEOFF: "Takeoff",
    M.MAV_CMD_NAV_LAND: "Land", M.MAV_CMD_NAV_DELAY: "Delay",
    M.MAV_CMD_NAV_CONTINUE_AND_CHANGE_ALT: "ContinueAndChangeAlt",
    M.MAV_CMD_CONDITION_DELAY: "CondDelay", M.MAV_CMD_CONDITION_DISTANCE: "CondDist",
    M.MAV_CMD_CONDITION_YAW: "CondYaw", M.MAV_CMD_DO_CHANGE_SPEED: "ChangeSpeed",
    M.MAV_CMD_DO_SET_HOME: "SetHome", M.MAV_CMD_DO_SET_SERVO: "SetServo",
    M.MAV_CMD_DO_SET_RELAY: "SetRelay", M.MAV_CMD_DO_DIGICAM_CONFIGURE: "DigiCamCfg",
    M.MAV_CMD_DO_DIGICAM_CONTROL: "DigiCamCtrl", M.MAV_CMD_DO_SET_CAM_TRIGG_DIST: "SetCamTrigDst",
    M.MAV_CMD_DO_SET_ROI: "SetROI", M.MAV_CMD_DO_FENCE_ENABLE: "FenceEnable",
    M.MAV_CMD_DO_LAND_START: "LandStart", M.MAV_CMD_DO_MOUNT_CONTROL: "MountControl",
    M.MAV_CMD_DO_JUMP: "Jump", M.MAV_CMD_DO_PAUSE_CONTINUE: "PauseContinue",
    M.MAV_CMD_IMAGE_START_CAPTURE: "ImageStartCapture",
}


def cmd_short(cmd: int) -> str:
    if cmd in CMD_WORDS:
        return CMD_WORDS[cmd]
    entry = M.enums["MAV_CMD"].get(cmd)
    name = entry.name if entry else str(cmd)
    return name.removeprefix("MAV_CMD_NAV_").removeprefix("MAV_CMD_").title().replace("_", "")
