"""blendshapes.csv in Live Link Face's layout: ARKit's 52 names, timecode, rotations."""
import numpy as np
import pytest

from dlm.io import livelink


def test_header_is_live_link_faces():
    h = livelink.HEADER
    assert h[:2] == ("Timecode", "BlendShapeCount") and len(h) == 2 + 52 + 9
    assert len(set(livelink.ARKIT_NAMES)) == 52 and h[-9:] == livelink.ROTATION_NAMES
    assert livelink.ARKIT_NAMES[:7] == ("EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft",
                                         "EyeLookUpLeft", "EyeSquintLeft", "EyeWideLeft")
    assert livelink.ARKIT_NAMES[17] == "JawOpen" and livelink.ARKIT_NAMES[-1] == "TongueOut"


def test_every_ict_shape_but_the_pupils_reaches_one_arkit_column(model):
    """The map covers ICT's 53 ARKit shapes exactly once (split browInnerUp / cheekPuff averaged,
    TongueOut empty); the two pupil dilations have no column."""
    m = livelink.arkit_matrix(model.expression_names)
    names = list(model.expression_names)
    used = m.sum(0)
    split = ("browInnerUp_L", "browInnerUp_R", "cheekPuff_L", "cheekPuff_R")
    expected = [0.0 if n.startswith("PupilDilate") else 0.5 if n in split else 1.0 for n in names]
    np.testing.assert_allclose(used, expected)
    assert m[livelink.ARKIT_NAMES.index("TongueOut")].sum() == 0
    assert np.allclose(m.sum(1)[[i for i, a in enumerate(livelink.ARKIT_NAMES) if a != "TongueOut"]], 1.0)
    w = np.zeros(len(names))
    w[names.index("eyeBlink_L")] = 0.7
    w[names.index("cheekPuff_L")], w[names.index("cheekPuff_R")] = 0.2, 0.6
    w[names.index("jawLeft")] = 0.3
    a = dict(zip(livelink.ARKIT_NAMES, m @ w))
    assert a["EyeBlinkLeft"] == pytest.approx(0.7) and a["CheekPuff"] == pytest.approx(0.4)
    assert a["JawLeft"] == pytest.approx(0.3) and a["EyeBlinkRight"] == 0


def test_timecode_and_row():
    assert livelink.timecode(0.0, 30) == "00:00:00:00.000"
    assert livelink.timecode(3725.5, 30) == "01:02:05:15.000"
    assert livelink.timecode(1 / 29.97 * 3, 29.97) == "00:00:00:03.000"
    r = livelink.row(0.5, 25, np.linspace(-0.5, 1.5, 52), np.zeros(9))
    assert len(r) == len(livelink.HEADER) and r[1] == "61"
    w = np.array(r[2:54], float)
    assert w.min() == 0.0 and w.max() == 1.0


def test_rotation_columns_invert_their_construction():
    """yaw_pitch_roll undoes R = Ry(yaw) Rx(pitch) Rz(roll) (to float64 rounding); a head facing
    the camera upright reads 0, 0, 0; a head turned by the camera alone reads the camera's turn."""
    def ry(a): return livelink.rotation_matrix([0, a, 0])
    def rx(a): return livelink.rotation_matrix([a, 0, 0])
    def rz(a): return livelink.rotation_matrix([0, 0, a])
    for ypr in ([0.3, -0.2, 0.1], [-1.0, 0.5, -0.7], [0.0, 0.0, 0.0]):
        m = ry(ypr[0]) @ rx(ypr[1]) @ rz(ypr[2])
        np.testing.assert_allclose(livelink.yaw_pitch_roll(m), ypr, atol=1e-12)
    np.testing.assert_allclose(livelink.rotations(np.zeros(3), np.zeros((4, 3))), np.zeros(9), atol=1e-12)
    rot = livelink.rotations(np.array([0.0, 0.4, 0.0]), np.zeros((4, 3)))
    np.testing.assert_allclose(rot[:3], [0.4, 0.0, 0.0], atol=1e-12)
