"""Frames registered to each other: one small robust least-squares problem per flight.

Every frame keeps the pose its GPS/IMU gave (the *direct* georeference) as a prior and gets a
correction: a yaw turn about the vertical through the camera, an east/north shift, a height
change and a tilt (the camera turned about the map's east and north axes: the gimbal's pitch
and roll readings are off by a degree or two, and near nadir that skews a footprint as no shift
can); the flight also shares one camera-height bias (the take-off point is not where the
ground is: the flat ground the frames were placed on is at the take-off height).  Tie points (:mod:`.ties`) say that a pixel of frame ``a`` and a pixel of frame
``b`` are the same ground: the residual is the horizontal distance between where the two
corrected cameras put it.  Priors keep each correction near zero within the sensors' accuracy,
so a frame tied to nothing stays where its GPS put it and the block as a whole cannot drift.

The solve is :func:`scipy.optimize.least_squares` (trust-region reflective) with the
Jacobian given analytically as a sparse matrix (each tie touches two frames and the bias) and a
``soft_l1`` loss, so the few mismatched features RANSAC lets through weigh little.

The height bias is what fixes the footprints' scale.  Two frames see a tie from camera centres
a GPS baseline apart; the ground must be where the two rays agree, so the ties measure the
height above the ground in units of the baselines (as a stereo pair does).  The ties are
measured at the direct scale (:meth:`_Problem._height_ratio`): in plain ground metres, lowering
every camera shrinks every seam with it, and the solve diverged that way (on Brighton the
cameras went 10.6 m down; the point cloud says 3.8 m).

Ground model of a tie, exact for a change of yaw and height: the direct ray through the pixel
meets the ground at height ``z`` (flat ground or the DEM), ``h = C_z - z`` below the camera;
its horizontal run per metre of drop is ``v = d_xy / -d_z``.  Corrected, the ground point is
``C_xy + (dx, dy) + (h + dz + bias) * Rot(-dyaw) v`` (yaw is clockwise; ENU turns
anticlockwise), ``v`` taken from the direct ray turned by the tilt first.  Over a DEM the hit height is held at the direct ray's, fine for corrections of
a few metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from uav.errors import GeoreferenceError

from .georef import CameraModel
from .poses import Intrinsics, Pose
from .ties import Tie

__all__ = ["Priors", "FrameAdjustment", "Registration", "solve_registration", "adjusted_pose",
           "adjusted_intrinsics", "tie_ground_points"]

SOLVE_BLAS_THREADS = 1    # see _solve


@dataclass(frozen=True)
class Priors:
    """How far each sensor is trusted (one standard deviation), and the tie accuracy.

    Defaults for a consumer drone: GPS 3 m horizontally, barometric height 1 m between frames,
    compass/gimbal yaw 3 degrees, the lens's radial
    distortion k1 0.1 off the frame's own lens model; a tie 0.3 m (a few pixels at 1/4 size,
    plus relief the flat ground does not model).

    ``bias_m``: the camera-height bias shared by the flight (how far the ground differs from
    the ground model the frames were placed on), 10 m; ``None`` leaves it out (the user gave
    the ground: ``--dem`` or ``--ground-elevation``).  The GPS baselines between the frames
    set its scale; see docs/registration.md for how well on Brighton.
    """

    xy_m: float = 3.0
    z_m: float = 1.0
    yaw_deg: float = 3.0
    bias_m: float | None = 10.0
    lens_k1: float = 0.1
    tie_m: float = 0.3
    tilt_deg: float | None = 2.0


_DEFAULT = Priors()


@dataclass
class FrameAdjustment:
    """One frame's outcome: its correction, and how well it now agrees with its neighbours."""

    index: int
    status: str                      # 'registered' or 'direct' (tied to nothing: pose kept)
    dx_m: float = 0.0
    dy_m: float = 0.0
    dz_m: float = 0.0
    dyaw_deg: float = 0.0
    tilt_deg: tuple[float, float] = (0.0, 0.0)   # camera turned about east, north (Priors.tilt_deg)
    neighbours: int = 0              # frames it shares ties with
    residual_m: float | None = None  # median tie disagreement after the solve
    residual_before_m: float | None = None


@dataclass
class Registration:
    """The flight's solve: per-frame corrections, the shared height bias and seam figures."""

    frames: list[FrameAdjustment]
    height_bias_m: float = 0.0
    height_bias_sd_m: float | None = None
    height_bias_used: bool = False   # False: not asked, or the ties could not pin it down
    lens_k1: float = 0.0             # radial distortion added to every frame's lens (OpenCV k1)
    lens_k1_sd: float | None = None
    lens_used: bool = False
    pairs: int = 0
    ties: int = 0
    seam_before_m: tuple[float, float] | None = None   # (median, p90) over the ties
    seam_after_m: tuple[float, float] | None = None
    note: str = ""
    ground_model: str = "the ground model"   # what the ground estimate is above ('take-off')

    @property
    def ground_above_m(self) -> float:
        """How far above the ground model the ties put the ground (flat ground at take-off:
        the ground's height above the take-off point); the cameras come down by as much."""
        return -self.height_bias_m if self.height_bias_used else 0.0

    @property
    def registered(self) -> int:
        return sum(f.status == "registered" for f in self.frames)

    def __str__(self) -> str:
        n = len(self.frames)
        if not self.registered:
            return f"registration: none of {n} frame(s) tied ({self.note})"
        seam = ""
        if self.seam_before_m and self.seam_after_m:
            seam = (f"; tie seams median {self.seam_before_m[0]:.2f} -> {self.seam_after_m[0]:.2f} m "
                    f"(p90 {self.seam_before_m[1]:.2f} -> {self.seam_after_m[1]:.2f})")
        bias = (f"; ground estimated {self.ground_above_m:.1f} m above {self.ground_model} (sd "
                f"{self.height_bias_sd_m:.1f} m) from {self.ties:,} ties" if self.height_bias_used else "")
        if self.lens_used:
            bias += f"; lens k1 {self.lens_k1:+.4f} (sd {self.lens_k1_sd:.4f})"
        direct = n - self.registered
        rest = f"; {direct} kept their direct georeference (frame_registration.note)" if direct else ""
        return (f"registration: {self.registered} of {n} frame(s) tied to their neighbours over "
                f"{self.pairs} pair(s), {self.ties} ties{seam}{bias}{rest}")


def _ray_terms(cam: CameraModel, uv: np.ndarray):
    """Per pixel: its undistorted normalised image coordinates (N, 2) under the frame's own lens
    model, and the direct height of the camera above where its ray hits the ground ``h``."""
    P = cam.pixel_to_world(uv[:, 0], uv[:, 1])
    D = cam.rays(uv[:, 0], uv[:, 1])
    dc = D @ cam.R                      # back to the camera frame
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = dc[:, :2] / dc[:, 2:3]
    h = cam.C[2] - P[:, 2]
    ok = np.isfinite(P[:, 0]) & (D[:, 2] < -1e-6) & (dc[:, 2] > 1e-6)
    return xy, h, ok


def tie_ground_points(cam: CameraModel, uv: np.ndarray) -> np.ndarray:
    """Where a camera puts pixels on the ground, horizontally (N, 2) in its UTM zone."""
    return cam.pixel_to_world(uv[:, 0], uv[:, 1])[:, :2]


def _turn(cs, sn, w):
    """``Rot(-th) w`` for per-row cos/sin of ``th`` (the yaw correction, clockwise)."""
    return np.stack([cs * w[:, 0] + sn * w[:, 1], -sn * w[:, 0] + cs * w[:, 1]], -1)


class _Problem:
    """The stacked tie observations and the residual/Jacobian functions of the solve."""

    def __init__(self, cams: list[CameraModel], ties: list[Tie], pri: Priors, with_bias: bool,
                 with_lens: bool):
        self.n, self.pri, self.with_bias, self.with_lens = len(cams), pri, with_bias, with_lens
        self.with_tilt = bool(pri.tilt_deg)
        self.k = 6 if self.with_tilt else 4   # parameters per frame
        self.R = np.stack([c.R for c in cams])
        origin = np.mean([c.C[:2] for c in cams], axis=0)
        ia, ib, va, vb, ha, hb, ca, cb, pair = [], [], [], [], [], [], [], [], []
        for j, t in enumerate(ties):
            v1, h1, ok1 = _ray_terms(cams[t.a], t.uv_a)
            v2, h2, ok2 = _ray_terms(cams[t.b], t.uv_b)
            ok = ok1 & ok2
            k = int(ok.sum())
            pair.append(np.full(k, j))
            ia.append(np.full(k, t.a))
            ib.append(np.full(k, t.b))
            va.append(v1[ok])
            vb.append(v2[ok])
            ha.append(h1[ok])
            hb.append(h2[ok])
            ca.append(np.repeat(cams[t.a].C[None, :2] - origin, k, 0))
            cb.append(np.repeat(cams[t.b].C[None, :2] - origin, k, 0))
        def cat(x, shape):
            return (np.concatenate(x) if x else np.zeros(shape))
        self.ia, self.ib = cat(ia, 0).astype(int), cat(ib, 0).astype(int)
        self.pair = cat(pair, 0).astype(int)             # which of ``ties`` each row came from
        self.fov = np.array([math.hypot(c.intr.width, c.intr.height) / c.intr.focal_px for c in cams])
        self.va, self.vb = cat(va, (0, 2)), cat(vb, (0, 2))
        self.ha, self.hb = cat(ha, 0), cat(hb, 0)
        self.ca, self.cb = cat(ca, (0, 2)), cat(cb, (0, 2))
        self.m = len(self.ia)
        # parameters, each in units of its prior's sd (conditioning, and the priors are x itself):
        # [dx, dy, dz, dyaw] per frame (and the tilt about east and north, with Priors.tilt_deg),
        # then the height bias, then the lens's k1
        self.scale = np.array([pri.xy_m, pri.xy_m, pri.z_m, math.radians(pri.yaw_deg)]
                              + ([math.radians(pri.tilt_deg)] * 2 if self.with_tilt else []))
        self.nx = self.k * self.n + 2
        # per side of the ties, what the solve never changes: the frame's index, the camera's
        # offset and height, and the undistorted ray turned into the world by the direct
        # rotation, split into the part the lens term scales and the part it does not (R @
        # [xy f, 1] = f R[:, :2] xy + R[:, 2]): every evaluation was a per-tie 3 x 3 product
        self._sides = {}
        for side, idx, c, xy, h in (("a", self.ia, self.ca, self.va, self.ha), ("b", self.ib, self.cb, self.vb, self.hb)):
            R = self.R[idx]
            self._sides[side] = (idx, c, h, np.einsum("nij,nj->ni", R[:, :, :2], xy), R[:, :, 2].copy(),
                                 (xy ** 2).sum(1))
        self._csr = None   # the Jacobian's sparsity, the same at every evaluation

    def unpack(self, x):
        p = x[:self.k * self.n].reshape(self.n, self.k) * self.scale
        bias = x[-2] * self.pri.bias_m if self.with_bias else 0.0
        return p, bias

    def kappa(self, x) -> float:
        """Radial factor on undistorted coordinates: ``xy * (1 + kappa r^2)`` (k1 ~ -kappa)."""
        return x[-1] * self.pri.lens_k1 if self.with_lens else 0.0

    def _runs(self, side, kappa, tilt=None):
        """Run per metre of drop ``v`` through each frame's R, and its derivatives: in kappa,
        and (with ``tilt``, per frame (a, b): the ray turned by Rx(a) Ry(b) about east and
        north) in a and b (else None)."""
        idx, _, _, P, Q, r2 = self._sides[side]
        d = (1 + kappa * r2)[:, None] * P + Q
        dd = r2[:, None] * P
        da = db = None
        if tilt is not None:
            ca, sa = np.cos(tilt[idx, 0]), np.sin(tilt[idx, 0])
            cb, sb = np.cos(tilt[idx, 1]), np.sin(tilt[idx, 1])

            def ry(w):
                return np.stack([cb * w[:, 0] + sb * w[:, 2], w[:, 1], -sb * w[:, 0] + cb * w[:, 2]], -1)

            def rx(w):
                return np.stack([w[:, 0], ca * w[:, 1] - sa * w[:, 2], sa * w[:, 1] + ca * w[:, 2]], -1)

            y = ry(d)
            da = np.stack([np.zeros(len(y)), -sa * y[:, 1] - ca * y[:, 2], ca * y[:, 1] - sa * y[:, 2]], -1)
            db = rx(np.stack([-sb * d[:, 0] + cb * d[:, 2], np.zeros(len(d)), -cb * d[:, 0] - sb * d[:, 2]], -1))
            d, dd = rx(y), rx(ry(dd))

        def deriv(w):
            return None if w is None else w[:, :2] / -d[:, 2:3] + d[:, :2] * w[:, 2:3] / d[:, 2:3] ** 2

        return d[:, :2] / -d[:, 2:3], deriv(dd), deriv(da), deriv(db)

    def _ground(self, p, bias, side, kappa=0.0):
        """Corrected ground points of one side of the ties, and the terms their derivatives use."""
        idx, c, h = self._sides[side][:3]
        v, dv, dva, dvb = self._runs(side, kappa, p[:, 4:6] if self.with_tilt else None)
        th = p[idx, 3]
        cs, sn = np.cos(th), np.sin(th)
        rv = _turn(cs, sn, v)
        L = h + p[idx, 2] + bias
        return c + p[idx, :2] + L[:, None] * rv, rv, L, cs, sn, v, dv, dva, dvb

    def seams(self, x) -> np.ndarray:
        """Horizontal disagreement (m) of every tie under parameters ``x``."""
        p, bias = self.unpack(x)
        k = self.kappa(x)
        return np.linalg.norm(self._ground(p, bias, "a", k)[0] - self._ground(p, bias, "b", k)[0], axis=1)

    def _height_ratio(self, p, bias):
        """Per tie, the corrected over the direct height of its two cameras above the ground.

        A tie's disagreement on the ground grows with the height (its pixel error times the
        GSD); measured in metres as it stands, lowering every camera would shrink every seam
        and the solve would buy that with the priors (on Brighton: cameras 10.6 m lower).
        Dividing by this ratio measures ties at the direct scale, whatever the height."""
        hs = self.ha + self.hb
        return (hs + p[self.ia, 2] + p[self.ib, 2] + 2 * bias) / hs, hs

    def residuals(self, x):
        p, bias = self.unpack(x)
        k = self.kappa(x)
        ga = self._ground(p, bias, "a", k)[0]
        gb = self._ground(p, bias, "b", k)[0]
        lam, _ = self._height_ratio(p, bias)
        r_tie = ((ga - gb) / (self.pri.tie_m * lam[:, None])).ravel()
        return np.concatenate([r_tie, x])   # the priors: each parameter's own sd units

    def jacobian(self, x):
        from scipy import sparse

        p, bias = self.unpack(x)
        kappa = self.kappa(x)
        rows, cols, vals = [], [], []
        m = self.m
        r = np.arange(m)
        lam, hs = self._height_ratio(p, bias)
        sides = {side: self._ground(p, bias, side, kappa) for side in ("a", "b")}
        e = sides["a"][0] - sides["b"][0]
        # the ratio's own derivative: -e / (tie lam^2) * d lam, d lam = d(dz_a + dz_b + 2 bias) / hs
        de = -e / (self.pri.tie_m * lam[:, None] ** 2 * hs[:, None])
        for comp in (0, 1):
            rr = 2 * r + comp
            rows += [rr, rr]
            cols += [self.k * self.ia + 2, self.k * self.ib + 2]
            vals += [de[:, comp] * self.scale[2]] * 2
            if self.with_bias:
                rows.append(rr)
                cols.append(np.full(m, self.nx - 2))
                vals.append(2 * de[:, comp] * self.pri.bias_m)
        for sign, side, idx in ((1.0, "a", self.ia), (-1.0, "b", self.ib)):
            _, rv, L, cs, sn, v, dv, dva, dvb = sides[side]
            rdv = _turn(cs, sn, dv)
            tilts = [(4, _turn(cs, sn, dva)), (5, _turn(cs, sn, dvb))] if self.with_tilt else []
            # d Rot(-th) v / d th = [-sn vx + cs vy, -cs vx - sn vy]
            drv = np.stack([-sn * v[:, 0] + cs * v[:, 1], -cs * v[:, 0] - sn * v[:, 1]], -1)
            k = sign / (self.pri.tie_m * lam)
            for comp in (0, 1):
                rr = 2 * r + comp
                rows += [rr, rr, rr]
                cols += [self.k * idx + comp, self.k * idx + 2, self.k * idx + 3]
                vals += [k * self.scale[comp], k * self.scale[2] * rv[:, comp],
                         k * self.scale[3] * L * drv[:, comp]]
                for j, rw in tilts:
                    rows.append(rr)
                    cols.append(self.k * idx + j)
                    vals.append(k * self.scale[j] * L * rw[:, comp])
                if self.with_bias:
                    rows.append(rr)
                    cols.append(np.full(m, self.nx - 2))
                    vals.append(k * self.pri.bias_m * rv[:, comp])
                if self.with_lens:
                    rows.append(rr)
                    cols.append(np.full(m, self.nx - 1))
                    vals.append(k * self.pri.lens_k1 * L * rdv[:, comp])
        rows.append(2 * m + np.arange(self.nx))
        cols.append(np.arange(self.nx))
        vals.append(np.ones(self.nx))
        shape = (2 * m + self.nx, self.nx)
        if self._csr is None:
            # where each entry lands in the compressed matrix (entries on one cell summed), once:
            # scipy's conversion sorted the million entries again at every evaluation
            key = np.concatenate(rows) * self.nx + np.concatenate(cols)
            cells, where = np.unique(key, return_inverse=True)
            indptr = np.searchsorted(cells // self.nx, np.arange(shape[0] + 1))
            self._csr = (where, len(cells), cells % self.nx, indptr)
        where, n, indices, indptr = self._csr
        data = np.bincount(where, weights=np.concatenate(vals), minlength=n)
        return sparse.csr_matrix((data, indices, indptr), shape=shape)


def _stats(d: np.ndarray) -> tuple[float, float] | None:
    return (float(np.median(d)), float(np.percentile(d, 90))) if len(d) else None


def _solve(prob: _Problem):
    from scipy.optimize import least_squares
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the solve's dense steps are small, and OpenBLAS's other threads spent
    # most of the solve's CPU spinning while they waited for work (120 simulator frames).
    # f_scale 3: ties within about a metre count fully, farther ones (mismatches) grow slowly.
    # ftol 1e-6: with the cameras' tilt the cost creeps on along directions that barely move
    # the ground (a tilt traded for a shift and a height): 120 simulator frames ran to the 100
    # evaluations (33 s) where 17 (9 s) put every tie's ground point within 1.7 cm of a solve
    # taken to 400 (2.7 mm median).
    with threadpool_limits(SOLVE_BLAS_THREADS, user_api="blas"):
        res = least_squares(prob.residuals, np.zeros(prob.nx), jac=prob.jacobian, method="trf",
                            loss="soft_l1", f_scale=3.0, x_scale=1.0, tr_solver="lsmr", max_nfev=100,
                            ftol=1e-6)
    if not np.all(np.isfinite(res.x)):
        raise GeoreferenceError("frame registration did not converge; the direct georeference is kept")
    return res


def _posterior_sd(prob: _Problem, x, k: int) -> float | None:
    """Posterior sd of parameter ``k`` (in its prior's sd units) from the Gauss-Newton normal
    matrix at the solution."""
    from scipy.sparse.linalg import spsolve

    J = prob.jacobian(x).tocsc()
    N = (J.T @ J).tocsc()
    e = np.zeros(prob.nx)
    e[k] = 1.0
    try:
        col = spsolve(N, e)
    except Exception:
        return None
    var = float(col[k])
    return math.sqrt(var) if var > 0 else None


def _mismatched_pairs(prob: _Problem, before: np.ndarray, n: int) -> set[int]:
    """Pairs whose ties put the same feature further apart on the direct poses than GPS and
    compass errors can: more than a quarter of the footprint's diagonal (median over the
    pair).  RANSAC accepts a wrong homography now and then between frames that barely overlap
    over repeated texture; its ties would turn the whole block to meet them."""
    out = set()
    for j in range(n):
        sel = prob.pair == j
        if not sel.any():
            continue
        h = np.median(np.concatenate([prob.ha[sel], prob.hb[sel]]))
        span = h * max(prob.fov[prob.ia[sel][0]], prob.fov[prob.ib[sel][0]])
        if np.median(before[sel]) > 0.25 * span:
            out.add(j)
    return out


def _ground_kept(prob: _Problem, x, sd: float | None) -> tuple[bool, str]:
    """Whether the solve's shared height bias is good enough to place the flight by, and why
    not.  ``sd`` is its posterior sd in prior units."""
    _, bias = prob.unpack(x)
    h = float(np.median(np.concatenate([prob.ha, prob.hb])))
    sd_m = None if sd is None else sd * prob.pri.bias_m
    if sd_m is None or sd >= 0.5 or sd_m > 0.05 * h:
        # 5 % of the height is a 5 % error in every footprint's size: no better than not knowing
        return False, ("the ties do not pin it down" if sd_m is None else
                       f"the ties pin it to {sd_m:.1f} m only (the cameras are {h:.0f} m up)")
    if abs(bias) > 0.5 * h:
        return False, f"the ties put it {-bias:+.1f} m from the ground model, more than half the height: not believed"
    return True, ""


def solve_registration(cams: list[CameraModel | None], ties: list[Tie], priors: Priors = _DEFAULT
                       ) -> Registration:
    """Solve every frame's pose correction from its ties, with the direct poses as priors.

    ``cams[i]`` is frame ``i``'s direct camera (None: not georeferenced, left out).  The shared
    height bias (the ground's height) and the lens term are estimated first; each is kept only
    when the ties pin it down (posterior sd under half its prior's; the height's also under
    5 % of the cameras' height, and no camera brought below half its height), otherwise the
    solve is redone without it: a bias the data cannot see would only move every frame by what
    the prior allows.
    """
    n = len(cams)
    ties = [t for t in ties if cams[t.a] is not None and cams[t.b] is not None and len(t.uv_a)]
    out = [FrameAdjustment(i, "direct") for i in range(n)]
    if not ties:
        return Registration(out, note="no overlapping frames shared enough ground features: "
                                      "every frame keeps its direct georeference")
    # frames without a camera get a stand-in so indices line up; nothing ties them
    stand_in = next(c for c in cams if c is not None)
    full = [c if c is not None else stand_in for c in cams]
    want_bias = bool(priors.bias_m)
    prob = _Problem(full, ties, priors, with_bias=want_bias, with_lens=True)
    if prob.m == 0:
        return Registration(out, note="no tie reached the ground in both frames")
    before = prob.seams(np.zeros(prob.nx))
    wrong = _mismatched_pairs(prob, before, len(ties))
    if wrong:
        ties = [t for j, t in enumerate(ties) if j not in wrong]
        if not ties:
            return Registration(out, note="every pair's ties disagreed beyond what GPS and compass allow: "
                                          "every frame keeps its direct georeference")
        prob = _Problem(full, ties, priors, with_bias=want_bias, with_lens=True)
        before = prob.seams(np.zeros(prob.nx))
    res = _solve(prob)
    # a shared parameter is kept only where the ties shrink its prior's sd by half or more
    sds = [_posterior_sd(prob, res.x, k) for k in (prob.nx - 2, prob.nx - 1)]
    used, lens = [s is not None and s < 0.5 for s in sds]
    used, ground_why = _ground_kept(prob, res.x, sds[0]) if want_bias else (False, "")
    if not (used and lens):
        prob = _Problem(full, ties, priors, with_bias=used, with_lens=lens)
        res = _solve(prob)
    p, bias = prob.unpack(res.x)
    kappa = prob.kappa(res.x)
    after = prob.seams(res.x)
    neighbours: dict[int, set] = {}
    for t in ties:
        neighbours.setdefault(t.a, set()).add(t.b)
        neighbours.setdefault(t.b, set()).add(t.a)
    for i in neighbours:
        sel = (prob.ia == i) | (prob.ib == i)
        if not sel.any():
            continue
        out[i] = FrameAdjustment(i, "registered", dx_m=float(p[i, 0]), dy_m=float(p[i, 1]),
                                 dz_m=float(p[i, 2] + bias), dyaw_deg=math.degrees(p[i, 3]),
                                 tilt_deg=(tuple(float(math.degrees(t)) for t in p[i, 4:6])
                                           if prob.with_tilt else (0.0, 0.0)),
                                 neighbours=len(neighbours[i]),
                                 residual_m=float(np.median(after[sel])),
                                 residual_before_m=float(np.median(before[sel])))
    note = "; ".join(w for w, ok in ((f"{len(wrong)} pair(s) dropped as mismatched (their ties disagree by "
                                       "over a quarter of the footprint on the direct poses)", not wrong),
                                      (f"ground height not estimated: {ground_why}", used or not want_bias),
                                      ("lens distortion not estimated: the ties do not pin it down", lens))
                     if not ok)
    sd_b, sd_k = ((None if s is None or not f else s * f) for s, f in zip(sds, (priors.bias_m, priors.lens_k1), strict=True))
    return Registration(out, height_bias_m=float(bias), height_bias_sd_m=sd_b, height_bias_used=used,
                        lens_k1=-float(kappa), lens_k1_sd=sd_k, lens_used=lens,
                        pairs=len(ties), ties=prob.m, seam_before_m=_stats(before),
                        seam_after_m=_stats(after), note=note)


def adjusted_pose(pose: Pose, cam: CameraModel, adj: FrameAdjustment) -> Pose:
    """The frame's pose with its correction applied (same datum and conventions as ``pose``).

    The solve turns a camera's rays by its tilt, then by the yaw correction.  That rotation is
    given back as the same turn about the map's east and north axes applied after the pose's
    own angles (:attr:`Pose.tilt`), the yaw correction kept in the yaw: the registered yaw
    stays the heading and the pitch and roll stay the gimbal's."""
    if adj.status != "registered":
        return pose
    lon, lat = cam.to_lonlat(cam.C[0] + adj.dx_m, cam.C[1] + adj.dy_m)
    def up(a):
        return (None if a is None else a + adj.dz_m)
    yaw, tilt = pose.yaw + adj.dyaw_deg, (0.0, 0.0)
    if any(adj.tilt_deg):
        tilt, turn = _world_tilt(adj)
        yaw -= turn
    return replace(pose, lat=float(lat), lon=float(lon), alt_amsl=up(pose.alt_amsl),
                   alt_rel=up(pose.alt_rel), yaw=(yaw + 180.0) % 360.0 - 180.0, tilt=tilt,
                   notes=list(pose.notes))


def _world_tilt(adj: FrameAdjustment) -> tuple[tuple[float, float], float]:
    """The solve's ``Rz(-dyaw) Rx(a) Ry(b)`` (ENU, before the direct rotation) as
    ``Rx(e) Ry(n) Rz(g) Rz(-dyaw)``: the tilt ``(e, n)`` about the map's east and north axes
    and the small turn ``g`` (degrees; second order in the tilt) the yaw gives back."""
    from .georef import _rx, _ry, _rz

    th = math.radians(adj.dyaw_deg)
    a, b = (math.radians(t) for t in adj.tilt_deg)
    m = _rz(-th) @ _rx(a) @ _ry(b) @ _rz(th)
    n = math.asin(max(-1.0, min(1.0, m[0, 2])))
    e = math.atan2(-m[1, 2], m[2, 2])
    g = math.atan2(-m[0, 1], m[0, 0])
    return (math.degrees(e), math.degrees(n)), math.degrees(g)


def adjusted_intrinsics(intr: Intrinsics, k1: float) -> Intrinsics:
    """The lens with the flight's estimated radial distortion ``k1`` added (OpenCV model)."""
    if not k1:
        return intr
    d = list(intr.distortion or ()) + [0.0] * 5
    d[0] += k1
    return replace(intr, distortion=tuple(d[:5]), source=f"{intr.source}; k1 {k1:+.4f} from registration")
