"""What planted objects look like from above: high-resolution RGBA sprites.

A vehicle is drawn at 2.5 cm a pixel with its shadow cast away from the sun; a fire is a
burning patch with its scorched ring and glow; a smoke plume drifts downwind from its source.
Each sprite is drawn in the object's own axes (right, forward); the scene places it on the
ground.  Kept apart from the landscape texture so a vehicle stays crisp even when the texture is
coarser than the camera's ground sample distance.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .noise import value_noise
from .planted import PlantedObject

# Car body colours seen from above (BGR), weighted towards what roads actually carry.
_CAR_COLOURS = [
    (235, 235, 235), (228, 230, 232), (190, 192, 195), (160, 160, 160), (35, 35, 38),
    (60, 60, 62), (40, 40, 170), (150, 80, 30), (45, 80, 45), (90, 140, 190), (30, 30, 110),
]


def draw_object(obj: PlantedObject, rng: np.random.Generator, sun_azimuth_deg: float,
                sun_elevation_deg: float):
    """An object's sprite in its own axes.

    Returns
    -------
    rgba : ndarray (H, W, 4) float32
        Premultiplied BGR and alpha (see :class:`~simulators.planted.Sprite`).
    res_m : float
        Metres per sprite pixel.
    anchor : (float, float)
        Sprite pixel (col, row) at the object's ``lon, lat``.
    footprint : ndarray (N, 2)
        Ground outline in metres (right, forward) around the anchor.
    """
    if obj.kind == "vehicle":
        return _vehicle_sprite(obj, rng, sun_azimuth_deg, sun_elevation_deg)
    if obj.kind == "fire":
        return _fire_sprite(obj, rng)
    return _smoke_sprite(obj, rng)


def _vehicle_sprite(obj: PlantedObject, rng, sun_az: float, sun_el: float):
    res = 0.025
    length = obj.size_m
    truck = length >= 6.0
    width = 2.45 if truck else min(2.0, max(1.6, 0.4 * length))
    margin = 2.5 + length * 0.15
    W = int(math.ceil((width + 2 * margin) / res)) | 1
    H = int(math.ceil((length + 2 * margin) / res)) | 1
    u0, v0 = (W - 1) / 2, (H - 1) / 2
    bgr = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)

    def px(a, f):  # local metres (right, forward) -> sprite pixel
        return (u0 + a / res, v0 - f / res)

    def rect(a0, f0, a1, f1):
        p0, p1 = px(a0, f1), px(a1, f0)
        return (int(round(p0[0])), int(round(p0[1]))), (int(round(p1[0])), int(round(p1[1])))

    # Shadow on the ground, cast away from the sun, relative to the vehicle's own axes.
    rel = math.radians(sun_az + 180.0 - obj.heading_deg)
    reach = 1.5 / math.tan(math.radians(sun_el))
    sa, sf = math.sin(rel) * reach, math.cos(rel) * reach
    sh = np.zeros((H, W), np.float32)
    p0, p1 = rect(-width / 2 + sa, -length / 2 + sf, width / 2 + sa, length / 2 + sf)
    cv2.rectangle(sh, p0, p1, 1.0, -1)
    p0, p1 = rect(-width / 2, -length / 2, width / 2, length / 2)
    cv2.rectangle(sh, p0, p1, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 0.25 / res)
    bgr[:] = (18, 22, 20)
    alpha[:] = 0.6 * sh

    body = np.array(_CAR_COLOURS[int(rng.integers(len(_CAR_COLOURS)))], np.float32)
    body_mask = np.zeros((H, W), np.float32)
    corner = 0.35 * width
    p0, p1 = rect(-width / 2, -length / 2, width / 2, length / 2)
    _rounded_rect(body_mask, p0, p1, int(corner / res))
    colour = np.zeros((H, W, 3), np.float32)
    colour[:] = body
    # Roof and bonnet catch the light in the middle, edges fall away (a car is rounded).
    xs = (np.arange(W) - u0) * res / (width / 2)
    side = np.clip(1.0 - 0.28 * xs ** 2, 0.6, 1.0)
    colour *= side[None, :, None]

    def paint(a0, f0, a1, f1, col, rounded=0.0):
        m = np.zeros((H, W), np.float32)
        q0, q1 = rect(a0, f0, a1, f1)
        _rounded_rect(m, q0, q1, int(rounded / res))
        colour[m > 0] = col

    glass = (38, 36, 34)
    if truck:
        cab = 2.2
        cargo = np.array([205, 208, 210], np.float32) if rng.random() < 0.6 else body * 0.9
        paint(-width / 2 + 0.05, -length / 2, width / 2 - 0.05, length / 2 - cab - 0.15, cargo, 0.05)
        paint(-width / 2 + 0.2, length / 2 - 0.75, width / 2 - 0.2, length / 2 - 0.3, glass, 0.1)
        paint(-width / 2 + 0.15, length / 2 - cab + 0.1, width / 2 - 0.15, length / 2 - 0.8,
              body * 1.08, 0.1)
    else:
        f_ws0, f_ws1 = length * (0.5 - 0.30), length * (0.5 - 0.12)  # windshield band
        f_rw0, f_rw1 = -length * (0.5 - 0.12), -length * (0.5 - 0.23)  # rear window band
        paint(-width / 2 + 0.18, f_ws0, width / 2 - 0.18, f_ws1, glass, 0.12)
        paint(-width / 2 + 0.22, f_rw0, width / 2 - 0.22, f_rw1, glass, 0.1)
        paint(-width / 2 + 0.16, f_rw1, width / 2 - 0.16, f_ws0, body * 1.06, 0.15)  # roof
        for s in (-1, 1):  # door mirrors stick out just ahead of the front doors
            q0, q1 = rect(s * width / 2, f_ws1 - 0.35, s * (width / 2 + 0.16), f_ws1 - 0.15)
            mirror = np.zeros((H, W), np.float32)
            cv2.rectangle(mirror, q0, q1, 1.0, -1)
            colour[mirror > 0] = body * 0.8
            body_mask = np.maximum(body_mask, mirror)
    # Outline: a dark seam where the body meets the ground.
    edge = body_mask - cv2.erode(body_mask, np.ones((3, 3), np.uint8))
    colour[edge > 0] *= 0.55
    colour = cv2.GaussianBlur(colour, (0, 0), 0.8)
    body_mask = cv2.GaussianBlur(body_mask, (0, 0), 0.6)
    bgr = bgr * (1 - body_mask[..., None]) + colour * body_mask[..., None]
    alpha = np.maximum(alpha, body_mask)
    bgr += rng.normal(0, 2.0, bgr.shape).astype(np.float32)
    foot = np.array([[-width / 2, -length / 2], [width / 2, -length / 2],
                     [width / 2, length / 2], [-width / 2, length / 2]])
    return _premultiply(bgr, alpha), res, (u0, v0), foot


def _fire_sprite(obj: PlantedObject, rng):
    d = obj.size_m
    res = max(0.02, d / 90.0)
    extent = 3.2 * d + 2.0
    n = int(math.ceil(extent / res)) | 1
    c = (n - 1) / 2
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    rr = np.hypot(xx - c, yy - c) * res / (d / 2)  # 1.0 at the burning patch's edge
    wobble = value_noise((n, n), max(2.0, 0.25 * d / res), rng, octaves=3)
    rw = rr * (0.8 + 0.45 * wobble)
    bgr = np.zeros((n, n, 3), np.float32)
    alpha = np.zeros((n, n), np.float32)
    # Scorched ground around the fire.
    burnt = np.clip(1.6 - rw, 0, 1) ** 0.7
    bgr[:] = (22, 24, 28)
    alpha[:] = 0.85 * burnt
    # Glow lighting the surroundings.
    glow = np.exp(-(rr / 1.4) ** 2) * 0.75
    glow_col = np.array([40, 140, 255], np.float32)
    bgr = bgr * (1 - glow[..., None]) + glow_col * glow[..., None]
    alpha = np.maximum(alpha, glow)
    # Flames: ragged tongues, hottest (yellow-white) in the core, red at the edges.
    flicker = value_noise((n, n), max(1.5, 0.08 * d / res), rng, octaves=2)
    heat = np.clip(1.15 - rw + 0.5 * (flicker - 0.5), 0, 1)
    flame = np.clip(heat * 2.2, 0, 1)
    stops = np.array([0.0, 0.35, 0.7, 1.0], np.float32)
    cols = np.array([[20, 30, 170], [10, 90, 245], [40, 190, 255], [190, 250, 255]], np.float32)
    fcol = np.stack([np.interp(heat, stops, cols[:, k]) for k in range(3)], axis=-1)
    bgr = bgr * (1 - flame[..., None]) + fcol * flame[..., None]
    alpha = np.maximum(alpha, flame)
    foot = np.array([[-d / 2, -d / 2], [d / 2, -d / 2], [d / 2, d / 2], [-d / 2, d / 2]])
    return _premultiply(bgr, alpha), res, (c, c), foot


def _smoke_sprite(obj: PlantedObject, rng):
    length = obj.size_m
    res = max(0.05, length / 500.0)
    spread = 0.4
    half_w = 0.06 * length + spread * length / 2 + 2.0
    back = 0.1 * length + 2.0
    W = int(math.ceil(2 * half_w / res)) | 1
    H = int(math.ceil((length * 1.1 + back) / res))
    u0 = (W - 1) / 2
    v0 = H - 1 - back / res
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    f = (v0 - yy) * res  # metres downwind of the source
    a = (xx - u0) * res
    meander = 0.04 * length * np.sin(f / length * 5.0 + rng.uniform(0, 6.28))
    width = 0.5 + 0.06 * length + spread * np.clip(f, 0, None) / 2
    across = np.exp(-0.5 * ((a - meander) / (0.55 * width)) ** 2)
    along = np.clip((f + 0.6) / 1.5, 0, 1) * np.exp(-np.clip(f, 0, None) / (0.75 * length))
    puffs = value_noise((H, W), max(2.0, 0.08 * length / res), rng, octaves=3)
    density = across * along * (0.6 + 0.9 * puffs)
    alpha = np.clip(density * 1.4, 0, 0.93).astype(np.float32)
    shade = 0.78 + 0.22 * np.clip(f / length, 0, 1) + 0.12 * (puffs - 0.5)
    bgr = (np.array([212, 214, 216], np.float32) * shade[..., None]).astype(np.float32)
    foot = np.array([[-0.06 * length - 0.5, -0.5], [0.06 * length + 0.5, -0.5],
                     [0.06 * length + spread * length / 2, 0.8 * length],
                     [-0.06 * length - spread * length / 2, 0.8 * length]])
    return _premultiply(bgr, alpha), res, (u0, v0), foot


def _premultiply(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    alpha = np.clip(alpha, 0, 1).astype(np.float32)
    out = np.empty(bgr.shape[:2] + (4,), np.float32)
    out[..., :3] = np.clip(bgr, 0, 255) * alpha[..., None]
    out[..., 3] = alpha
    return out


def _rounded_rect(img: np.ndarray, p0, p1, radius: int, value: float = 1.0) -> None:
    (x0, y0), (x1, y1) = p0, p1
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    radius = max(0, min(radius, (x1 - x0) // 2, (y1 - y0) // 2))
    if radius == 0:
        cv2.rectangle(img, (x0, y0), (x1, y1), value, -1)
        return
    cv2.rectangle(img, (x0 + radius, y0), (x1 - radius, y1), value, -1)
    cv2.rectangle(img, (x0, y0 + radius), (x1, y1 - radius), value, -1)
    for cx, cy in ((x0 + radius, y0 + radius), (x1 - radius, y0 + radius),
                   (x0 + radius, y1 - radius), (x1 - radius, y1 - radius)):
        cv2.circle(img, (cx, cy), radius, value, -1, cv2.LINE_AA)


__all__ = ["draw_object"]
