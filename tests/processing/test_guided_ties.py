"""Tie matching guided by the direct georeference (issue 24): only features that the frames'
direct poses put on shared ground are compared, and only matches whose two features those
poses put within reach of each other are kept.  It must find the ties brute force finds, at
a fraction of the comparisons, survive GPS errors within the reach, and refuse a pair that the
poses say cannot overlap."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from processing import ties
from processing.georef import FlatGround, georeference_frame
from tests.processing.test_registration_ground import TAKEOFF, _render


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two rendered nadir frames 20 m apart (exact GPS), their features and direct georeference."""
    from processing.frames import decode_frame, read_frame_bytes, read_metadata
    from processing.poses import intrinsics_from_metadata, pose_from_metadata

    s = _render(tmp_path_factory.mktemp("guided"), 0.0, cols=2, rows=1)
    out = []
    for p in s.paths:
        meta = read_metadata(p)
        geo = georeference_frame(pose_from_metadata(meta), intrinsics_from_metadata(meta), FlatGround(TAKEOFF))
        r = ties.decode_scale(geo.camera.intr.width)
        pts, desc = ties.frame_features(decode_frame(read_frame_bytes(p), str(p), reduce=r), r)
        out.append(((pts, desc), geo))
    return out


def _prior(feats, geo, shift=(0.0, 0.0)):
    """The frame's prior as its direct pose gives it, the pose ``shift`` metres off."""
    pr = ties.frame_prior(feats[0], geo.camera, geo.footprint_utm)
    return ties.FramePrior(pr.ground + shift, shapely.affinity.translate(pr.footprint, *shift))


def _counting(monkeypatch):
    compared = []
    real = ties._knn_ratio

    def counting(da, db, *args, **kw):
        compared.append(len(da) * len(db))
        return real(da, db, *args, **kw)

    monkeypatch.setattr(ties, "_knn_ratio", counting)
    return compared


def _same(t1, t2) -> float:
    """The share of ``t1``'s ties that ``t2`` has too (same pixels in both frames)."""
    got = {tuple(np.round(np.r_[a, b], 1)) for a, b in zip(t2.uv_a, t2.uv_b, strict=True)}
    return np.mean([tuple(np.round(np.r_[a, b], 1)) in got for a, b in zip(t1.uv_a, t1.uv_b, strict=True)])


def test_guided_matching_finds_the_brute_force_ties_comparing_far_fewer_features(pair, monkeypatch):
    (fa, ga), (fb, gb) = pair
    compared = _counting(monkeypatch)
    brute = ties.match_pair(fa, fb, 0, 1)
    guided = ties.match_pair(fa, fb, 0, 1, prior=(_prior(fa, ga), _prior(fb, gb)))
    assert brute is not None and guided is not None
    assert guided.inliers >= 0.9 * brute.inliers
    assert _same(brute, guided) >= 0.9
    # frames 20 m apart, footprints about 50 m long: about 70 % of each frame lies on the
    # other's footprint grown by the 5 m margin (measured: 0.51 of the comparisons)
    assert compared[1] < 0.6 * compared[0], compared


def test_a_gps_error_within_the_reach_still_finds_the_ties(pair):
    (fa, ga), (fb, gb) = pair
    brute = ties.match_pair(fa, fb, 0, 1)
    # frame b's direct pose 6 m off (two GPS sd of 3 m): the reach is 15 m
    guided = ties.match_pair(fa, fb, 0, 1, prior=(_prior(fa, ga), _prior(fb, gb, (4.0, -4.5))))
    assert guided is not None and _same(brute, guided) >= 0.8


def test_a_pair_whose_poses_say_it_cannot_overlap_is_not_tied(pair, monkeypatch):
    (fa, ga), (fb, gb) = pair
    assert ties.match_pair(fa, fb, 0, 1) is not None
    compared = _counting(monkeypatch)
    # b's pose 200 m away: no feature of either frame lies on the other's ground, nothing compared
    far = ties.match_pair(fa, fb, 0, 1, prior=(_prior(fa, ga), _prior(fb, gb, (200.0, 0.0))))
    assert far is None and compared in ([], [0])
    # b's pose 30 m off, twice the reach: the footprints still overlap, but every true match puts
    # its two features 30 m apart on the direct ground, so none is kept
    off = ties.match_pair(fa, fb, 0, 1, prior=(_prior(fa, ga), _prior(fb, gb, (-30.0, 0.0))), reach_m=15.0)
    assert off is None


def test_matches_that_are_no_one_motion_of_the_ground_are_refused():
    rng = np.random.default_rng(3)
    ga = rng.uniform(0, 40, (40, 2))
    t = np.radians(3.0)   # a shift and a compass error of 3 degrees: the direct poses' errors
    gb = ga @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]).T + (4.0, -2.5)
    gb += rng.normal(0, 0.05, gb.shape)
    assert ties._one_motion(ga, gb, 0.8, 20)
    # a collapsed homography over repeated texture: 40 features of a on 4 spots of b
    assert not ties._one_motion(ga, gb[rng.integers(0, 4, 40)], 0.8, 20)
    # half the matches scattered: refused; a few: kept
    bad = gb.copy()
    bad[:25] += rng.uniform(-10, 10, (25, 2))
    assert not ties._one_motion(ga, bad, 0.8, 20)
    bad = gb.copy()
    bad[:5] += rng.uniform(-10, 10, (5, 2))
    assert ties._one_motion(ga, bad, 0.8, 20)
