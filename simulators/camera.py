"""A simulated frame camera: what a pinhole camera on a gimbal sees of a :class:`Scene`.

The ground is a plane at ``scene.ground_alt_amsl``, so ground texture -> image is a homography
and a frame is one ``cv2.warpPerspective`` of the cached ground texture plus one small warp per
planted object in view.  That keeps a frame at a few milliseconds at reduced resolution.

Pose conventions (DJI's, as written in ``drone-dji`` XMP):

* ``yaw_deg``: compass heading of the camera's forward direction, degrees clockwise from true
  north.  Looking straight down, the top of the image points towards this heading.
* ``pitch_deg``: -90 is nadir, 0 is level with the horizon.
* ``roll_deg``: applied last, about the optical axis (DJI's gimbal order yaw, pitch, roll);
  positive turns the image's right side down.

Pixel coordinates: x to the right, y down, (0, 0) at the top-left corner of the top-left pixel,
so the centre of pixel (col, row) is (col + 0.5, row + 0.5).  The principal point is the image
centre, pixels are square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from uav.errors import InvalidInputError
from uav.profiles import CameraProfile

from .scene import PlantedObject, Scene

_SKY = np.array([235, 215, 190], np.float32)  # hazy blue (BGR)
_HORIZON_HAZE = np.array([215, 210, 205], np.float32)


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of the rendered image (pixels)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class VisibleObject:
    """A planted object as it appears in one frame.

    ``center_px`` is where the object's position projects (x, y); ``box`` is the pixel box of
    its ground outline (x0, y0, x1, y1) clipped to the image; ``truncated`` says the outline
    runs past the image edge.
    """

    id: str
    kind: str
    center_px: tuple[float, float]
    box: tuple[float, float, float, float]
    truncated: bool
    center_in_frame: bool

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind,
                "center_px": [round(self.center_px[0], 2), round(self.center_px[1], 2)],
                "box": [round(v, 2) for v in self.box], "truncated": self.truncated,
                "center_in_frame": self.center_in_frame}


def rotation_world_to_camera(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """3x3 rotation taking east-north-up vectors into the camera frame (x right, y down, z forward)."""
    psi, theta, phi = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    fwd = np.array([math.sin(psi) * math.cos(theta), math.cos(psi) * math.cos(theta), math.sin(theta)])
    right = np.array([math.cos(psi), -math.sin(psi), 0.0])
    down = np.cross(fwd, right)
    right, down = (math.cos(phi) * right + math.sin(phi) * down,
                   -math.sin(phi) * right + math.cos(phi) * down)
    return np.vstack([right, down, fwd])


class View:
    """One camera pose over a scene: the projection both ways and what is in view."""

    def __init__(self, scene: Scene, intr: Intrinsics, lat: float, lon: float, alt_amsl: float,
                 yaw_deg: float, pitch_deg: float = -90.0, roll_deg: float = 0.0):
        for name, v in (("lat", lat), ("lon", lon), ("alt_amsl", alt_amsl), ("yaw_deg", yaw_deg),
                        ("pitch_deg", pitch_deg), ("roll_deg", roll_deg)):
            if not math.isfinite(v):
                raise InvalidInputError(f"camera pose: {name} must be a finite number, got {v!r}")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InvalidInputError(f"camera pose: lat={lat}, lon={lon} is not a position")
        if not -90.0 <= pitch_deg <= 30.0:
            raise InvalidInputError(f"camera pose: gimbal pitch {pitch_deg} deg is outside -90 (nadir) .. 30")
        self.scene, self.intr = scene, intr
        self.lat, self.lon, self.alt_amsl = float(lat), float(lon), float(alt_amsl)
        self.yaw_deg, self.pitch_deg, self.roll_deg = float(yaw_deg), float(pitch_deg), float(roll_deg)
        self.height_m = self.alt_amsl - scene.ground_alt_amsl
        if self.height_m <= 0.5:
            raise InvalidInputError(
                f"camera at {self.alt_amsl:.1f} m AMSL is not above the ground at "
                f"{scene.ground_alt_amsl:.1f} m AMSL; it needs at least 0.5 m of height")
        conv, k = scene.local_axes(self.lon, self.lat)
        # Work in the scene's UTM grid: rotate the heading by the meridian convergence and scale
        # the height by UTM's scale factor so that angles on the ground come out true.
        self.R = rotation_world_to_camera(self.yaw_deg + conv, self.pitch_deg, self.roll_deg)
        cx, cy = scene.frame.to_metric(self.lon, self.lat)
        self.C = np.array([cx, cy, self.height_m * k])
        K = intr.K
        # ground (X, Y, 1) -> image: K [r1 r2 -R C]
        self.H = K @ np.column_stack([self.R[:, 0], self.R[:, 1], -self.R @ self.C])
        self.H_inv = np.linalg.inv(self.H)

    # --- projection -------------------------------------------------------------------------
    def project_metric(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """UTM points (N, 2) on the ground -> pixel coordinates (N, 2) and in-front mask (N,)."""
        xy = np.atleast_2d(np.asarray(xy, float))
        q = self.H @ np.column_stack([xy, np.ones(len(xy))]).T
        in_front = q[2] > 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            px = (q[:2] / q[2]).T
        return px, in_front

    def pixel_of(self, lon: float, lat: float) -> tuple[float, float] | None:
        """Pixel (x, y) where a ground point appears, or None when it is behind the camera.

        The point may fall outside the image; compare with the image size to know.
        """
        xy = np.array(self.scene.frame.to_metric(lon, lat), float)[None]
        px, ok = self.project_metric(xy)
        return (float(px[0, 0]), float(px[0, 1])) if ok[0] else None

    def in_image(self, x: float, y: float) -> bool:
        return 0.0 <= x < self.intr.width and 0.0 <= y < self.intr.height

    def ground_of(self, x: float, y: float) -> tuple[float, float] | None:
        """lon, lat of the ground seen at pixel (x, y), or None when that pixel sees sky."""
        ray = self.R.T @ np.linalg.inv(self.intr.K) @ np.array([x, y, 1.0])
        if ray[2] >= -1e-9:
            return None
        t = -self.C[2] / ray[2]
        gx, gy = self.C[0] + t * ray[0], self.C[1] + t * ray[1]
        lon, lat = self.scene.frame.to_lonlat(gx, gy)
        return float(lon), float(lat)

    def gsd_m(self) -> float:
        """Ground sample distance at the image centre, metres per pixel."""
        w, h = self.intr.width, self.intr.height
        a = self._ground_metric(w / 2, h / 2)
        b = self._ground_metric(w / 2 + 1, h / 2)
        if a is None or b is None:
            return float("inf")
        return float(math.hypot(b[0] - a[0], b[1] - a[1]))

    def _ground_metric(self, x, y):
        ray = self.R.T @ np.linalg.inv(self.intr.K) @ np.array([x, y, 1.0])
        if ray[2] >= -1e-9:
            return None
        t = -self.C[2] / ray[2]
        return self.C[0] + t * ray[0], self.C[1] + t * ray[1]

    def visible_objects(self, min_visible_fraction: float = 0.25) -> list[VisibleObject]:
        """Planted objects in view: centre in the image, or enough of the outline's box inside."""
        out = []
        W, H = self.intr.width, self.intr.height
        for obj in self.scene.objects:
            vis = self._visible(obj, W, H, min_visible_fraction)
            if vis is not None:
                out.append(vis)
        return out

    def _visible(self, obj: PlantedObject, W, H, min_fraction) -> VisibleObject | None:
        foot = self.scene.footprint_metric(obj)
        px, ok = self.project_metric(foot)
        centre = self.pixel_of(obj.lon, obj.lat)
        if not ok.all() or centre is None:
            return None
        x0, y0 = px.min(axis=0)
        x1, y1 = px.max(axis=0)
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(W)), min(y1, float(H))
        if cx1 <= cx0 or cy1 <= cy0:
            return None
        full = max((x1 - x0) * (y1 - y0), 1e-9)
        frac = (cx1 - cx0) * (cy1 - cy0) / full
        c_in = self.in_image(*centre)
        if not c_in and frac < min_fraction:
            return None
        truncated = x0 < 0 or y0 < 0 or x1 > W or y1 > H
        return VisibleObject(obj.id, obj.kind, centre, (float(cx0), float(cy0), float(cx1), float(cy1)),
                             bool(truncated), bool(c_in))

    def footprint_lonlat(self) -> list[tuple[float, float]] | None:
        """The four image corners on the ground (lon, lat), or None when a corner sees sky."""
        W, H = self.intr.width, self.intr.height
        pts = [self.ground_of(x, y) for x, y in ((0, 0), (W, 0), (W, H), (0, H))]
        return None if any(p is None for p in pts) else pts


class SimCamera:
    """Renders frames of a scene through a camera profile.

    Parameters
    ----------
    scene : Scene
    camera : uav.profiles.CameraProfile
        Sensor and lens; the rendered image is the profile's image size times ``scale``.
    scale : float
        Resolution factor, e.g. 0.25 renders a 5280x3956 camera at 1320x989.

    Examples
    --------
    >>> from uav.profiles import get_camera
    >>> cam = SimCamera(scene, get_camera("mavic3e-wide"), scale=0.25)   # doctest: +SKIP
    >>> img = cam.render(43.1, 131.2, 160.0, yaw_deg=90.0)                # doctest: +SKIP
    """

    def __init__(self, scene: Scene, camera: CameraProfile, scale: float = 0.25):
        if not isinstance(camera, CameraProfile):
            raise InvalidInputError(f"camera must be a CameraProfile, got {type(camera).__name__}")
        if not (math.isfinite(scale) and 0.01 <= scale <= 1.0):
            raise InvalidInputError(f"render scale must be between 0.01 and 1, got {scale!r}")
        self.scene, self.camera, self.scale = scene, camera, float(scale)
        w = max(8, int(round(camera.image_width_px * scale)))
        h = max(8, int(round(camera.image_height_px * scale)))
        # Square pixels: the focal length in pixels follows the sensor width.
        f = camera.focal_length_mm * w / camera.sensor_width_mm
        self.intrinsics = Intrinsics(w, h, f, f, w / 2.0, h / 2.0)
        self.last_view: View | None = None
        self._pyramid: list[np.ndarray] = []
        self._sprite_pyramids: dict[str, list[np.ndarray]] = {}
        # OpenCV samples at integer pixel centres; our pixel centres are at +0.5.
        self._to_cv = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of rendered frames."""
        return self.intrinsics.width, self.intrinsics.height

    def view(self, lat: float, lon: float, alt_amsl: float, yaw_deg: float,
             pitch_deg: float = -90.0, roll_deg: float = 0.0) -> View:
        """The projection for a pose, without rendering."""
        return View(self.scene, self.intrinsics, lat, lon, alt_amsl, yaw_deg, pitch_deg, roll_deg)

    def pixel_of(self, lon: float, lat: float, view: View | None = None) -> tuple[float, float] | None:
        """Pixel of a ground point in ``view`` (default: the last rendered frame)."""
        view = view or self.last_view
        if view is None:
            raise InvalidInputError("pixel_of needs a view: render a frame first or pass view=")
        return view.pixel_of(lon, lat)

    def render(self, lat: float, lon: float, alt_amsl: float, yaw_deg: float,
               pitch_deg: float = -90.0, roll_deg: float = 0.0) -> np.ndarray:
        """The frame seen from a pose: (H, W, 3) BGR uint8."""
        return self.render_view(self.view(lat, lon, alt_amsl, yaw_deg, pitch_deg, roll_deg))

    def render_view(self, view: View) -> np.ndarray:
        W, H = self.size
        level, tex = self._texture_level(view.gsd_m())
        scene = self.scene
        t2g = scene.texture_to_ground.copy()
        f = float(2 ** level)
        # Level L pixel centre u_L corresponds to level-0 coordinate f * u_L + (f - 1) / 2.
        t2g = t2g @ np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2], [0, 0, 1.0]])
        M = self._to_cv @ view.H @ t2g
        img = cv2.warpPerspective(tex, M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_FILL_OUTLIERS,
                                  borderMode=cv2.BORDER_REFLECT_101)
        if view.pitch_deg > -89.0 or abs(view.roll_deg) > 1.0:
            img = self._sky(view, img)
        else:
            img = img.astype(np.float32)
        gsd = view.gsd_m()
        for obj in scene.objects:
            self._composite(img, view, obj, gsd)
        self.last_view = view
        return np.clip(img, 0, 255).astype(np.uint8)

    # --- internals --------------------------------------------------------------------------
    def _texture_level(self, gsd: float) -> tuple[int, np.ndarray]:
        if not self._pyramid:
            self._pyramid = [self.scene.texture]
        res = self.scene.resolution_m
        # Minifying more than ~1.5x aliases badly with bilinear sampling: use a coarser level.
        want = 0 if not math.isfinite(gsd) else max(0, int(math.floor(math.log2(max(gsd / (1.5 * res), 1.0)))))
        while len(self._pyramid) <= want and min(self._pyramid[-1].shape[:2]) > 16:
            self._pyramid.append(cv2.pyrDown(self._pyramid[-1]))
        level = min(want, len(self._pyramid) - 1)
        return level, self._pyramid[level]

    def _sky(self, view: View, img: np.ndarray) -> np.ndarray:
        W, H = self.size
        # Up-component of each pixel's ray is linear in (x, y): a half-plane above the horizon.
        a = view.R.T @ np.linalg.inv(self.intrinsics.K)
        up = a[2]
        xs = np.arange(W, dtype=np.float32) + 0.5
        ys = np.arange(H, dtype=np.float32) + 0.5
        dirz = up[0] * xs[None, :] + up[1] * ys[:, None] + up[2]
        out = img.astype(np.float32)
        sky = dirz >= -1e-4
        if sky.any():
            out[sky] = _SKY
        # Aerial haze thickens towards the horizon: blend ground by how steeply it is seen.
        rx = a[0, 0] * xs[None, :] + a[0, 1] * ys[:, None] + a[0, 2]
        ry = a[1, 0] * xs[None, :] + a[1, 1] * ys[:, None] + a[1, 2]
        grazing = np.clip(-dirz / np.sqrt(rx ** 2 + ry ** 2 + dirz ** 2), 0, 1)
        haze = np.clip(1.0 - grazing / 0.25, 0, 1)[..., None] * 0.6
        haze[sky] = 0
        out = out * (1 - haze) + _HORIZON_HAZE * haze
        return out

    def _sprite_levels(self, obj: PlantedObject) -> list[np.ndarray]:
        levels = self._sprite_pyramids.get(obj.id)
        sp = self.scene.sprite(obj)
        if levels is None or levels[0] is not sp.rgba:
            levels = [sp.rgba]
            self._sprite_pyramids[obj.id] = levels
        return levels

    def _composite(self, img: np.ndarray, view: View, obj: PlantedObject, gsd: float) -> None:
        sp = self.scene.sprite(obj)
        levels = self._sprite_levels(obj)
        want = 0 if not math.isfinite(gsd) else max(0, int(math.floor(math.log2(max(gsd / (1.5 * sp.res_m), 1.0)))))
        while len(levels) <= want and min(levels[-1].shape[:2]) > 8:
            levels.append(cv2.pyrDown(levels[-1]))
        level = min(want, len(levels) - 1)
        rgba = levels[level]
        f = float(2 ** level)
        s2g = sp.to_ground @ np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2], [0, 0, 1.0]])
        G = self._to_cv @ view.H @ s2g
        h, w = rgba.shape[:2]
        corners = np.array([[-0.5, -0.5, 1], [w - 0.5, -0.5, 1], [w - 0.5, h - 0.5, 1], [-0.5, h - 0.5, 1]]).T
        q = G @ corners
        if (q[2] <= 1e-9).any():
            return  # part of the sprite is behind the camera: never happens for what is in view
        px = q[:2] / q[2]
        W, H = self.size
        x0, y0 = max(int(math.floor(px[0].min())), 0), max(int(math.floor(px[1].min())), 0)
        x1, y1 = min(int(math.ceil(px[0].max())) + 1, W), min(int(math.ceil(px[1].max())) + 1, H)
        if x1 <= x0 or y1 <= y0:
            return
        shift = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
        patch = cv2.warpPerspective(rgba, shift @ G, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        roi = img[y0:y1, x0:x1]
        roi *= 1.0 - patch[..., 3:4]
        roi += patch[..., :3]


__all__ = ["Intrinsics", "SimCamera", "View", "VisibleObject", "rotation_world_to_camera"]
