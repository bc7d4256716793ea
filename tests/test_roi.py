"""The region of interest (dlm.product.roi): crop transforms, framing from landmarks, the
search windows."""
import dataclasses

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


@pytest.mark.parametrize("side", [160.0, 430.0, 700.0, 1100.0])    # crop scales 0.8, 0.30, 0.18, 0.12
def test_crop_puts_image_points_where_the_transform_says(side):
    """A blob at a known pixel lands at its transformed place in the crop, whether the crop is a plain
    bilinear warp (shrinking up to 4x) or first halves the image once or twice."""
    yy, xx = np.mgrid[0:1200, 0:1200].astype(np.float64)
    x, y = 581.0, 597.0
    image = np.repeat((240.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 14.0 ** 2)))[..., None], 3, -1)
    r = roi.Roi((602.3, 571.8), side, np.radians(10))
    c = roi.crop(image.astype(np.uint8), r, 128).astype(np.float64)[..., 0]
    a = r.transform(128)
    want = a[:, :2] @ np.array([x + 0.5, y + 0.5]) + a[:, 2] - 0.5    # pixel centres: continuous + 0.5
    gy, gx = np.mgrid[0:128, 0:128]
    got = np.array([(c * gx).sum(), (c * gy).sum()]) / c.sum()
    # Resampling keeps a smooth blob's centroid; uint8 rounding moves it by hundredths of a pixel.
    np.testing.assert_allclose(got, want, atol=0.05)


def test_crop_of_a_large_face_averages_instead_of_aliasing():
    """A one-pixel checkerboard shrunk ~5.5x: halving it first (2 x 2 averages) gives flat grey; bilinear
    sampling alone (what warpAffine does at any scale) would pick up black and white pixels."""
    board = ((np.indices((900, 900)).sum(0) % 2) * 255).astype(np.uint8)
    image = np.repeat(board[..., None], 3, -1)
    c = roi.crop(image, roi.Roi((450.0, 450.0), 700.0, np.radians(7)), 128).astype(np.float64)
    assert abs(c.mean() - 127.5) < 1.0 and c.std() < 1.0, (c.mean(), c.std())


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


def test_roi_from_landmarks_takes_the_roll_from_the_eyes_only_as_far_as_they_are_apart(model):
    """prior_angle: a frontal face's crop rolls to its eye line wherever the crop it came from
    stood; a profile's (eyes a few pixels apart, their line pointing anywhere) keeps that crop's roll."""
    ids = np.asarray(model.landmarks["320"])
    t3 = np.asarray(model.template)[ids]

    def seen(yaw_deg, roll_deg):
        y, t = np.radians(yaw_deg), np.radians(roll_deg)
        x = t3[:, 0] * np.cos(y) + t3[:, 2] * np.sin(y)            # turned about the vertical axis
        p = np.stack([x, t3[:, 1]], 1) * np.array([8.0, -8.0])
        rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        return p @ rot.T + np.array([300.0, 200.0])

    prior = np.radians(-7.0)
    frontal = seen(0, 25)
    assert roi.roi_from_landmarks(frontal, "320", prior_angle=prior).angle == \
        pytest.approx(roi.roi_from_landmarks(frontal, "320").angle, abs=1e-9)
    assert roi.roi_from_landmarks(frontal, "320", prior_angle=prior).angle == pytest.approx(np.radians(25), abs=np.radians(1))
    profile = seen(88, 25)
    # Without a prior the eye line of the profile is all there is; with one, the crop keeps it.
    assert roi.roi_from_landmarks(profile, "320", prior_angle=prior).angle == pytest.approx(prior, abs=1e-9)
    # Between the two (eyes 0.09 of the box apart at 70 degrees of yaw), the roll moves part of
    # the way: strictly between the crop's and the eye line's.
    half = seen(70, 25)
    a = roi.roi_from_landmarks(half, "320", prior_angle=prior).angle
    e = roi.roi_from_landmarks(half, "320").angle
    assert prior + np.radians(5) < a < e - np.radians(5)


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


class _SquareFaceNet:
    """A stand-in landmark network for the ROI logic: it "sees" the bright square in a crop and
    puts the template's non-neck landmarks exactly over it, with a sigma proportional to the
    square's share of the crop (less certain the tighter the crop: what the real network does for
    profiles, where the detector's wide box scores best).  With no square in the crop, a 2 px face
    at its centre (a detection too small to be plausible)."""

    def __init__(self, model, threshold, size=64, sigma_scale=0.05, bias_x=0.0):
        ids = np.asarray(model.landmarks["320"])
        p = np.asarray(model.template)[ids][:, :2] * np.array([1.0, -1.0])
        keep = np.array([n != "neck" for n in model.landmark_regions["320"]])
        lo, hi = p[keep].min(0), p[keep].max(0)
        self.unit = (p - lo) / np.max(hi - lo)        # non-neck extent 1 along its longer axis
        self.unit_centre = (self.unit[keep].min(0) + self.unit[keep].max(0)) / 2
        self.size, self.landmark_set, self.num_landmarks = size, "320", len(ids)
        self.manifest = {"roi_threshold": threshold}
        self.sigma_scale, self.bias_x = sigma_scale, bias_x

    def __call__(self, crops):
        mus, sigmas = [], []
        for c in np.asarray(crops):
            ys, xs = np.nonzero(c[..., 0] > 128)
            if len(xs):
                lo, hi = np.array([xs.min(), ys.min()], float), np.array([xs.max() + 1, ys.max() + 1], float)
            else:
                lo = hi = np.full(2, self.size / 2)
            ext = max(np.max(hi - lo), 2.0)
            # A dimmer square is a face the network is less sure of: sigma x (255 / brightness)^4.
            dim = (255.0 / c[ys, xs, 0].max()) ** 4 if len(xs) else 1.0
            mus.append((self.unit - self.unit_centre) * ext + (lo + hi) / 2 + [self.bias_x, 0.0])
            sigmas.append(np.full(self.num_landmarks, self.sigma_scale * ext * dim))
        return np.asarray(mus, np.float32), np.asarray(sigmas, np.float32)


def _square_scene(side=80, at=(200, 160)):
    image = np.zeros((320, 400, 3), np.uint8)
    image[at[1] - side // 2:at[1] + side // 2, at[0] - side // 2:at[0] + side // 2] = 255
    return image


def test_refine_prefers_the_crop_its_landmarks_frame(model):
    """A detector-sized crop ~1.4x the face's training framing is where the network is most
    certain, and its landmarks fail the framing check (`plausible`); refine keeps it unless told
    to prefer framed crops, then returns the re-framed crop (one step later), which passes."""
    net = _SquareFaceNet(model, threshold=None)
    image = _square_scene()
    own = roi.roi_from_landmarks(net.unit * 80, "320").side       # the training framing of the square
    wide = roi.Roi((200.0, 160.0), own / 0.7)                     # ratio 0.7 < 1 / FRAMING_TOLERANCE
    framed = lambda d: roi.plausible(d, "320", 24.0)  # noqa: E731
    plain = roi.refine(image, wide, net, 2)
    assert plain.roi.side == pytest.approx(wide.side) and not framed(plain)
    chosen = roi.refine(image, wide, net, 2, prefer=framed)
    assert framed(chosen) and chosen.roi.side == pytest.approx(own, rel=0.05)
    assert chosen.score > plain.score                             # less certain, and still chosen
    assert np.allclose(chosen.roi.centre, (200, 160), atol=2)


def test_find_faces_keeps_the_detectors_face_when_the_network_is_unsure(model):
    """When no detector box passes the network's score threshold (profiles on real photos score
    like real background patches), the detector's face is kept if its landmarks frame it
    plausibly, before any full search; a box on an empty patch is still no face."""
    image = _square_scene()
    sure = _SquareFaceNet(model, threshold=0.0)        # every face under the threshold
    unsure = _SquareFaceNet(model, threshold=-20.0)    # none under it
    box = np.array([[160.0, 120.0, 80.0, 80.0, 0.7]])
    at_face = lambda im: box  # noqa: E731
    for net in (sure, unsure):
        dets = roi.find_faces(image, net, at_face)
        assert len(dets) == 1
        assert np.allclose(roi.roi_from_landmarks(dets[0].mu, "320").centre, (200, 160), atol=2)
    assert roi.find_faces(image, unsure, None) == []                  # the search alone finds none
    empty = lambda im: np.array([[10.0, 10.0, 40.0, 40.0, 0.9]])  # noqa: E731
    assert roi.find_faces(image, unsure, empty) == []                 # an empty patch is no face


def test_mirror_averaging_cancels_a_sideways_bias(model):
    """A network that puts every landmark 3 px right of where it belongs puts them 3 px left in the
    mirror image; mapped back (x -> side - x, each landmark from its mirror partner) and averaged,
    the bias cancels: the result is the unbiased network's single pass, within the template's
    asymmetry (mirror partners within 0.05 cm; ~0.3 px at this face size).  Equal sigmas average
    to themselves; the score is the detection's own."""
    image = _square_scene()
    plain, biased = _SquareFaceNet(model, None), _SquareFaceNet(model, None, bias_x=3.0)
    r = roi.Roi((200.0, 160.0), roi.roi_from_landmarks(plain.unit * 80, "320").side)
    mu0, sig0, _ = roi.predict_in(image, [r], plain)
    mub, sigb, sb = roi.predict_in(image, [r], biased)
    assert np.abs(mub[0] - mu0[0])[:, 0].min() > 2.5               # the bias is there in one pass
    det = roi.Detection(r, mub[0], sigb[0], float(sb[0]))
    avg = roi.mirror_averaged(image, det, biased)
    np.testing.assert_allclose(avg.mu, mu0[0], atol=0.5)
    np.testing.assert_allclose(avg.sigma, sigb[0], rtol=1e-5)
    assert avg.score == det.score and avg.roi == det.roi


def test_averaged_weights_every_pass_by_inverse_variance(monkeypatch):
    """roi.averaged (photos): det's own pass, its crop turned by each other angle (one batched
    call, the angles added to det's), and with mirror the mirror pass of each of those crops;
    landmarks combined per landmark by inverse variance, sigma the passes' geometric mean, score
    and crop det's own.  Stub passes with known values, so the arithmetic is checked exactly."""
    r = roi.Roi((50.0, 40.0), 30.0, angle=0.2, score=-3.0)
    L = 4
    rng = np.random.default_rng(0)
    det = roi.Detection(r, rng.normal(size=(L, 2)), rng.uniform(1, 2, L), -3.0)
    value = {}                       # (angle in degrees, mirrored) -> (mu, sigma) of that pass
    value[(0, False)] = (det.mu, det.sigma)
    for a in (-10, 10):
        value[(a, False)] = (rng.normal(size=(L, 2)), rng.uniform(1, 2, L))
    for a in (-10, 0, 10):
        value[(a, True)] = (rng.normal(size=(L, 2)), rng.uniform(1, 2, L))
    key = lambda q: round(float(np.degrees(q.angle - r.angle)))  # noqa: E731
    calls = []

    def predict_in(image, rois, predictor, batch=32):
        calls.append(("predict_in", [key(q) for q in rois]))
        mu = np.stack([value[(key(q), False)][0] for q in rois])
        return mu, np.stack([value[(key(q), False)][1] for q in rois]), np.zeros(len(rois))

    def mirror_pass(image, q, predictor):
        calls.append(("mirror", key(q)))
        assert q.centre == r.centre and q.side == r.side
        return value[(key(q), True)]
    monkeypatch.setattr(roi, "predict_in", predict_in)
    monkeypatch.setattr(roi, "mirror_pass", mirror_pass)
    out = roi.averaged(None, det, None)
    assert calls == [("predict_in", [-10, 10]), ("mirror", 0), ("mirror", -10), ("mirror", 10)]
    mus = np.stack([v[0] for v in value.values()])
    sig = np.stack([v[1] for v in value.values()])
    w = sig ** -2.0
    np.testing.assert_allclose(out.mu, (mus * w[..., None]).sum(0) / w.sum(0)[:, None], rtol=1e-12)
    np.testing.assert_allclose(out.sigma, np.prod(sig, 0) ** (1 / 6), rtol=1e-12)
    assert out.roi == det.roi and out.score == det.score
    # No angles but det's own, no mirror: det itself, no network pass.
    calls.clear()
    same = roi.averaged(None, det, None, angles_deg=(0.0,), mirror=False)
    assert calls == [] and np.array_equal(same.mu, det.mu) and np.allclose(same.sigma, det.sigma)


def test_predict_in_runs_a_few_batch_shapes(model):
    """Crops run at power-of-two batches up to `batch` (padded with blank crops whose outputs are
    dropped), so the network compiles a handful of shapes, not one per crop count; the results are
    the unpadded ones."""
    assert [roi.padded_batch(n, 32) for n in (1, 2, 3, 5, 9, 27, 32)] == [1, 2, 4, 8, 16, 32, 32]
    assert roi.padded_batch(5, 4) == 5 and roi.padded_batch(3, 3) == 3
    net = _SquareFaceNet(model, None)
    seen = []
    real_call = net.__call__
    net_calls = type("Net", (), {"__call__": lambda self, c: seen.append(len(c)) or real_call(c),
                                 "size": net.size, "num_landmarks": net.num_landmarks})()
    image = _square_scene()
    rois = [roi.Roi((200.0 + d, 160.0), 150.0) for d in range(-20, 40, 2)]     # 30 crops
    mu, sigma, score = roi.predict_in(image, rois[:27], net_calls)
    assert seen == [32] and mu.shape == (27, net.num_landmarks, 2) and score.shape == (27,)
    one = [roi.predict_in(image, [r], net) for r in rois[:27]]
    np.testing.assert_allclose(mu, np.stack([m[0] for m, _, _ in one]))
    np.testing.assert_allclose(sigma, np.stack([s[0] for _, s, _ in one]))
    seen.clear()
    roi.predict_in(image, rois, net_calls, batch=8)
    assert seen == [8, 8, 8, 8]                                   # 30 = 8 + 8 + 8 + 6 -> 8


def test_find_faces_compares_an_unsure_box_with_the_full_search(model, monkeypatch):
    """compare_search: when the network confirms none of the detector's boxes, the full search runs
    as well and the more certain face is kept, whichever it is; without it the unsure box's face is
    kept and the search never runs.  (The stand-in network's full search finds slivers, not squares:
    `search` stands in for it here with the face it would return.)"""
    image = np.zeros((320, 400, 3), np.uint8)
    image[130:190, 60:120] = 160       # a dim square at (90, 160): an unsure face
    image[130:190, 280:340] = 255      # a bright one at (310, 160): a certain face
    net = _SquareFaceNet(model, threshold=None)
    dim, bright = (roi.refine(image, roi.Roi((x, 160.0), 90.0), net, 2) for x in (90.0, 310.0))
    assert bright.score < dim.score - 1.0
    net.manifest["roi_threshold"] = (dim.score + bright.score) / 2
    on_dim = lambda im: np.array([[60.0, 130.0, 60.0, 60.0, 0.8]])  # noqa: E731
    on_bright = lambda im: np.array([[280.0, 130.0, 60.0, 60.0, 0.8]])  # noqa: E731
    centre_x = lambda dets: roi.roi_from_landmarks(dets[0].mu, "320").centre[0]  # noqa: E731
    calls = []
    monkeypatch.setattr(roi, "search", lambda *a, **k: calls.append(1) or [bright])
    kept = roi.find_faces(image, net, on_dim, compare_search=False)
    assert len(kept) == 1 and centre_x(kept) == pytest.approx(90, abs=2) and calls == []
    compared = roi.find_faces(image, net, on_dim, compare_search=True)
    assert len(compared) == 1 and centre_x(compared) == pytest.approx(310, abs=2) and calls == [1]
    sure = roi.find_faces(image, net, on_bright, compare_search=True)   # a confirmed box: no search
    assert len(sure) == 1 and centre_x(sure) == pytest.approx(310, abs=2) and calls == [1]
    worse = dataclasses.replace(bright, score=dim.score + 1.0)           # the search's face, less certain
    monkeypatch.setattr(roi, "search", lambda *a, **k: [worse])
    compared = roi.find_faces(image, net, on_dim, compare_search=True)
    assert len(compared) == 1 and centre_x(compared) == pytest.approx(90, abs=2)


def test_search_proposals_frames_a_box_by_its_geometric_size(monkeypatch):
    """A detector's box becomes a crop of side BOX_TO_SIDE x sqrt(w h), centred BOX_TO_CENTRE_Y of
    that above the box's centre: a tall, narrow box (a profile's) is not framed by its longer side."""
    seen = []
    monkeypatch.setattr(roi, "predict_in", lambda image, windows, predictor, batch=32:
                        (None, None, np.zeros(len(windows))))
    monkeypatch.setattr(roi, "_confirm", lambda image, windows, *a: seen.extend(windows) or [])
    boxes = np.array([[10.0, 20.0, 100.0, 400.0, 0.9], [0.0, 0.0, 50.0, 50.0, 0.8]])
    assert roi.search_proposals(np.zeros((500, 500, 3), np.uint8), boxes, None) == []
    tall, square = seen
    assert tall.side == pytest.approx(roi.BOX_TO_SIDE * 200.0) and square.side == pytest.approx(roi.BOX_TO_SIDE * 50.0)
    assert tall.centre == pytest.approx((60.0, 220.0 + roi.BOX_TO_CENTRE_Y * 200.0))
    assert square.centre == pytest.approx((25.0, 25.0 + roi.BOX_TO_CENTRE_Y * 50.0))
    seen.clear()     # turns: each box's crop at each roll, the same centre and side
    roi.search_proposals(np.zeros((500, 500, 3), np.uint8), boxes, None, turns=(0.0, 90.0, 180.0))
    assert len(seen) == 6 and [w.angle for w in seen[::2]] == pytest.approx([0.0, np.pi / 2, np.pi])
    assert all(w.centre == tall.centre and w.side == tall.side for w in seen[::2])
    assert all(w.centre == square.centre and w.side == square.side for w in seen[1::2])
