"""The render pool's draws: labels move with the pixels under every crop and flip.  The tests that
render a pool (resumable writing, deterministic draws) are in test_dataset.py, training from it in test_train.py."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from dlm.io.files import write_json
from dlm.synth import pool
from dlm.synth import render as synth


def _dot_image(points, size):
    """A black (size, size, 3) uint8 image with a bright 3 x 3 px dot centred on each point."""
    img = np.zeros((size, size, 3), np.uint8)
    for x, y in points:
        i, j = int(y), int(x)   # pixel (i, j) has its centre at (j + 0.5, i + 0.5)
        img[i - 1:i + 2, j - 1:j + 2] = 255
    return img


def _centroid(image, x, y, r=4):
    """Intensity-weighted centroid of image (S, S, 3) in a window about (x, y), pixel-centre
    coordinates."""
    g = image.astype(np.float64).mean(-1)
    i0, j0 = int(y) - r, int(x) - r
    win = g[max(i0, 0):i0 + 2 * r + 1, max(j0, 0):j0 + 2 * r + 1]
    ii, jj = np.mgrid[max(i0, 0):max(i0, 0) + win.shape[0], max(j0, 0):max(j0, 0) + win.shape[1]]
    w = win.sum()
    return (np.sum(win * jj) / w + 0.5, np.sum(win * ii) / w + 0.5) if w > 0 else (np.nan, np.nan)


def test_labels_move_with_the_pixels_under_crop_roll_and_flip():
    p, s = 96, 64
    # Landmarks 0 and 1 a mirror pair (left and right of the image), 2 and 3 on the midline.
    pts = np.array([[30.5, 40.5], [65.5, 40.5], [48.5, 30.5], [48.5, 66.5]], np.float32)
    mirror = jnp.array([1, 0, 2, 3])
    image = jnp.asarray(_dot_image(pts, p))
    checked = 0
    for seed in range(12):
        out, lm, vis = pool.augment_sample(jax.random.key(seed), image, jnp.asarray(pts), jnp.ones(4, bool), mirror,
                                           s, base_zoom=s / p, crops=pool.CropRanges(roll_deg=20.0),
                                           photometric=None)
        out = np.asarray(jnp.round(out * 255)).astype(np.uint8)
        lm = np.asarray(lm)
        for k in range(4):
            if not bool(vis[k]) or not (5 < lm[k, 0] < s - 5 and 5 < lm[k, 1] < s - 5):
                continue
            # Bilinear resampling of a symmetric dot keeps its centroid to a fraction of a pixel.
            np.testing.assert_allclose(_centroid(out, *lm[k]), lm[k], atol=0.35)
            checked += 1
        # Mirror pair: landmark 0 stays the one on the image's left, flipped or not (rolls of at
        # most 20 degrees cannot swap two points 35 px apart horizontally).
        assert lm[0, 0] < lm[1, 0]
    assert checked >= 24   # most of the 12 x 4 dots stay well inside the crop


def test_roll_tail_turns_some_crops_far_and_labels_follow():
    """CropRanges.roll_tail_prob: the roll drawn within +-roll_tail_deg on that share of draws
    (heads lying down); the labels follow the pixels at any roll, and without it the draws are the
    plain ones."""
    p, s = 96, 64
    pts = np.array([[30.5, 40.5], [65.5, 40.5], [48.5, 30.5], [48.5, 66.5]], np.float32)
    mirror = jnp.array([1, 0, 2, 3])
    image = jnp.asarray(_dot_image(pts, p))
    rolls, checked = [], 0
    for seed in range(16):
        key = jax.random.key(seed)
        args = (key, image, jnp.asarray(pts), jnp.ones(4, bool), mirror, s)
        plain = pool.augment_sample(*args, base_zoom=s / p, photometric=None)
        off = pool.augment_sample(*args, base_zoom=s / p, crops=pool.CropRanges(roll_tail_prob=0.0), photometric=None)
        for a, b in zip(plain, off):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        out, lm, vis = pool.augment_sample(*args, base_zoom=s / p, crops=pool.CropRanges(roll_tail_prob=1.0),
                                           photometric=None)
        out, lm = np.asarray(jnp.round(out * 255)).astype(np.uint8), np.asarray(lm)
        for k in range(4):
            if bool(vis[k]) and 5 < lm[k, 0] < s - 5 and 5 < lm[k, 1] < s - 5:
                np.testing.assert_allclose(_centroid(out, *lm[k]), lm[k], atol=0.35)
                checked += 1
        # The midline (landmark 2 above 3) turned by the crop's roll (a flip mirrors it: abs).
        d = lm[3] - lm[2]
        rolls.append(abs(np.degrees(np.arctan2(d[0], d[1]))))
    assert checked >= 32
    # Uniform within +-90 degrees: 16 draws all under 30 degrees has probability (1/3)^16.
    assert max(rolls) > 30 and max(rolls) <= 90 + 1e-3, rolls


def test_flip_uses_the_mirror_permutation():
    p = s = 64
    pts = np.array([[20.5, 30.5], [43.5, 30.5]], np.float32)
    image = jnp.asarray(_dot_image(pts, p))
    crops = pool.CropRanges(zoom=(1.0, 1.0), shift=0.0, roll_deg=0.0, flip_prob=1.0)
    out, lm, vis = pool.augment_sample(jax.random.key(0), image, jnp.asarray(pts), jnp.ones(2, bool),
                                       jnp.array([1, 0]), s, base_zoom=1.0, crops=crops, photometric=None)
    # x -> S - x, and the labels swap: the new landmark 0 is the old 1's dot, mirrored.
    np.testing.assert_allclose(np.asarray(lm), [[s - 43.5, 30.5], [s - 20.5, 30.5]], atol=1e-4)
    np.testing.assert_array_equal(np.asarray(jnp.round(out * 255)).astype(np.uint8), np.asarray(image)[:, ::-1])


def test_landmarks_cut_off_by_the_crop_are_not_visible():
    p, s = 64, 32
    pts = np.array([[32.5, 32.5], [2.5, 2.5]], np.float32)     # centre, and a corner the crop drops
    crops = pool.CropRanges(zoom=(1.0, 1.0), shift=0.0, roll_deg=0.0, flip_prob=0.0)
    _, lm, vis = pool.augment_sample(jax.random.key(0), jnp.zeros((p, p, 3), jnp.uint8), jnp.asarray(pts),
                                     jnp.ones(2, bool), jnp.array([0, 1]), s, base_zoom=1.0, crops=crops,
                                     photometric=None)
    assert bool(vis[0]) and not bool(vis[1]) and float(lm[1, 0]) < 0


def _flat_ring_batch(seed: int, b: int = 16, p: int = 64):
    """b pool images of p px, each one flat colour (10 + 15 i), their landmarks a ring of 12 points
    about the centre jittered by up to 2 px: (images, landmarks, visible, mirror)."""
    rng = np.random.default_rng(seed)
    images = jnp.asarray(np.broadcast_to((10 + 15 * np.arange(b, dtype=np.uint8))[:, None, None, None],
                                         (b, p, p, 3)).copy())
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = np.stack([p / 2 + 14 * np.cos(ang), p / 2 + 16 * np.sin(ang)], -1).astype(np.float32)
    lms = jnp.asarray(ring[None] + rng.uniform(-2, 2, (b, 1, 2)).astype(np.float32))
    return images, lms, jnp.ones((b, 12), bool), jnp.arange(12)


def test_background_faces_paste_another_face_beside_this_one_and_hide_what_they_cover():
    """CropRanges.distractor_prob: the batch's previous draw, smaller, beside this face; labels do
    not move, landmarks the paste covers turn invisible, and draws without it are unchanged."""
    p, s, b = 64, 64, 16
    images, lms, vis, mirror = _flat_ring_batch(1, b, p)
    keys = synth.batch_keys(9, 0, b)
    plain = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, photometric=None)
    for crops in (pool.CropRanges(distractor_prob=0.0), pool.CropRanges()):
        again = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, crops, photometric=None)
        for a, c in zip(plain, again):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    img, lm, v = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, pool.CropRanges(distractor_prob=1.0),
                                    photometric=None)
    np.testing.assert_array_equal(np.asarray(lm), np.asarray(plain[1]))
    img, base = np.asarray(img, np.int16), np.asarray(plain[0], np.int16)
    hidden = 0
    for i in range(b):
        other = 10 + 15 * ((i - 1) % b)          # jnp.roll(images, 1): draw i's other face is draw i - 1's
        changed = np.any(img[i] != base[i], -1)
        # Some pixels of the other face's flat colour, fully pasted; every changed pixel lies
        # between the two colours (a blend of this image and the other).
        assert np.any(np.all(img[i] == other, -1)), i
        lo, hi = np.minimum(base[i], other), np.maximum(base[i], other)
        assert np.all((img[i] >= lo - 1) & (img[i] <= hi + 1))
        # Beside, not over: the paste's centre lies outside this face's landmark box.
        ys, xs = np.nonzero(np.all(img[i] == other, -1))
        box_lo, box_hi = np.asarray(lm[i]).min(0), np.asarray(lm[i]).max(0)
        assert not (box_lo[0] < xs.mean() < box_hi[0] and box_lo[1] < ys.mean() < box_hi[1]), i
        # Visibility follows the paste's opacity at the landmark: the pixel under it moved most of
        # the way to the other colour -> hidden, little of the way -> visible (the opacity varies
        # within a pixel, so the middle is not judged).
        for k, (x, y) in enumerate(np.asarray(lm[i])):
            if not (0 <= x < s and 0 <= y < s) or not plain[2][i, k]:
                continue
            px = (int(y), int(x))
            share = float(np.mean(np.abs(img[i][px] - base[i][px]))) / max(abs(other - float(base[i][px][0])), 1)
            if share > 0.7:
                assert not v[i, k], (i, k, share)
            elif share < 0.3:
                assert v[i, k], (i, k, share)
            hidden += int(not v[i, k])
        assert not changed.all()
    assert hidden >= 2   # some pastes reach this face's edge, as in photographs of groups


def test_occluders_cover_the_face_and_hide_the_landmarks_under_them():
    """CropRanges.occluder_prob: an oval of the batch's previous draw's texture, shaded, over one of
    this face's landmarks; labels do not move, the landmarks it covers turn invisible (with their
    labels kept), and draws without it are unchanged."""
    p, s, b = 64, 64, 16
    images, lms, vis, mirror = _flat_ring_batch(2, b, p)
    keys = synth.batch_keys(11, 0, b)
    plain = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, photometric=None)
    again = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, pool.CropRanges(occluder_prob=0.0),
                               photometric=None)
    for a, c in zip(plain, again):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    img, lm, v = pool.augment_batch(keys, images, lms, vis, mirror, s, 1.0, pool.CropRanges(occluder_prob=1.0),
                                    photometric=None)
    np.testing.assert_array_equal(np.asarray(lm), np.asarray(plain[1]))
    img, base, v = np.asarray(img, np.int16), np.asarray(plain[0], np.int16), np.asarray(v)
    lo_gain, hi_gain = pool.OCCLUDER_SHADE
    covering = 0
    for i in range(b):
        other = 10 + 15 * ((i - 1) % b)          # draw i's other image is draw i - 1's
        changed = np.any(img[i] != base[i], -1)
        assert changed.any() and not changed.all(), i
        # Every pixel is a blend of this image and the other's colour at a gain in OCCLUDER_SHADE.
        lo = np.minimum(base[i], np.floor(lo_gain * other))
        hi = np.maximum(base[i], np.ceil(hi_gain * other))
        assert np.all((img[i] >= lo - 1) & (img[i] <= hi + 1)), i
        # Over the face: the oval is centred on one of its landmarks, so the paste covers the pixel
        # under at least one landmark that the plain draw shows, and hides it.
        newly_hidden = np.asarray(plain[2][i]) & ~v[i]
        covering += int(newly_hidden.any())
        assert not np.any(v[i] & ~np.asarray(plain[2][i])), i   # nothing hidden comes back
        for k, (x, y) in enumerate(np.asarray(lm[i])):
            if not (0 <= x < s and 0 <= y < s) or not plain[2][i, k]:
                continue
            near = changed[max(int(y) - 1, 0):int(y) + 2, max(int(x) - 1, 0):int(x) + 2]
            if not near.any():
                assert v[i, k], (i, k)           # untouched about the landmark: still visible
    # The centre landmark is hidden unless the crop cut it off or the oval is thinner than a pixel there.
    assert covering >= b - 2, covering


def test_every_landmark_set_has_a_mirror_permutation(model):
    for name in ("68", "320", "703"):
        perm = pool.mirror_permutation(model, name)
        assert (perm[perm] == np.arange(len(perm))).all() and (perm != np.arange(len(perm))).any()
        # Not just any involution: landmark perm[i] sits at landmark i's mirror image (x -> -x) on
        # the template, to the symmetry of ICT's mesh (mirror_permutation's 0.05 cm).
        pts = np.asarray(model.template)[synth.landmark_vertex_ids(model, name)]
        np.testing.assert_allclose(pts[perm] * np.array([-1.0, 1.0, 1.0]), pts, atol=0.05)


def test_vectorized_and_sequential_batch_draws_agree():
    """augment_batch vmaps on accelerators and loops on CPUs: both must give every sample the same
    crop, flip and photometric steps (the key of draw i alone decides them).  The photometric
    chain's lax.conds become selects under vmap, so pixels agree to rounding (one uint8 step
    where a float lands on .5), labels and visibility exactly up to float error."""
    p, s, b = 48, 32, 6
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (b, p, p, 3), dtype=np.uint8))
    lms = jnp.asarray(rng.uniform(8, 40, (b, 4, 2)).astype(np.float32))
    vis = jnp.asarray(rng.uniform(size=(b, 4)) < 0.8)
    keys = synth.batch_keys(5, 0, b)
    mirror = jnp.array([1, 0, 2, 3])
    seq = pool.augment_batch(keys, images, lms, vis, mirror, s, s / p, vectorize=False)
    vec = pool.augment_batch(keys, images, lms, vis, mirror, s, s / p, vectorize=True)
    diff = np.abs(np.asarray(seq[0], np.int16) - np.asarray(vec[0], np.int16))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    np.testing.assert_allclose(np.asarray(seq[1]), np.asarray(vec[1]), atol=1e-4)
    np.testing.assert_array_equal(np.asarray(seq[2]), np.asarray(vec[2]))


def _poses(n, seed=0, max_pitch=45.0, max_roll=30.0, max_neck=15.0):
    """(n, 4, 3) joint rotations drawn as `scenes.sample_pose` draws them (uniform ranges, degrees)."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, 4, 3))
    pose[:, 0] = np.radians(rng.uniform(-max_neck, max_neck, (n, 3)))
    pose[:, 1] = np.radians(np.stack([rng.uniform(-max_pitch, max_pitch, n), rng.uniform(-90, 90, n),
                                      rng.uniform(-max_roll, max_roll, n)], 1))
    return pose


def test_pose_prior_draws_follow_the_target_mixture():
    # Importance resampling of a uniform-pose pool: draws by the table must have the mixture's
    # spread (keep x the pool's + (1 - keep) x the prior's), yaw untouched, and be a function of
    # (seed, epoch) alone.  Tolerances: 20k draws, sd of a sample variance ~1%, plus the
    # histogram's binning (24 bins over 120 degrees: 5 degree bins).
    n = 20_000
    pose = _poses(n)
    prior = pool.PosePrior(pitch_sd_deg=12.0, roll_sd_deg=8.0, keep=0.25)
    table = pool.pose_draw_table(pose, prior)
    idx = pool.epoch_order(3, n, 0, table)
    assert idx.shape == (n,) and idx.min() >= 0 and idx.max() < n
    np.testing.assert_array_equal(idx, pool.epoch_order(3, n, 0, pool.pose_draw_table(pose, prior)))
    assert not np.array_equal(idx, pool.epoch_order(3, n, 1, table))
    pr = pool.head_pitch_roll(pose)
    drawn = pr[idx]
    for axis, sd in ((0, 12.0), (1, 8.0)):
        want = np.sqrt(0.25 * np.var(pr[:, axis]) + 0.75 * sd ** 2)
        assert abs(np.std(drawn[:, axis]) / want - 1) < 0.08, (axis, np.std(drawn[:, axis]), want)
    # Most of the prior's mass near zero: the central share grows from the pool's to the mixture's.
    pitch_pool = np.mean(np.abs(pr[:, 0]) < 10)
    pitch_drawn = np.mean(np.abs(drawn[:, 0]) < 10)
    assert pitch_drawn > 2 * pitch_pool
    yaw = np.degrees(pose[:, 1, 1])
    assert abs(np.std(yaw[idx]) / np.std(yaw) - 1) < 0.05
    # No table: a permutation, as before the prior existed.
    assert sorted(pool.epoch_order(3, n, 0)) == list(range(n))
    with np.testing.assert_raises(ValueError):
        pool.epoch_order(3, n + 1, 0, table)
    with np.testing.assert_raises(ValueError):
        pool.DrawTable(np.zeros(4))


def _fake_pool(folder, model, num, seed, size=8, crop_scale=0.8):
    """A pool folder in `write_pool`'s layout holding random arrays (no rendering): every set's
    vertex ids labelled, so `load_pool` picks columns as it does for a rendered pool."""
    ids = synth.landmark_vertex_ids(model, "all")
    folder.mkdir()
    arrays = pool._open_arrays(str(folder), num, size, len(ids), "w+")
    rng = np.random.default_rng(seed)
    arrays["image"][:] = rng.integers(0, 256, arrays["image"].shape, dtype=np.uint8)
    arrays["landmarks"][:] = rng.uniform(0, size, arrays["landmarks"].shape)
    arrays["visible"][:] = rng.uniform(size=arrays["visible"].shape) < 0.8
    arrays["pose"][:] = _poses(num, seed)
    for a in arrays.values():
        a.flush()
    write_json(folder / "meta.json", dict(format=pool.FORMAT, num=num, size=size, seed=seed, crop_scale=crop_scale,
                                          render_seconds=1.5, vertex_ids=[int(v) for v in ids]))
    return folder


def test_pools_drawn_together_read_as_their_concatenation(tmp_path, model):
    """load_pools: the images of pool a then pool b without copying either, every index reading the
    row it names (any order, repeats, negative), labels, visibility and poses concatenated; a pose
    prior spans both; pools that cannot be drawn together are refused by name."""
    a = pool.load_pool(_fake_pool(tmp_path / "a", model, 7, seed=1), "68", model)
    b = pool.load_pool(_fake_pool(tmp_path / "b", model, 5, seed=2), "68", model)
    both = pool.load_pools([tmp_path / "a", tmp_path / "b"], "68", model)
    whole = np.concatenate([np.asarray(a.image), np.asarray(b.image)])
    assert len(both.image) == 12 and both.image.shape == whole.shape and both.meta["num"] == 12
    idx = np.array([11, 0, 6, 7, 7, 3, -1, 9])
    np.testing.assert_array_equal(both.image[idx], whole[idx])
    np.testing.assert_array_equal(both.image[idx.reshape(2, 4)], whole[idx.reshape(2, 4)])
    np.testing.assert_array_equal(both.image[np.int64(8)], whole[8])
    np.testing.assert_array_equal(np.asarray(both.image), whole)
    for field in ("landmarks", "visible", "pose"):
        np.testing.assert_array_equal(getattr(both, field), np.concatenate([getattr(a, field), getattr(b, field)]))
    np.testing.assert_array_equal(both.mirror, a.mirror)
    assert both.meta["seed"] == [1, 2] and both.meta["render_seconds"] == 3.0
    assert [p["num"] for p in both.meta["parts"]] == [7, 5]
    with pytest.raises(IndexError):
        both.image[np.array([12])]
    drawn = pool.with_pose_prior(both, pool.PosePrior())
    assert len(drawn.draw.p) == 12
    # A training config names the list; the loop draws from both (paths relative to the cache or absolute).
    from dlm.train import loop
    cfg = loop.TrainConfig(pool=[str(tmp_path / "a"), str(tmp_path / "b")], landmark_set="68", pool_pose_prior={})
    assert len(loop.drawn_pool(cfg).image) == 12 and loop._pool_meta(cfg)["seed"] == [1, 2]
    # One folder given as a str is load_pool.
    assert len(pool.load_pools(str(tmp_path / "a"), "68", model).image) == 7
    _fake_pool(tmp_path / "small", model, 4, seed=3, size=6)
    with pytest.raises(ValueError, match="size"):
        pool.load_pools([tmp_path / "a", tmp_path / "small"], "68", model)
    _fake_pool(tmp_path / "again", model, 4, seed=1)
    with pytest.raises(ValueError, match="share seed 1"):
        pool.load_pools([tmp_path / "a", tmp_path / "again"], "68", model)
