"""Tie features found by the workers and kept next to the flight (FLIGHT.gpkg.cache/ties/):
registration reads them instead of decoding every frame again in the parent, gives the same
result as without them, and never uses features of a file that has changed since."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.processing.test_registration_ground import _render

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiecache")
    return root, _render(root, 0.0, cols=3, rows=2)


def _rows(gpkg):
    """Every frame's registration row (by path; when it was made aside), and its footprint."""
    con = sqlite3.connect(gpkg)
    con.row_factory = sqlite3.Row
    rows = con.execute("SELECT r.*, f.path, f.geom FROM frame_registration r "
                       "JOIN frames f ON f.fid = r.frame_fid ORDER BY f.path").fetchall()
    con.close()
    return [{k: r[k] for k in r.keys() if k not in ("frame_fid", "registered_at")} for r in rows]


def _sha(gpkg):
    con = sqlite3.connect(gpkg)
    out = dict(con.execute("SELECT path, sha256 FROM frames"))
    con.close()
    return out


def _register_counting(monkeypatch, gpkg, matched: list | None = None) -> list:
    """Register ``gpkg`` again, returning the frames the parent decoded to do it (and adding
    the pairs it matched, as frame file names, to ``matched``)."""
    import processing.frames as frames
    import processing.register_flight as rf
    from processing.store import FlightStore

    decoded, real, real_match = [], frames.decode_frame, rf.match_pair

    def counting(data, path="", reduce=1):
        decoded.append(path)
        return real(data, path, reduce)

    with FlightStore.open(gpkg) as store:
        names = [Path(f.path).name for f in store.frames("done")]

        def matching(fa, fb, a, b, **kw):
            if matched is not None:
                matched.append((names[a], names[b]))
            return real_match(fa, fb, a, b, **kw)

        monkeypatch.setattr(frames, "decode_frame", counting)
        monkeypatch.setattr(rf, "match_pair", matching)
        rf.register_flight(store)
    monkeypatch.setattr(frames, "decode_frame", real)
    monkeypatch.setattr(rf, "match_pair", real_match)
    return decoded


def test_a_registered_run_caches_each_frames_ties_and_registration_reads_them(survey, tmp_path, monkeypatch):
    from processing import process_frames
    from processing.tie_cache import tie_cache_dir

    root, s = survey
    out = tmp_path / "flight.gpkg"
    summ = process_frames(s.paths, out, detectors=(), workers=2, progress=False, register=True)
    assert summ.registration.registered == 6, str(summ.registration)
    cached = sorted(p.stem for p in tie_cache_dir(out).glob("*.npz"))
    assert cached == sorted(_sha(out).values())   # one entry per frame, by its content
    first = _rows(out)
    assert len(list((tie_cache_dir(out) / "pairs").glob("*.npz"))) >= 5   # each pair matched, kept
    # registering again decodes nothing in the parent, matches no pair, and comes out the same
    matched = []
    assert _register_counting(monkeypatch, out, matched) == [] and matched == []
    assert _rows(out) == first
    # the same GeoPackage without its cache (a file made before the cache, moved alone):
    # every frame decoded in the parent, the same registration, and the cache filled for next time
    alone = tmp_path / "alone" / "flight.gpkg"
    alone.parent.mkdir()
    shutil.copy(out, alone)
    assert sorted(_register_counting(monkeypatch, alone)) == sorted(map(str, s.paths))
    assert _rows(alone) == first
    assert len(list(tie_cache_dir(alone).glob("*.npz"))) == 6
    assert _register_counting(monkeypatch, alone) == []


def test_a_frame_changed_since_is_described_again_not_matched_with_stale_ties(survey, tmp_path, monkeypatch):
    from processing import process_frames
    from processing.frames import read_frame_bytes
    from processing.tie_cache import load_tie_features, tie_cache_dir

    root, s = survey
    folder = tmp_path / "DCIM"
    shutil.copytree(s.paths[0].parent, folder)
    paths = sorted(folder.glob("*.JPG"))
    out = tmp_path / "flight.gpkg"
    process_frames(paths, out, detectors=(), workers=0, progress=False, register=True)
    sha = _sha(out)
    changed = str(paths[2])
    assert load_tie_features(tie_cache_dir(out), changed, sha[changed], 1) is not None
    # the same picture saved again: other bytes, same name; the GeoPackage still has the old hash
    data = read_frame_bytes(changed)
    Path(changed).write_bytes(data[:-2] + b"\x00\xff\xd9")
    assert load_tie_features(tie_cache_dir(out), changed, sha[changed], 1) is None
    matched = []
    assert _register_counting(monkeypatch, out, matched) == [changed]
    # only its pairs are matched again: their cached ties were made from the file before
    name = Path(changed).name
    assert matched and all(name in pair for pair in matched)
    # a cache entry whose hash is not the frame's is never looked at
    assert load_tie_features(tie_cache_dir(out), str(paths[3]), sha[str(paths[4])], 1) is None


def test_a_watch_registering_batch_by_batch_matches_only_the_new_frames_pairs(survey, tmp_path, monkeypatch):
    """`uav process --watch --register` registers the flight after each batch: the second
    batch matches only the pairs its frames make, and the flight comes out as registered at once."""
    import processing.register_flight as rf
    from processing import process_frames

    root, s = survey
    once = tmp_path / "once.gpkg"
    process_frames(s.paths, once, detectors=(), workers=0, progress=False, register=True)
    grown = tmp_path / "grown.gpkg"
    process_frames(s.paths[:3], grown, detectors=(), workers=0, progress=False, register=True)
    matched, real = [], rf.match_pair

    def matching(fa, fb, a, b, **kw):
        matched.append((a, b))
        return real(fa, fb, a, b, **kw)

    monkeypatch.setattr(rf, "match_pair", matching)
    summ = process_frames(s.paths[3:], grown, detectors=(), workers=0, progress=False, register=True)
    assert summ.registration.registered == 6
    # frames 0-2 came first: every pair matched now has one of the new frames (3-5) in it
    assert matched and all(b >= 3 for _, b in matched), matched
    assert summ.registration.pairs > len(matched)          # the first batch's pairs were read back
    assert _rows(grown) == _rows(once)


@pytest.mark.skipif(not (DATA / "brighton").exists(), reason="../shared/data/brighton not present")
def test_the_workers_ties_are_bit_identical_to_the_parents_on_a_real_frame():
    from processing.frames import decode_frame, read_frame_bytes
    from processing.tasks import FrameTask
    from processing.ties import frame_features
    from processing.worker import process_frame

    path = str(DATA / "brighton" / "DJI_0018.JPG")
    pts, desc = frame_features(decode_frame(read_frame_bytes(path), path, reduce=4), 4)
    for detectors in ((), ("smoke",)):   # decoded for the search at 1/8 or full size: 1/4 again
        got = process_frame(FrameTask(path=path, detectors=detectors, ties=True)).tie_features
        assert got.reduce == 4 and np.array_equal(got.points, pts) and np.array_equal(got.descriptors, desc)
    assert process_frame(FrameTask(path=path, detectors=())).tie_features is None   # not asked
