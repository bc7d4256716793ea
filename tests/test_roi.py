"""The region of interest (dlm.product.roi): crop transforms, framing from landmarks, the
search windows."""
import numpy as np
import pytest

from dlm.product import roi


def test_roi_transform_round_trip_and_upright_framing():
    r = roi.Roi((120.0, 80.0), 64.0, np.radians(20))
    pts = np.random.default_rng(2).uniform(0, 200, (10, 2))
    a = r.transform(128)
    crop_pts = pts @ a[:, :2].T + a[:, 2]
    assert np.allclose(r.to_image(crop_pts, 128), pts)
    # The centre maps to the crop centre and the crop's x axis lies along the angle.
    c = np.asarray(r.centre)
    assert np.allclose(a[:, :2] @ c + a[:, 2], [64, 64])
    step = a[:, :2] @ np.array([np.cos(r.angle), np.sin(r.angle)])
    assert step[1] == pytest.approx(0, abs=1e-9) and step[0] > 0


def test_roi_from_landmarks_levels_the_eyes(model):
    # Template landmarks seen from the front, rolled by 25 degrees in the image.
    ids = np.asarray(model.landmarks["320"])
    p = np.asarray(model.template)[ids][:, :2] * np.array([8.0, -8.0]) + np.array([300.0, 200.0])
    t = np.radians(25)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    q = (p - [300, 200]) @ rot.T + [300, 200]
    r0 = roi.roi_from_landmarks(p, "320")
    r1 = roi.roi_from_landmarks(q, "320")
    assert abs(r0.angle) < np.radians(1) and r1.angle == pytest.approx(t, abs=np.radians(1))
    assert r1.side == pytest.approx(r0.side, rel=0.05)
    # In the crop, the two faces' landmarks coincide (the rotation is undone).
    a0, a1 = r0.transform(128), r1.transform(128)
    assert np.allclose(p @ a0[:, :2].T + a0[:, 2], q @ a1[:, :2].T + a1[:, 2], atol=1.5)
    # The non-neck box fills FILL of the side (within the box ratio of this set).
    keep = np.array([n != "neck" for n in model.landmark_regions["320"]])
    ext = np.ptp(p[keep], axis=0).max()
    assert r0.side == pytest.approx(ext * roi.BOX_RATIO["320"] / roi.FILL, rel=1e-6)


def test_sliding_windows_cover_the_image():
    wins = roi.sliding_windows(640, 480, 60.0, 0.7, 0.5)
    sides = sorted({round(w.side, 3) for w in wins})
    assert sides[-1] == 640 and sides[0] >= 60
    for s in sides:
        boxes = np.array([w.box() for w in wins if round(w.side, 3) == s])
        if s <= 480:   # windows of one scale reach every border
            assert boxes[:, 0].min() <= 1e-6 and boxes[:, 2].max() >= 640 - 1e-6
            assert boxes[:, 1].min() <= 1e-6 and boxes[:, 3].max() >= 480 - 1e-6


def test_faces_ordered_largest_or_most_certain_first():
    """roi.ordered (find_faces and the tracker): "largest" by crop side, "certain" by score (lower
    first); anything else is refused."""
    dets = [roi.Detection(roi.Roi((0.0, 0.0), side), np.zeros((1, 2)), np.ones(1), score)
            for side, score in ((50.0, -3.0), (120.0, -1.0), (80.0, -4.0))]
    assert [d.roi.side for d in roi.ordered("largest", dets)] == [120.0, 80.0, 50.0]
    assert [d.score for d in roi.ordered("certain", dets)] == [-4.0, -3.0, -1.0]
    with pytest.raises(ValueError, match="order must be"):
        roi.ordered("biggest", dets)
