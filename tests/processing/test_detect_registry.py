"""Finding detectors by name, and plugins through the amur_uav.detectors entry points."""

import textwrap

import numpy as np
import pytest

from processing.detect.base import Detector
from processing.detect.registry import (
    ENTRY_POINT_GROUP,
    available_detectors,
    get_detector,
    get_detectors,
)
from uav.errors import DetectorError

BUILTIN = ["fire", "smoke", "vehicle", "hotspot", "spotlight", "fire-colour", "smoke-colour"]


def test_builtins_are_listed_and_load():
    names = available_detectors()
    assert set(BUILTIN) <= set(names)
    for n in ("hotspot", "spotlight", "fire-colour", "smoke-colour"):
        det = get_detector(n)
        assert isinstance(det, Detector) and det.name == n and det.classes


def test_unknown_name_lists_known_ones():
    with pytest.raises(DetectorError) as e:
        get_detector("poacher-radar")
    msg = str(e.value)
    assert "poacher-radar" in msg
    for n in BUILTIN:
        assert n in msg


def test_bad_option_is_named():
    with pytest.raises(DetectorError, match="hotspot.*does not take options.*bogus"):
        get_detector("hotspot", bogus=3)


def test_options_reach_the_detector():
    det = get_detector("hotspot", threshold_c=45.0)
    assert det.threshold_c == 45.0


def test_get_detectors_from_comma_string_dedups():
    dets = get_detectors("hotspot, spotlight,hotspot")
    assert [d.name for d in dets] == ["hotspot", "spotlight"]
    with pytest.raises(DetectorError, match="no detectors named"):
        get_detectors(" , ")


def _plugin(tmp_path, monkeypatch, entries: str, module: str = ""):
    """Install a plugin distribution by writing its dist-info onto sys.path."""
    dist = tmp_path / "ranger_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ranger-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entries}\n")
    if module:
        (tmp_path / "ranger_plugin_mod.py").write_text(textwrap.dedent(module))
    monkeypatch.syspath_prepend(str(tmp_path))


PLUGIN_MODULE = """
    import numpy as np
    from processing.detect.base import Detection, Detector

    class BoatDetector(Detector):
        name = "boat"
        classes = ("boat",)

        def __init__(self, level=250):
            self.level = level

        def detect(self, image, info=None):
            ys, xs = np.nonzero(image[..., 0] >= self.level)
            if not len(xs):
                return []
            return [Detection("boat", 0.9, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, self.name)]

    def not_a_detector():
        return object()
"""


def test_plugin_is_found_and_runs(tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "boat = ranger_plugin_mod:BoatDetector\n"
                                   "fire = ranger_plugin_mod:BoatDetector", PLUGIN_MODULE)
    assert "boat" in available_detectors()
    det = get_detector("boat", level=200)
    img = np.zeros((40, 50, 3), np.uint8)
    img[10:14, 20:30] = 255
    (d,) = det.detect(img)
    assert (d.cls, d.x0, d.y0, d.x1, d.y1) == ("boat", 20, 10, 30, 14)
    # a plugin cannot take over a built-in name
    assert type(get_detector("fire-colour")).__name__ == "FireColourDetector"
    assert available_detectors().count("fire") == 1


def test_broken_plugins_give_clear_errors(tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "ghost = ranger_plugin_mod:Missing\n"
                                   "junk = ranger_plugin_mod:not_a_detector", PLUGIN_MODULE)
    with pytest.raises(DetectorError, match="plugin 'ghost'.*cannot be loaded"):
        get_detector("ghost")
    with pytest.raises(DetectorError, match="'junk'.*returned object, not a Detector"):
        get_detector("junk")
