"""Synthetic data: labels against the rendered image, determinism, batching, augmentation, CLI."""
import filecmp
import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dlm.cli import main as cli
from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.synth import render as synth
from dlm.synth import augment as aug
from dlm.synth import raster
from dlm.synth import shading as rs
from dlm.synth.switches import REALISM_SWITCHES

# One compiled shape serves most tests (and the CLI's, which renders 8 at a time): 8 x 64 px.
S = 64
B = synth.WRITE_CHUNK


@pytest.fixture(scope="module")
def assets(model):
    return synth.make_assets(model)


@pytest.fixture(scope="module")
def batch(model, assets):
    return synth.render_batch(synth.batch_keys(3, 0, B), model, assets, jnp.asarray(model.landmarks["703"]), S)


ALLOWED = {  # landmark region -> mask classes its visible pixel may show
    "iris": {"iris", "sclera"}, "pupil": {"iris"}, "teeth_upper": {"teeth"}, "teeth_lower": {"teeth"},
}
SURFACE = {"skin", "hair", "eyebrows", "neck_clothing"}


def test_visible_landmarks_land_on_their_region_in_the_mask(model, batch):
    names = model.landmark_regions["703"]
    counts = {}
    for b in range(batch.image.shape[0]):
        mask = np.asarray(batch.mask[b])
        vis = np.asarray(batch.visible[b])
        px = np.floor(np.asarray(batch.landmarks[b])).astype(int)
        for i in np.flatnonzero(vis):
            got = rs.REGION_NAMES[mask[px[i, 1], px[i, 0]]]
            allowed = ALLOWED.get(names[i], SURFACE)
            # Pupil landmarks sit on the pupil's edge: the iris class covers both.
            assert got in allowed, (b, i, names[i], got)
            counts[names[i]] = counts.get(names[i], 0) + 1
    assert counts.get("iris", 0) + counts.get("pupil", 0) >= 10 and counts.get("face", 0) > 300, counts


def test_the_renderers_places_leave_no_triangle_out_at_small_sizes(model, assets):
    """At 64 px (the tests' renders) the fallback's places hold every drawn triangle of the
    heads that fill the crop most (the typical places may not: the fallback is there for that)."""
    size = 64
    _, fallback = synth.raster_places(size)
    for seed in range(6):
        sc = synth.scenes.sample_scene(jax.random.key(seed), model, size)
        cam = synth.crop_camera(jax.random.key(seed + 10), model, assets, sc.params, sc.camera, size)
        cam = cam.replace(focal=cam.focal * 1.2)     # past CROP_FILL's largest head
        c = geometry.world_to_camera(fm.vertices(model, sc.params), cam.rotation, cam.translation)
        px = geometry.project(c, cam.focal, cam.principal_point)
        fr = raster.rasterize(px, -c[:, 2], assets.faces, size, size, fallback, assets.cull)
        assert int(fr.overflow) == 0, seed


def test_labels_agree_with_the_depth_buffer(model, assets):
    """Project landmark vertices and read the rasterised surface there: the interpolated template
    position at a visible landmark's pixel is that landmark's own template vertex (within a
    pixel's footprint), and landmarks on the far side of the head are invisible."""
    ids = np.asarray(model.landmarks["703"])
    t = np.asarray(model.template)
    size = 128
    for seed in range(3):
        sc = synth.scenes.sample_scene(jax.random.key(seed), model, size)
        cam = synth.crop_camera(jax.random.key(seed + 10), model, assets, sc.params, sc.camera, size)
        c = geometry.world_to_camera(fm.vertices(model, sc.params), cam.rotation, cam.translation)
        px = geometry.project(c, cam.focal, cam.principal_point)
        fr = raster.rasterize(px, -c[:, 2], assets.faces, size, size, synth.raster_levels(size, synth.RASTER_FALLBACK),
                              assets.cull)
        assert int(fr.overflow) == 0
        pos = np.asarray(raster.interpolate(fr, assets.faces, assets.vertex_attr[:, :3]))
        tri = np.maximum(np.asarray(fr.triangle), 0)
        region = np.where(np.asarray(fr.triangle) >= 0, np.asarray(assets.regions)[np.asarray(assets.faces)[tri, 0]], 0)
        vis = np.asarray(rs.landmark_visibility(fr, px[ids], -c[ids, 2], pixel_regions=jnp.asarray(region),
                                                landmark_regions=assets.regions[ids]))
        lp = np.floor(np.asarray(px[ids])).astype(int)
        pixel_cm = float(-c[ids, 2].mean() / cam.focal)
        err = [np.linalg.norm(pos[lp[i, 1], lp[i, 0]] - t[ids[i]]) for i in np.flatnonzero(vis)]
        # Grazing views stretch a pixel's footprint on the skin, hence the looser tail.
        assert np.median(err) < 0.7 * pixel_cm and np.percentile(err, 90) < 3.0 * pixel_cm, (seed, pixel_cm)
        # Landmarks on smooth skin facing away from the camera are never visible (eyelid
        # margins, ears and the iris have folds where a vertex normal says little).
        n = np.asarray(rs.vertex_normals(c, assets.faces))[ids]
        ray = np.asarray(c[ids]) / np.linalg.norm(np.asarray(c[ids]), axis=1, keepdims=True)
        smooth = np.isin(model.landmark_regions["703"], ["face", "head", "neck", "jaw"])
        away = (np.sum(n * ray, 1) > 0.5) & smooth
        assert away.sum() > 20 and not vis[away].any()


def test_same_key_same_sample_whatever_the_batch(model, assets, batch):
    ids = jnp.asarray(model.landmarks["703"])
    k = synth.batch_keys(3, 0, B)  # the fixture's keys
    mixed = jnp.stack([k[0], k[0]] + [k[i] for i in range(2, B)])  # sample 0 twice, sample 1 not at all
    again = synth.render_batch(mixed, model, assets, ids, S)
    np.testing.assert_array_equal(np.asarray(again.image[0]), np.asarray(again.image[1]))
    np.testing.assert_array_equal(np.asarray(again.image[0]), np.asarray(batch.image[0]))
    np.testing.assert_array_equal(np.asarray(again.image[3]), np.asarray(batch.image[3]))
    np.testing.assert_array_equal(np.asarray(again.visible[0]), np.asarray(batch.visible[0]))
    assert not np.array_equal(np.asarray(batch.image[0]), np.asarray(batch.image[1]))
    # The vectorised path draws the same samples, compiled as a GPU or a pool-sized render would
    # be (XLA's default emitters; small renders on a CPU take the older ones: render_batch).
    vec = synth._render_batch_jit(k, model, assets, ids, size=S, augment=True, vectorize=True, crop_scale=1.0)
    np.testing.assert_allclose(np.asarray(vec.landmarks), np.asarray(batch.landmarks), atol=1e-3)
    diff = np.abs(synth.to_uint8(vec.image).astype(int) - synth.to_uint8(batch.image).astype(int))
    assert (diff <= 2).mean() > 0.99


def test_renders_share_one_program_whatever_the_batch_set_augmentation_and_crop(model, assets):
    """Top-level CPU renders run chunks of RENDER_CHUNK keys with the landmark ids padded
    (issue 30: each batch size, landmark set, augmentation and crop compiled a renderer of its
    own): one program per size and assets, drawing the same samples as the whole batch
    rendered unpadded in one program."""
    keys = synth.batch_keys(7, 0, 11)                     # two chunks, the second padded
    ids = jnp.asarray(model.landmarks["68"])
    got = synth.render_batch(keys[:3], model, assets, ids, S, augment=False, crop_scale=0.8)
    before = synth.render_programs()
    ref = synth._render_batch_small_cpu(keys[:3], model, assets, ids, size=S, augment=False, vectorize=False,
                                        crop_scale=0.8)
    for name in ("image", "mask", "landmarks", "visible"):
        np.testing.assert_array_equal(np.asarray(getattr(got, name)), np.asarray(getattr(ref, name)), err_msg=name)
    assert synth.render_programs() == before + 1           # the reference's own program
    more = synth.render_batch(keys, model, assets, ids, S, augment=False, crop_scale=0.8)
    for name in ("image", "mask", "landmarks", "visible"):
        np.testing.assert_array_equal(np.asarray(getattr(more, name))[:3], np.asarray(getattr(got, name)))
    assert more.image.shape == (11, S, S, 3) and more.landmarks.shape == (11, 68, 2)
    assert not np.array_equal(np.asarray(more.image[8]), np.asarray(more.image[10]))   # not the padding's copies
    for lm, augment, crop in (("703", True, 1.0), ("320", False, 0.6)):
        b = synth.render_batch(keys[:5], model, assets, jnp.asarray(model.landmarks[lm]), S, augment=augment,
                               crop_scale=crop)
        assert b.landmarks.shape == (5, len(model.landmarks[lm]), 2)
    assert synth.render_programs() == before + 1           # none of its own for any of them
    crop = synth.render_batch(keys[:3], model, assets, ids, S, augment=False, crop_scale=0.6)
    np.testing.assert_array_equal(np.asarray(crop.params.identity), np.asarray(got.params.identity))
    scale = np.asarray(crop.camera.focal) / np.asarray(got.camera.focal)
    np.testing.assert_allclose(scale, 0.6 / 0.8, rtol=1e-5)   # crop_scale as a value still frames the head


def test_render_batch_traces_inside_another_jit(model, assets):
    """Inside a jitted caller (a training step) the renderer is part of that program: compiler
    options of its own would be refused there, so it must not pass them."""
    ids = jnp.asarray(model.landmarks["68"])
    out = jax.eval_shape(lambda k: synth.render_batch(k, model, assets, ids, S, augment=False), synth.batch_keys(3, 0, 2))
    assert out.image.shape == (2, S, S, 3) and out.landmarks.shape == (2, 68, 2)


def test_stream_is_deterministic_and_ordered(model, batch):
    a = synth.batches(seed=3, batch_size=B, size=S, model=model, prefetch=1)
    b = synth.batches(seed=3, batch_size=B, size=S, model=model, prefetch=3, start=B)
    first, second = next(a), next(a)
    np.testing.assert_array_equal(first["index"], np.arange(B))
    np.testing.assert_array_equal(second["index"], np.arange(B, 2 * B))
    np.testing.assert_array_equal(first["image"], synth.to_uint8(batch.image))
    other = next(b)
    np.testing.assert_array_equal(other["image"], second["image"])
    assert first["image"].dtype == np.uint8 and first["landmarks"].shape == (B, 703, 2)
    a.close(), b.close()


def test_augmentations():
    rng = np.random.default_rng(0)
    img = jnp.asarray(rng.uniform(0.2, 0.8, (64, 64, 3)).astype(np.float32))
    flat = jnp.full((64, 64, 3), 0.4)
    # Blurs keep a flat image flat and the mean of any image.
    np.testing.assert_allclose(np.asarray(aug.gaussian_blur(flat, 1.5)), 0.4, atol=1e-5)
    np.testing.assert_allclose(float(aug.motion_blur(img, 0.7, 6.0).mean()), float(img.mean()), atol=5e-3)
    assert float(jnp.std(aug.gaussian_blur(img, 1.5))) < 0.5 * float(jnp.std(img))
    # JPEG-like: near lossless at quality 100, lossy at 10 (blockwise: 8 x 8 means survive).
    hi, lo = aug.jpeg_like(img, 100.0), aug.jpeg_like(img, 10.0)
    assert float(jnp.abs(hi - img).mean()) < 0.01 < float(jnp.abs(lo - img).mean())
    blocks = lambda x: np.asarray(x).reshape(8, 8, 8, 8, 3).mean((1, 3))  # noqa: E731
    np.testing.assert_allclose(blocks(lo), blocks(img), atol=0.06)
    a1 = aug.augment(jax.random.key(1), img)
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(aug.augment(jax.random.key(1), img)))
    assert a1.shape == img.shape and float(a1.min()) >= 0 and float(a1.max()) <= 1
    # The chain changes the image (gain, brightness, contrast and gamma are always drawn), and each
    # key draws another change: an identity, or one that ignores its key, fails here.
    outs = [np.asarray(aug.augment(jax.random.key(k), img)) for k in range(2, 6)]
    assert all(np.abs(o - np.asarray(img)).mean() > 5e-3 for o in outs)
    assert all(np.abs(outs[i] - outs[j]).mean() > 5e-3 for i in range(4) for j in range(i))
    # The grayscale step gives equal channels when drawn (noise and JPEG, per channel, off).
    g = np.asarray(aug.augment(jax.random.key(7), img, aug.AugmentRanges(grayscale_prob=1.0, noise_prob=0.0,
                                                                         jpeg_prob=0.0)))
    np.testing.assert_allclose(g[..., 0], g[..., 1], atol=1e-6)
    np.testing.assert_allclose(g[..., 0], g[..., 2], atol=1e-6)


def test_camera_realism_steps():
    """Vignetting darkens with the distance from its centre by the stated amount at the corners;
    chromatic aberration leaves flat colour and the green channel alone and moves red and blue
    edges apart, by the stated magnification; white balance keeps the mean luminance and moves red
    against blue; sharpening keeps flat areas and overshoots at an edge; 4:2:0 JPEG loses colour
    detail a 4:4:4 one keeps; with every camera step on, the chain still depends on its key."""
    s = 64
    flat = jnp.full((s, s, 3), 0.5)
    v = np.asarray(aug.vignette(flat, 0.3, jnp.array([s / 2, s / 2])))
    np.testing.assert_allclose(v[s // 2, s // 2], 0.5, rtol=1e-3)
    np.testing.assert_allclose(v[0, 0], 0.5 * 0.7, rtol=0.05)        # a pixel centre near the corner
    r = np.hypot(*np.mgrid[0:s, 0:s] + 0.5 - s / 2)
    assert (np.diff(v[..., 0].ravel()[np.argsort(r.ravel())]) < 1e-6).all()   # no brighter farther out
    edge = jnp.asarray(np.broadcast_to((np.arange(s) >= 48).astype(np.float32)[None, :, None], (s, s, 3)))
    ca = np.asarray(aug.chromatic_aberration(edge, 0.05, jnp.array([s / 2, s / 2])))
    np.testing.assert_array_equal(ca[..., 1], np.asarray(edge[..., 1]))
    np.testing.assert_allclose(np.asarray(aug.chromatic_aberration(flat, 0.05, jnp.array([20.0, 40.0]))), 0.5,
                               atol=1e-6)
    # On the middle row the edge at x = 48 (16 px right of the centre) moves out by 16 x 0.05 for red.
    half = lambda row: np.interp(0.5, row, np.arange(s) + 0.5)   # noqa: E731  (where the ramp crosses 0.5)
    row = s // 2
    assert abs(half(ca[row, :, 0]) - (48 + 16 * 0.05)) < 0.1 and abs(half(ca[row, :, 2]) - (48 - 16 * 0.05)) < 0.1
    wb = np.asarray(aug.white_balance(flat, 0.2, 0.0))
    np.testing.assert_allclose((wb[0, 0] * [0.299, 0.587, 0.114]).sum(), 0.5, rtol=1e-5)
    np.testing.assert_allclose(wb[0, 0, 0] / wb[0, 0, 2], np.exp(0.4), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(aug.sharpen(flat, 1.0, 1.0)), 0.5, atol=1e-5)
    sh = np.asarray(aug.sharpen(edge * 0.5 + 0.25, 1.0, 1.0))
    assert sh.max() > 0.8 and sh.min() < 0.2      # halos on both sides of the edge
    rng = np.random.default_rng(0)
    colour = jnp.asarray(rng.uniform(0.2, 0.8, (s, s, 3)).astype(np.float32))
    full, sub = aug.jpeg_like(colour, 100.0), aug.jpeg_like(colour, 100.0, chroma_subsampling=True)
    assert float(jnp.abs(full - colour).mean()) < 0.01 < float(jnp.abs(sub - colour).mean())
    ranges = aug.AugmentRanges(**dict(aug.CAMERA, vignette_prob=1.0, chromatic_prob=1.0, white_balance_prob=1.0,
                                      sharpen_prob=1.0))
    outs = [np.asarray(aug.augment(jax.random.key(k), colour, ranges)) for k in range(3)]
    assert all(o.shape == (s, s, 3) and o.min() >= 0 and o.max() <= 1 for o in outs)
    assert all(np.abs(outs[i] - outs[j]).mean() > 5e-3 for i in range(3) for j in range(i))


def test_synth_cli_is_deterministic_and_writes_labels(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["--quiet", "synth", "--num", "3", "--size", str(S), "--seed", "5"]
    assert cli.main(args + ["--out", str(a)]) == 0
    assert cli.main(args + ["--out", str(b)]) == 0
    for rel in ("labels.npz", "images/000000.png", "images/000002.png", "masks/000002.png"):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    z = np.load(a / "labels.npz")
    assert z["landmarks"].shape == (3, 703, 2) and z["visible"].shape == (3, 703)
    assert z["identity"].shape == (3, 100) and z["expression"].shape == (3, 55)
    assert z["camera_rotation"].shape == (3, 3) and z["focal"].shape == (3,)
    for i in range(3):
        mask = cv2.imread(str(a / "masks" / f"{i:06d}.png"), cv2.IMREAD_UNCHANGED)
        img = cv2.imread(str(a / "images" / f"{i:06d}.png"))
        assert mask.shape == (64, 64) and img.shape == (64, 64, 3)
        assert mask.max() < len(rs.REGION_NAMES)
        vis = z["visible"][i]
        px = np.floor(z["landmarks"][i][vis]).astype(int)
        assert vis.sum() > 50 and (mask[px[:, 1], px[:, 0]] > 0).all()  # every visible landmark is on the head
    c = tmp_path / "c"
    cli.main(["--quiet", "synth", "--num", "1", "--size", "64", "--seed", "6", "--out", str(c)])
    assert not filecmp.cmp(a / "images/000000.png", c / "images/000000.png", shallow=False)


def test_synth_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "full"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert cli.main(["synth", "--num", "1", "--size", "64", "--out", str(out)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".synth-")]
    assert cli.main(["synth", "--num", "8", "--env-light", "0.5", "--out", str(tmp_path / "x")]) == 2
    assert "are --pool options" in capsys.readouterr().err and not (tmp_path / "x").exists()
    # Every realism switch is a --pool option, refused (before any rendering) without --pool.
    for name in REALISM_SWITCHES:
        flag = "--" + name.replace("_", "-")
        assert cli.main(["synth", "--num", "8", flag, "--out", str(tmp_path / "x")]) == 2, flag
        err = capsys.readouterr().err
        assert flag in err and "are --pool options" in err and not (tmp_path / "x").exists()


def test_realism_switches_are_one_table_that_refuses_unknown_names(model):
    """The CLI's flags, make_assets and the pools' settings all read dlm.synth.switches: a switch
    spelt wrongly is an error, not a pool rendered without it."""
    assert synth.realism_switches(eyelashes=True) == {k: k == "eyelashes" for k in REALISM_SWITCHES}
    with pytest.raises(ValueError, match="beard_volum"):
        synth.make_assets(model, beard_volum=True)
    for command in (["synth", "--pool", "--out", "x"], ["bench", "synth"]):
        args = cli.build_parser().parse_args(command + ["--" + k.replace("_", "-") for k in REALISM_SWITCHES])
        assert all(getattr(args, k) is True for k in REALISM_SWITCHES), command


def test_smooth_knots_pass_through_the_knots_without_jumps():
    from dlm.synth import scenes
    knots = jnp.array([[0.0, 1.0], [2.0, -1.0], [1.0, 0.5]])
    v = np.asarray(scenes.smooth_knots(knots, 21))  # knots at frames 0, 10, 20
    np.testing.assert_allclose(v[[0, 10, 20]], knots, atol=1e-6)
    step = np.abs(np.diff(v, axis=0)).max()
    # Smoothstep's steepest slope is 1.5 x the straight line's (0.2 per frame for a jump of 2 over 10 frames).
    assert step <= 1.5 * 2.0 / 10 + 1e-6
    assert np.abs(v[1] - v[0]).max() < 0.1  # eases out of a knot (a straight line would step 0.2)


def test_a_rendered_video_keeps_its_look_and_follows_its_motion(model, assets):
    from dlm.synth import scenes
    ids = jnp.asarray(model.landmarks["703"])
    seq = scenes.sample_sequence(jax.random.key(5), model, S, 6)
    yaw = np.degrees(np.asarray(seq.params.joint_rotations[:, 1, 1]))
    assert abs(yaw[-1] - yaw[0]) > 0.3 * 40 * 2 - 1e-3  # swings from one side to the other
    np.testing.assert_array_equal(np.asarray(seq.params.identity[0]), np.asarray(seq.params.identity[-1]))
    render = jax.jit(lambda p: synth.render_scene(jax.random.key(9), model, assets, S, ids, p, seq.camera, None))
    frames = [render(jax.tree_util.tree_map(lambda a, f=f: a[f], seq.params)) for f in (0, 5)]
    for f, b in zip((0, 5), frames):
        p = jax.tree_util.tree_map(lambda a: a[f], seq.params)
        np.testing.assert_allclose(np.asarray(b.landmarks),
                                   np.asarray(fm.project_points(seq.camera, fm.landmark_vertices(model, p, "703"))),
                                   atol=1e-3)
    assert np.abs(np.asarray(frames[0].landmarks) - np.asarray(frames[1].landmarks)).max() > 2.0  # it moved
    # One look: wherever neither frame draws the head, the background is the same picture.
    bg = (np.asarray(frames[0].mask) == 0) & (np.asarray(frames[1].mask) == 0)
    assert bg.mean() > 0.2
    np.testing.assert_array_equal(np.asarray(frames[0].image)[bg], np.asarray(frames[1].image)[bg])



def _hdri_converter():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "third_party" / "polyhaven_hdri" / "convert.py"
    spec = importlib.util.spec_from_file_location("convert_hdri", path)
    convert = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(convert)
    return convert


def test_environment_conversion_uses_the_renderers_harmonics_and_finds_the_sun():
    """convert.py's numpy basis is the renderer's; a uniform map of radiance 1 gives E / pi = 1 on
    every normal (the Lambertian identity E = pi L), and a small bright spot becomes the direct
    light along its own direction with its power, removed from the harmonics."""
    convert = _hdri_converter()
    n = np.random.default_rng(0).normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(convert.sh_basis(n), np.asarray(rs.sh_basis(jnp.asarray(n))), rtol=1e-5, atol=1e-6)
    flat = convert.convert_map(np.ones((64, 128, 3), np.float32))
    np.testing.assert_allclose(convert.sh_basis(n) @ flat["sh"], 1.0, atol=2e-3)
    assert not flat["sun_colour"].any()
    d, omega = convert.directions(convert.HEIGHT, convert.WIDTH)
    np.testing.assert_allclose(omega.sum(), 4 * np.pi, rtol=1e-3)
    hdr = np.ones((convert.HEIGHT, convert.WIDTH, 3), np.float32)
    hdr[40:44, 300:304] = 5000.0          # a sun in the upper hemisphere
    spot = d[40:44, 300:304].mean((0, 1))
    out = convert.convert_map(hdr)
    np.testing.assert_allclose(out["sun_direction"], spot / np.linalg.norm(spot), atol=0.01)
    # Its power: (5000 - the clamp level) over its solid angle, / pi, in the map's normalisation.
    scale = 1.0 / (1.0 + (convert.SUN_FACTOR - 1) * omega[40:44, 300:304].sum() / (4 * np.pi))
    expect = (5000.0 - convert.SUN_FACTOR) * omega[40:44, 300:304].sum() / np.pi * scale
    np.testing.assert_allclose(out["sun_colour"], expect, rtol=0.01)
    q, (lo, hi) = out["radiance_log"], out["log2_range"]
    assert hi - lo <= convert.STOPS and q.dtype == np.uint8


def test_environment_light_and_background_agree_and_are_off_by_default(model, assets):
    """With env_prob 0 the renderer draws exactly what it draws without maps (pools stay as they
    were); with maps, the background seen along the key light's direction is the map's brightest
    part (the sun the light came from), and env_prob 1 changes the picture."""
    env = synth.load_environments()
    env_assets = synth.make_assets(model, env_prob=0.0)._replace(
        env_radiance=jnp.asarray(env["radiance"]), env_sh=jnp.asarray(env["sh"]), env_sun=jnp.asarray(env["sun"]))
    assert env_assets.env_sh.shape[0] == 12 and float(env_assets.env_prob) == 0.0
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(5, 0, 2)
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    off = synth.render_batch(keys, model, env_assets, ids, S, augment=False)
    np.testing.assert_array_equal(np.asarray(off.image), np.asarray(plain.image))
    on = synth.render_batch(keys, model, env_assets._replace(env_prob=jnp.float32(1.0)), ids, S, augment=False)
    assert np.abs(np.asarray(on.image) - np.asarray(plain.image)).mean() > 0.02
    np.testing.assert_array_equal(np.asarray(on.landmarks), np.asarray(plain.landmarks))
    # The background is the map seen the camera's way up: maps that brighten with elevation (the
    # same shapes as the 12 maps, so the same compiled renderer) show their brighter part in the
    # background's top rows.  The camera looks along the map's horizon to within its tilt (sd 7
    # degrees) and sees +-8-15 degrees of it; a background turned upside down (as renders were
    # until 2026-12-06: the view vector's x and y had the wrong sign) fails this for every sample.
    h, w = env["radiance"].shape[1:3]
    elevation = np.pi / 2 - (np.arange(h) + 0.5) / h * np.pi                 # the map's rows, + up
    # A fifth of each map's own level at its horizon times 2^(3 sin elevation): no pixel saturates.
    level = 0.2 * np.median(env["radiance"][:, h // 2 - 8:h // 2 + 8], axis=(1, 2, 3))[:, None, None, None]
    ramp = np.exp2(3.0 * np.sin(elevation))[None, :, None, None]
    ramped = env_assets._replace(env_prob=jnp.float32(1.0), env_radiance=jnp.asarray(
        np.broadcast_to(level * ramp, env["radiance"].shape).astype(np.float32)))
    compared = 0
    for seed in (5, 6, 7):
        b = synth.render_batch(synth.batch_keys(seed, 0, 2), model, ramped, ids, S, augment=False)
        lum, bg = np.asarray(b.image).mean(-1), np.asarray(b.mask) == 0
        for i in range(2):
            top, bottom = lum[i, :S // 4][bg[i, :S // 4]], lum[i, -S // 4:][bg[i, -S // 4:]]
            if top.size >= 20 and bottom.size >= 20:
                assert top.max() < 1.0 and top.mean() > bottom.mean(), (seed, i, top.mean(), bottom.mean())
                compared += 1
    assert compared >= 3
    # One map with one sun (converted by convert.py): the renderer's look-up sees the sun along
    # the direction its light comes from, and not the other way.
    convert = _hdri_converter()
    hdr = np.ones((convert.HEIGHT, convert.WIDTH, 3), np.float32)
    hdr[60:66, 100:106] = 3000.0
    c = convert.convert_map(hdr)
    lo, hi = c["log2_range"]
    radiance = jnp.asarray(np.exp2(lo + (hi - lo) * c["radiance_log"] / 255.0)[None], jnp.float32)
    one = env_assets._replace(env_radiance=radiance, env_sh=jnp.asarray(c["sh"])[None],
                              env_sun=jnp.asarray(np.stack([c["sun_direction"], c["sun_colour"]]))[None])
    for seed in range(3):   # the map turned three ways
        light = synth.sample_environment_light(jax.random.key(seed), one)
        towards = jnp.stack([light.direction, -light.direction])[None]      # (1, 2, 3) rays
        seen = np.asarray(synth.environment_background(light, 1.0, radiance, towards))
        peak = float(radiance.max())
        assert seen[0, 0].min() > 0.3 * peak and seen[0, 1].max() < 0.01 * peak, (seed, seen, peak)
    with pytest.raises(ValueError, match="env_prob"):
        synth.make_assets(model, env_prob=1.5)


def test_skin_detail_sits_on_the_face_and_is_off_by_default(model, assets):
    """The blobs sit on the template's skin where they are named (the cheeks mirror each other);
    blood reddens, the eye sockets darken, only skin changes; the wrap softens the key light only
    on skin; rendering with skin detail keeps the labels and changes the pixels.  A value switch:
    on and off are one compiled renderer (the test renders both with one program)."""
    assert float(assets.skin_detail) == 0.0 and float(synth.make_assets(model, skin_detail=True).skin_detail) == 1.0
    blobs = synth.skin_blobs(model)
    np.testing.assert_array_equal(np.asarray(assets.skin_blobs), blobs)
    names = [b[0] for b in synth.SKIN_BLOBS]
    t = np.asarray(model.template)
    for (name, *_), b in zip(synth.SKIN_BLOBS, blobs):
        assert np.linalg.norm(t - b[:3], axis=1).min() < b[3], name   # within its radius of the surface
    right, left = blobs[names.index("cheek_right")], blobs[names.index("cheek_left")]
    np.testing.assert_allclose(right[:3] * [-1, 1, 1], left[:3], atol=0.3)
    assert right[0] * blobs[names.index("under_eye_right")][0] > 0      # same side
    assert blobs[names.index("forehead")][1] > blobs[names.index("nose_tip")][1] + 3
    # At the nose tip, under an eye and far away (the back of the head), skin and not.
    pos = jnp.asarray(np.stack([blobs[0, :3], blobs[3, :3], [0.0, 5.0, -10.0], blobs[0, :3]]))
    is_skin = jnp.array([True, True, True, False])
    albedo = jnp.full((4, 3), 0.5)
    key = next(k for k in (jax.random.key(i) for i in range(20))
               if float(jax.random.uniform(jax.random.split(k, 4)[0], (), maxval=0.35)) > 0.1)
    out, spec, wrap = synth.skin_detail(key, pos, jnp.zeros(4), is_skin, albedo, jnp.full(4, 0.1), jnp.asarray(blobs))
    out, spec, wrap = np.asarray(out), np.asarray(spec), np.asarray(wrap)
    assert out[0, 0] / out[0, 1] > 1.1 and out[1].mean() < 0.5            # blood; a dark socket
    np.testing.assert_allclose(out[2], 0.5, atol=1e-4)                     # far from every blob
    np.testing.assert_array_equal(out[3], 0.5)                             # not skin
    assert spec[3] == np.float32(0.1) and (wrap[3] == 0).all() and (wrap[:3, 0] > wrap[:3, 2]).all()
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(5, 0, 2)
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    programs = synth.render_programs
    compiled = programs()
    detail = synth.render_batch(keys, model, synth.make_assets(model, skin_detail=True), ids, S, augment=False)
    assert programs() == compiled                                           # no renderer of its own
    np.testing.assert_array_equal(np.asarray(detail.landmarks), np.asarray(plain.landmarks))
    changed = np.abs(np.asarray(detail.image) - np.asarray(plain.image)).max(-1) > 1e-3
    assert changed.mean() > 0.02 and (np.asarray(detail.mask)[changed] > 0).all()   # only the head changes


def test_eye_rim_darkens_only_the_skin_about_the_eye_and_is_off_by_default(model, assets):
    """eye_rim: the skin pixels within the line's width of an eye pixel darken towards a dark
    lash colour; eye pixels, pixels farther off and non-skin pixels keep their albedo.  Rendered:
    the same labels, and only skin next to sclera or iris changes.  A value switch, as skin detail."""
    assert float(assets.lashes) == 0.0 and float(synth.make_assets(model, eyelashes=True).lashes) == 1.0
    eye = np.zeros((160, 160), bool)
    eye[70:80, 60:90] = True
    skin = ~eye
    skin[60:90, 88:100] = False                  # a patch of hair next to the eye's right end
    albedo = jnp.full((160, 160, 3), 0.6)
    out = np.asarray(synth.eye_rim(jax.random.key(0), jnp.asarray(eye), jnp.asarray(skin), albedo,
                                   jnp.array([0.3, 0.2, 0.1])))
    ring = np.zeros_like(eye)
    ring[69:81, 59:91] = True
    ring &= ~eye & skin                          # one pixel at 160 px
    assert (out[ring] < 0.6 * 0.56).all()        # at least 45% towards a lash colour <= 0.4 x hair
    np.testing.assert_array_equal(out[~ring], np.float32(0.6))
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(5, 0, 2)
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    programs = synth.render_programs
    compiled = programs()
    lashes = synth.render_batch(keys, model, synth.make_assets(model, eyelashes=True), ids, S, augment=False)
    assert programs() == compiled                                           # no renderer of its own
    np.testing.assert_array_equal(np.asarray(lashes.landmarks), np.asarray(plain.landmarks))
    changed = np.abs(np.asarray(lashes.image) - np.asarray(plain.image)).max(-1) > 1e-3
    assert changed.any()
    mask = np.asarray(plain.mask)
    eye_px = (mask == rs.REGION_NAMES.index("sclera")) | (mask == rs.REGION_NAMES.index("iris"))
    near = np.stack([np.asarray(jax.lax.reduce_window(jnp.asarray(e, jnp.float32), 0.0, jax.lax.max, (3, 3), (1, 1),
                                                      "SAME")) > 0 for e in eye_px])
    assert (mask[changed] == rs.REGION_NAMES.index("skin")).all() and near[changed].all()


def test_natural_light_varies_colour_warm_to_cool_only_and_is_off_by_default(model, assets):
    """sample_light(natural=True): the same directions and strengths, colours only on the
    warm-cool and green-magenta axes at their stated spreads, the ambient one colour from every
    direction; off, every channel varies on its own (what gave pink and green skin).  Rendered:
    the same labels and regions; only lit pixels (not the background) change, through one compiled
    program (the switch is a value)."""
    assert float(assets.natural_light) == 0.0 and float(synth.make_assets(model, natural_light=True).natural_light) == 1.0
    keys = jax.random.split(jax.random.key(0), 1000)
    off = jax.vmap(synth.sample_light)(keys)
    on = jax.vmap(lambda k: synth.sample_light(k, natural=True))(keys)
    np.testing.assert_array_equal(np.asarray(on.direction), np.asarray(off.direction))

    def axes(colour):   # log colour on the warm-cool and green-magenta axes, and what is left
        lc = np.log(np.asarray(colour, np.float64))
        lc = lc - lc.mean(-1, keepdims=True)
        w, g = lc @ synth.WARM / (synth.WARM @ synth.WARM), lc @ synth.GREEN / (synth.GREEN @ synth.GREEN)
        return w, g, lc - w[:, None] * synth.WARM - g[:, None] * synth.GREEN
    for n in ([0.0, 0.0, 1.0], [0.7, 0.0, 0.7], [0.0, -0.6, 0.8]):
        amb = np.einsum("k,nkc->nc", np.asarray(rs.sh_basis(jnp.asarray(n))), np.asarray(on.sh))
        assert (amb > 0).all()
        # One colour from every direction: the ambient at n is a multiple of its constant term.
        ratio = amb / np.asarray(on.sh[:, 0])
        np.testing.assert_allclose(ratio, ratio[:, :1].repeat(3, 1), rtol=1e-5)
        w, g, rest = axes(amb)
        np.testing.assert_allclose(rest, 0.0, atol=1e-5)
        # 1,000 draws: a sample sd lies within 10% of the true one (its own sd is ~2.2%).
        assert abs(w.std() - synth.NATURAL_WARM_SD[1]) < 0.1 * synth.NATURAL_WARM_SD[1]
        assert abs(g.std() - synth.NATURAL_GREEN_SD[1]) < 0.1 * synth.NATURAL_GREEN_SD[1]
        amb_off = np.einsum("k,nkc->nc", np.asarray(rs.sh_basis(jnp.asarray(n))), np.asarray(off.sh))
        ok = (amb_off > 0).all(1)
        assert axes(amb_off[ok])[1].std() > 5 * synth.NATURAL_GREEN_SD[1]     # off: green and magenta casts
    w, g, rest = axes(on.colour)
    np.testing.assert_allclose(rest, 0.0, atol=1e-5)
    assert abs(w.std() - synth.NATURAL_WARM_SD[0]) < 0.1 * synth.NATURAL_WARM_SD[0]
    assert abs(g.std() - synth.NATURAL_GREEN_SD[0]) < 0.1 * synth.NATURAL_GREEN_SD[0]
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(5, 0, 2)
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    natural_assets = synth.make_assets(model, natural_light=True)
    assert jax.tree_util.tree_structure(natural_assets) == jax.tree_util.tree_structure(assets)
    assert [a.shape for a in jax.tree_util.tree_leaves(natural_assets)] == [a.shape for a in jax.tree_util.tree_leaves(assets)]
    natural = synth.render_batch(keys, model, natural_assets, ids, S, augment=False)
    np.testing.assert_array_equal(np.asarray(natural.landmarks), np.asarray(plain.landmarks))
    np.testing.assert_array_equal(np.asarray(natural.visible), np.asarray(plain.visible))
    np.testing.assert_array_equal(np.asarray(natural.mask), np.asarray(plain.mask))
    changed = np.abs(np.asarray(natural.image) - np.asarray(plain.image)).max(-1) > 1e-3
    mask = np.asarray(plain.mask)
    assert changed[mask == rs.REGION_NAMES.index("skin")].mean() > 0.5
    assert not changed[mask == rs.REGION_NAMES.index("background")].any()


def test_cast_shadow_falls_below_a_ledge_lit_from_above():
    """cast_shadow on a depth map with a ledge 5 cm nearer the camera over the top half of a plane
    at 60 cm, lit from above and in front: the plane is shadowed just under the ledge, as far as
    the light's path stays behind the ledge (a point of the plane 0.6 cm from it at 2.5 px per cm:
    under ~13 px) and the reach (2-8 cm: 5-20 px), and lit further down; the ledge itself and the
    background are lit."""
    s, f, pp = 64, 300.0, jnp.array([32.0, 32.0])
    depth = np.full((s, s), 60.0, np.float32)
    depth[:30] = 55.0
    depth[:, :4] = np.inf                                    # background at the left edge
    light = jnp.array([0.0, 0.5, np.sqrt(0.75)])
    for seed in range(4):                                   # random reach and penumbra
        lit = np.asarray(synth.cast_shadow(jax.random.key(seed), jnp.asarray(depth), light, f, pp))
        assert lit.shape == (s, s) and lit.min() >= 0.0 and lit.max() <= 1.0
        assert (lit[30:33, 10:58] < 0.5).all(), seed        # in the ledge's shadow (the shortest reach: 5 px)
        np.testing.assert_array_equal(lit[52:, 10:58], 1.0)  # beyond the longest shadow and its blur
        np.testing.assert_array_equal(lit[4:22, 10:58], 1.0)  # the ledge: nothing above it is nearer
    # Lit from below, the same ledge shadows nothing under it.
    up = np.asarray(synth.cast_shadow(jax.random.key(0), jnp.asarray(depth), light * jnp.array([1.0, -1.0, 1.0]), f, pp))
    np.testing.assert_array_equal(up[32:, 10:58], 1.0)


def test_cast_shadows_only_darken_lit_surfaces_and_are_off_by_default(model, assets):
    """make_assets(cast_shadows=True) is a value (one compiled renderer); rendered with it, the
    labels, visibility and regions are those without it, no pixel is brighter, the background is
    untouched, and some of the head is darker."""
    assert float(assets.cast_shadows) == 0.0
    shadow_assets = synth.make_assets(model, cast_shadows=True)
    assert float(shadow_assets.cast_shadows) == 1.0
    assert [a.shape for a in jax.tree_util.tree_leaves(shadow_assets)] == [a.shape for a in jax.tree_util.tree_leaves(assets)]
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(5, 0, 2)
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    shaded = synth.render_batch(keys, model, shadow_assets, ids, S, augment=False)
    for field in ("landmarks", "visible", "mask"):
        np.testing.assert_array_equal(np.asarray(getattr(shaded, field)), np.asarray(getattr(plain, field)))
    a, b = np.asarray(plain.image), np.asarray(shaded.image)
    assert (b <= a + 1e-6).all()
    mask = np.asarray(plain.mask)
    np.testing.assert_array_equal(b[mask == 0], a[mask == 0])
    darker = (a - b).max(-1) > 0.02
    assert darker[mask > 0].mean() > 0.005, darker[mask > 0].mean()


def test_lens_coverage_is_the_share_inside_a_convex_rim_either_winding():
    """Half a pixel of soft edge: 1 inside, 0 outside, 0.5 on the rim, linear across it."""
    square = np.array([[10.0, 10.0], [20.0, 10.0], [20.0, 20.0], [10.0, 20.0]], np.float32)
    rims = jnp.asarray(np.stack([square, square[::-1]]))
    pts = jnp.array([[15.0, 15.0], [25.0, 15.0], [20.0, 15.0], [19.8, 15.0], [15.0, 9.9], [10.3, 19.9]])
    cover = np.asarray(synth.lens_coverage(rims, pts))
    for c in cover:
        np.testing.assert_allclose(c, [1.0, 0.0, 0.5, 0.7, 0.4, 0.6], atol=1e-5)


def _lens_occluder(on: bool, sun: bool = False):
    rims = np.array([[[8.0, 20.0], [28.0, 20.0], [28.0, 40.0], [8.0, 40.0]],
                     [[36.0, 20.0], [56.0, 20.0], [56.0, 40.0], [36.0, 40.0]]], np.float32)
    z = jnp.zeros((1, 3))
    plane = jnp.array([[0.0, 0.0, 1.0, -50.0]] * 2)          # facing the camera, 50 cm away
    return synth.OccluderMesh(z, jnp.zeros((1, 3), jnp.int32), z, z, jnp.asarray(rims), plane,
                              jnp.full((2, 2), 50.0), jnp.asarray(on), jnp.asarray(sun))


F, PP = jnp.asarray(80.0), jnp.array([32.0, 32.0])


def test_lens_depth_is_the_lens_planes_along_each_pixels_ray():
    """A plane through (0, 0, -50) tilted 45 degrees about the vertical axis: along the ray through
    pixel column u its depth d solves n . (d ray) = n . c, i.e. d = 50 / (1 - (u - cx) / f); clipped
    to the rim's depth range; a plane facing the camera is its depth everywhere."""
    n = np.array([1.0, 0.0, 1.0]) / np.sqrt(2.0)
    c = np.array([0.0, 0.0, -50.0])
    plane = jnp.asarray(np.stack([np.r_[n, n @ c], [0.0, 0.0, 1.0, -50.0]]), jnp.float32)
    pts = jnp.array([[32.0, 10.0], [40.0, 32.0], [24.0, 50.0], [0.0, 32.0], [72.0, 5.0]])
    d = np.asarray(synth.lens_depth_at(plane, jnp.array([[40.0, 60.0], [50.0, 50.0]]), pts, F, PP))
    np.testing.assert_allclose(d[0, :3], [50.0, 50.0 / 0.9, 50.0 / 1.1], rtol=1e-5)
    np.testing.assert_array_equal(d[0, 3:], [40.0, 60.0])       # 50 / 1.4 and 50 / 0.5: clipped to the rim's range
    np.testing.assert_allclose(d[1], 50.0, rtol=1e-6)


def test_lenses_transmit_a_tint_of_what_lies_behind_them_and_add_a_reflection():
    """Through a lens the image is image * transmission * tint + reflection, tint <= 1 with one
    channel at 1 for sunglasses: doubling the scene behind a lens adds exactly the scene times
    transmission * tint, whose largest channel is the transmission returned (clear lenses: within
    their 8% tint of it); sunglasses let through 3-25%, clear lenses 85-97%.  Outside the rims, and
    nearer than the lens (its frame, a nose in front of it), nothing changes; no glasses, no change."""
    s = 64
    depth = np.full((s, s), 60.0, np.float32)
    depth[:, :4] = np.inf                       # background behind the left lens's edge
    depth[20:26] = 49.8                         # nearer than the lenses (50 cm) + LENS_MARGIN_CM
    image = jnp.asarray(np.random.default_rng(0).uniform(0.2, 0.8, (s, s, 3)).astype(np.float32))
    inside = np.zeros((s, s), bool)
    inside[27:39, 9:27] = inside[27:39, 37:55] = True          # whole pixels inside either rim, behind it
    untouched = ~np.zeros((s, s), bool)
    untouched[19:42, 7:30] = untouched[19:42, 35:58] = False   # the rims and a pixel about them
    untouched[20:26] = True
    light = jnp.array([1.0, 0.9, 0.8])
    for seed, sun in [(seed, sun) for seed in range(6) for sun in (False, True)]:
        key = jax.random.key(seed)
        one, trans = synth.glass_lenses(key, image, jnp.asarray(depth), _lens_occluder(True, sun), light, F, PP)
        two, trans2 = synth.glass_lenses(key, 2 * image, jnp.asarray(depth), _lens_occluder(True, sun), light, F, PP)
        one, two, trans = np.asarray(one), np.asarray(two), np.asarray(trans)
        np.testing.assert_array_equal(trans, np.asarray(trans2))
        assert trans[0] == trans[1]
        assert (0.03 <= trans[0] <= 0.25) if sun else (0.85 <= trans[0] <= 0.97), (sun, trans)
        np.testing.assert_array_equal(one[untouched], np.asarray(image)[untouched])
        ratio = ((two - one) / np.asarray(image))[inside]                    # transmission * tint
        np.testing.assert_allclose(ratio, ratio[:1].repeat(len(ratio), 0), atol=2e-5)
        if sun:
            np.testing.assert_allclose(ratio[0].max(), trans[0], rtol=1e-4)
        else:
            assert 0.92 * trans[0] - 1e-5 <= ratio[0].min() and ratio[0].max() <= trans[0] + 1e-5
        assert (one[inside] >= np.asarray(image)[inside] * ratio[:1] - 1e-6).all()     # reflections add light
    none, ones = synth.glass_lenses(jax.random.key(0), image, jnp.asarray(depth), _lens_occluder(False), light, F, PP)
    np.testing.assert_array_equal(np.asarray(none), np.asarray(image))
    np.testing.assert_array_equal(np.asarray(ones), 1.0)


def test_lenses_change_only_glasses_wearers_and_sunglasses_hide_the_eyes(model, assets):
    """make_assets(lenses=True) is a value (no renderer of its own).  Rendered with it, two
    samples whose glasses are sunglasses keep their labels, change pixels, hide eye landmarks
    behind the dark glass and never reveal one; their larger frames change no region but the
    frames' own.  Sunglasses' rims are the clear rims scaled about their centres."""
    lens_assets = synth.make_assets(model, lenses=True)
    assert float(assets.lenses) == 0.0 and float(lens_assets.lenses) == 1.0
    ids = jnp.asarray(model.landmarks["68"])
    keys = jnp.concatenate([synth.batch_keys(10, 19, 1), synth.batch_keys(10, 24, 1)])   # sunglasses, found by search
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False)
    programs = synth.render_programs
    compiled = programs()
    lensed = synth.render_batch(keys, model, lens_assets, ids, S, augment=False)
    assert programs() == compiled
    np.testing.assert_array_equal(np.asarray(lensed.landmarks), np.asarray(plain.landmarks))
    m0, m1 = np.asarray(plain.mask), np.asarray(lensed.mask)
    frame = synth.R["occluder"]
    assert ((m0 == m1) | (m0 == frame) | (m1 == frame)).all()
    v0, v1 = np.asarray(plain.visible), np.asarray(lensed.visible)
    assert not (v1 & ~v0).any()
    hidden = v0 & ~v1
    for i in range(2):
        assert hidden[i, 36:48].any(), i
        assert np.abs(np.asarray(lensed.image[i]) - np.asarray(plain.image[i])).max() > 0.1
    # Head upright at the origin: the rims' 12 points include the superellipse's four extremes.
    params = synth.sample_view(keys[0], model, assets, S)[0]
    params = params.replace(joint_rotations=jnp.zeros((4, 3)), translation=jnp.zeros(3))
    _, _, small = synth.glasses_segments(jax.random.key(1), model, params)
    _, _, large = synth.glasses_segments(jax.random.key(1), model, params, jnp.array([1.2, 1.5]))
    small, large = np.asarray(small)[..., :2], np.asarray(large)[..., :2]
    np.testing.assert_allclose(large.mean(1), small.mean(1), atol=1e-4)
    np.testing.assert_allclose(np.ptp(large, 1), np.ptp(small, 1) * [1.2, 1.5], rtol=1e-5)


def test_hair_with_volume_and_long_hair_stand_off_the_head_and_hide_landmarks(model, assets):
    """The scalp holds the crown and the back of the head, no ear and nothing under the lowest
    hairline; the shell stands `hair_volume` off along the normals well above the hairline, is
    skipped wholly under it and for a bald head; the long-hair curtain (below); rendered, both
    only add hair: the same labels, a larger silhouette, landmarks hidden and never revealed,
    every changed pixel hair."""
    assert assets.hair_ids.shape == (0,) and assets.hair_faces.shape == (0, 3)
    ids, faces = synth.scalp(model)
    t = np.asarray(model.template)
    back = np.argmin(np.where(t[:, 1] > 0, t[:, 2], np.inf))                # of the skull, not the neck
    assert np.argmax(t[:, 1]) in ids and back in ids                         # crown, back of the head
    ear = synth.landmark_sets.regions_of(t, np.asarray(model.vertex_part))["ear"]
    assert not ear[ids].any() and t[ids, 1].min() > synth.HAIRLINE_BACK[0] - 1.0 - 1e-4
    assert faces.min() == 0 and faces.max() == len(ids) - 1
    # The shell on the template itself (camera = template, unit normals straight out of the head).
    app = synth.sample_appearance(jax.random.key(0))._replace(
        hairline=jnp.array([9.0, 9.0, 3.0, -6.0]), hair_volume=jnp.asarray(2.0))
    cam = jnp.asarray(t)
    normals = rs.vertex_normals(cam, jnp.asarray(rs.opaque_faces(model)))
    noise = jnp.zeros_like(cam)
    verts, tri = synth.hair_shell(cam, normals, cam, noise, app, jnp.asarray(ids), jnp.asarray(faces))
    verts, tri = np.asarray(verts), np.asarray(tri)
    assert verts.shape == (len(ids) + 1, 3) and verts[-1, 2] > 0             # the skipped vertex: behind
    above = t[ids, 1] - np.asarray(synth.hairline_height(cam[ids], noise[ids], app))
    high = above > synth.HAIR_RAMP_CM
    np.testing.assert_allclose(np.linalg.norm(verts[:-1] - t[ids], axis=1)[high], 2.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(verts[:-1] - t[ids], axis=1)[above <= 0], 0.05, rtol=1e-4)
    under = (above[faces] <= 0).all(1)
    assert under.any() and (~under).any()
    assert (tri[under] == len(ids)).all() and (tri[~under] == faces[~under]).all()
    _, bald = synth.hair_shell(cam, normals, cam, noise, app._replace(hair_volume=jnp.asarray(0.0)),
                               jnp.asarray(ids), jnp.asarray(faces))
    assert (np.asarray(bald) == len(ids)).all()
    # Long hair: the curtain hangs straight below the head's widest point (at the bottom row its
    # radius is the largest of the head's at that azimuth), posed rigidly with the head, drawn
    # only above its end and outside the face's opening.
    grid, cfaces = synth.curtain_grid(model)
    n_a, n_y = synth.CURTAIN_AZIMUTH_DEG[2], synth.CURTAIN_HEIGHT_CM[2]
    assert grid.shape == (n_a * n_y, 5) and cfaces.shape == (2 * (n_a - 1) * (n_y - 1), 3)
    radius = np.hypot(grid[:, 0], grid[:, 2] + 1.0).reshape(n_a, n_y)
    assert (np.diff(radius, axis=1) >= -1e-4).all()                         # never narrower lower down
    assert (radius.min() > 5.0) and (radius.max() < 14.0)
    params = synth.scenes.sample_scene(jax.random.key(4), model, S).params
    cam = fm.Camera(jnp.zeros(3), jnp.array([0.0, 0.0, -60.0]), jnp.asarray(500.0), jnp.array([32.0, 32.0]))
    app = app._replace(long_hair=jnp.array([1.0, -20.0, np.radians(60.0), np.radians(60.0)]))
    cv, cn, ct = synth.hair_curtain(model, params, cam, app, jnp.asarray(grid), jnp.asarray(cfaces))
    cv, cn, ct = np.asarray(cv), np.asarray(cn), np.asarray(ct)
    bind = grid[:, :3] + np.stack([np.sin(grid[:, 3]), 0 * grid[:, 3], np.cos(grid[:, 3])], -1) * 2.0
    pick = np.random.default_rng(0).integers(0, len(grid), (200, 2))
    np.testing.assert_allclose(np.linalg.norm(cv[pick[:, 0]] - cv[pick[:, 1]], axis=1),
                               np.linalg.norm(bind[pick[:, 0]] - bind[pick[:, 1]], axis=1), atol=1e-3)   # rigid
    np.testing.assert_allclose(np.linalg.norm(cn[:-1], axis=1), 1.0, atol=1e-4)
    drawn = ct[:, 0] != len(grid)
    assert drawn.sum() > 0.3 * len(ct) and (~drawn).sum() > 0.1 * len(ct)
    v = cfaces[drawn]
    assert (grid[v, 1] >= -20.0 - 1.5 - 1e-4).all() and (np.abs(grid[v, 3]) >= np.radians(60.0) - 1e-5).all()
    _, _, none = synth.hair_curtain(model, params, cam, app._replace(long_hair=app.long_hair.at[0].set(0.0)),
                                    jnp.asarray(grid), jnp.asarray(cfaces))
    assert (np.asarray(none) == len(grid)).all()
    # Rendered: the same samples without and with both (some of them with long hair); the plain
    # render is the other switch tests' (703 landmarks, 64 px, no augmentation): one program.
    lm = jnp.asarray(model.landmarks["703"])
    keys = synth.batch_keys(3, 0, 8)
    looks = jax.vmap(lambda k: synth.sample_appearance(jax.random.split(k, 9)[2]))(keys)
    assert 0 < np.asarray(looks.long_hair[:, 0]).sum() < 8
    plain = synth.render_batch(keys, model, assets, lm, S, augment=False)
    hair = synth.render_batch(keys, model, synth.make_assets(model, hair_volume=True, long_hair=True), lm, S,
                              augment=False)
    np.testing.assert_array_equal(np.asarray(hair.landmarks), np.asarray(plain.landmarks))
    v0, v1 = np.asarray(plain.visible), np.asarray(hair.visible)
    assert not (v1 & ~v0).any() and (v0 & ~v1).sum() > 0
    fg0, fg1 = np.asarray(plain.mask) > 0, np.asarray(hair.mask) > 0
    assert not (fg0 & ~fg1).any() and (fg1 & ~fg0).sum() > 0.01 * fg0.sum()
    # Every changed pixel is hair, but for occluder pixels where two of its capsule pieces meet at
    # one depth (the tie goes to the triangle placed first, and the shell moves places).
    changed = np.abs(np.asarray(hair.image) - np.asarray(plain.image)).max(-1) > 1e-3
    cls = np.asarray(hair.mask)[changed]
    assert (cls == rs.REGION_NAMES.index("hair")).mean() > 0.99
    assert np.isin(cls, [rs.REGION_NAMES.index("hair"), rs.REGION_NAMES.index("occluder")]).all()


def test_beards_with_volume_stand_off_the_jaw_and_hide_landmarks(model, assets):
    """The beard region (make_assets(beard_volume=True)) is the lower face's skin, no ear, lip or
    eye; the shell stands `beard_volume` off along the normals well inside the zone and away from
    the lips, and is skipped outside this sample's zone and for a head without a full beard.
    Rendered: the same labels; bearded heads' silhouettes grow, landmarks are hidden (the jaw line's
    among them, never the eyes' or brows') and never revealed, every changed pixel is hair; other heads render as before."""
    assert assets.beard_ids.shape == (0,) and assets.beard_faces.shape == (0, 3)
    ids, mouth, faces = synth.beard_region(model)
    t = np.asarray(model.template)
    lm68 = np.asarray(model.landmarks["68"])
    assert lm68[8] in ids and lm68[4] in ids and lm68[12] in ids                 # chin, both sides of the jaw
    # Not the nose's bridge, the eyes or the lips (a moustache reaches the nostrils' base, 31-35).
    assert not np.isin(lm68[np.r_[27:31, 36:48, 48:68]], ids).any()
    ear = synth.landmark_sets.regions_of(t, np.asarray(model.vertex_part))["ear"]
    assert not ear[ids].any() and (mouth > 0.57).all()
    assert (t[ids, 1] > synth.BEARD_BOTTOM_CM).all() and (t[ids, 1] < max(synth.BEARD_TOP_CM) + 0.4).all()
    assert faces.min() == 0 and faces.max() == len(ids) - 1
    # The shell on the template itself (camera = template, unit normals straight out of the head).
    app = synth.sample_appearance(jax.random.key(0))._replace(beard=jnp.array([0.0, 1.0, 0.0]),
                                                               beard_volume=jnp.asarray(2.0))
    cam = jnp.asarray(t)
    normals = rs.vertex_normals(cam, jnp.asarray(rs.opaque_faces(model)))
    noise = jnp.zeros_like(cam)
    args = (jnp.asarray(ids), jnp.asarray(mouth), jnp.asarray(faces))
    verts, tri = map(np.asarray, synth.beard_shell(cam, normals, cam, noise, app, *args))
    assert verts.shape == (len(ids) + 1, 3) and verts[-1, 2] > 0              # the skipped vertex: behind
    depth = np.asarray(synth.beard_depth(cam[ids], app))
    lift = np.linalg.norm(verts[:-1] - t[ids], axis=1)
    deep = (depth > synth.BEARD_RAMP_CM) & (mouth > 0.6 + synth.BEARD_RAMP_CM)
    assert deep.sum() > 0.3 * len(ids)
    np.testing.assert_allclose(lift[deep], 2.0, rtol=1e-5)
    np.testing.assert_allclose(lift[depth <= 0], 0.05, rtol=1e-4)
    assert (lift <= 2.0 * (1 + 1e-5)).all()
    outside = ~(depth[faces] > 0).all(1)
    assert outside.any() and (~outside).any()
    assert (tri[outside] == len(ids)).all() and (tri[~outside] == faces[~outside]).all()
    for none in (app._replace(beard=jnp.array([0.6, 0.0, 0.0])), app._replace(beard_volume=jnp.asarray(0.0))):
        assert (np.asarray(synth.beard_shell(cam, normals, cam, noise, none, *args)[1]) == len(ids)).all()
    # Drawn for full beards only, within its range.
    keys = synth.batch_keys(7, 0, 64)
    looks = jax.vmap(lambda k: synth.sample_appearance(jax.random.split(k, 9)[2]))(keys)
    full, vol = np.asarray(looks.beard[:, 1]) > 0.5, np.asarray(looks.beard_volume)
    assert ((vol > 0) == full).all() and (vol[full] >= synth.BEARD_VOLUME_CM[0]).all()
    assert (vol[full] <= synth.BEARD_VOLUME_CM[1]).all()
    # Rendered: six bearded heads and two others; the plain render is the other switch tests'
    # (703 landmarks, 64 px, batch 8, no augmentation): one program.
    pick = np.concatenate([np.where(full)[0][:6], np.where(~full)[0][:2]])
    assert len(pick) == 8
    k = keys[pick]
    lm = jnp.asarray(model.landmarks["703"])
    plain = synth.render_batch(k, model, assets, lm, S, augment=False)
    beard = synth.render_batch(k, model, synth.make_assets(model, beard_volume=True), lm, S, augment=False)
    np.testing.assert_array_equal(np.asarray(beard.landmarks), np.asarray(plain.landmarks))
    v0, v1 = np.asarray(plain.visible), np.asarray(beard.visible)
    assert not (v1 & ~v0).any()
    hidden = v0 & ~v1
    assert hidden[:6].sum(1).max() > 0 and not hidden[6:].any()
    names = np.asarray(model.landmark_regions["703"])[np.where(hidden)[1]]
    assert "jaw" in names and not np.isin(names, ["eyelid", "iris", "pupil", "eye", "brow"]).any()
    fg0, fg1 = np.asarray(plain.mask) > 0, np.asarray(beard.mask) > 0
    assert not (fg0 & ~fg1).any() and (fg1 & ~fg0)[:6].sum() > 0
    diff = np.abs(np.asarray(beard.image) - np.asarray(plain.image)).max(-1)
    assert diff[6:].max() < 1e-3
    # Every changed pixel is hair, but for occluder pixels where two of its capsule pieces meet at
    # one depth (the tie goes to the triangle placed first, and the shell moves places).
    cls = np.asarray(beard.mask)[diff > 1e-3]
    assert cls.size > 0 and (cls == rs.REGION_NAMES.index("hair")).mean() > 0.99
    assert np.isin(cls, [rs.REGION_NAMES.index("hair"), rs.REGION_NAMES.index("occluder")]).all()


def test_shoulders_hang_below_the_neck_and_only_add_clothing(model, assets):
    """The torso (make_assets(shoulders=True)): a closed grid whose top ring lies inside ICT's neck
    at that height for every width and depth drawn (the neck hides the seam); posed, the
    cross-section is the superellipse with outward unit normals, carried by the head's translation
    and turned about the neck joint's vertical by TORSO_TURN's share of the head's and neck's yaw
    alone.  Rendered: the same labels, more clothing, visibility all but unchanged."""
    assert assets.torso.shape == (0, 5)
    rows, faces = synth.torso_grid()
    n_a, n_y = synth.TORSO_GRID
    assert rows.shape == (n_a * n_y, 5) and faces.max() == len(rows) - 1
    assert len(faces) == 2 * n_a * (n_y - 1)                               # closed around: no seam
    t = np.asarray(model.template)
    skin = t[np.asarray(model.vertex_part) <= 1]
    top = rows[:, 1] == rows[:, 1].max()
    near = skin[np.abs(skin[:, 1] - rows[top, 1][0]) < 0.3]
    a, b, zc = rows[top][0, 2:5]
    assert a * synth.TORSO_WIDTH[1] < near[:, 0].max() and zc + b * synth.TORSO_DEPTH[1] < near[:, 2].max()
    assert zc - b * synth.TORSO_DEPTH[1] > near[:, 2].min()
    app = synth.sample_appearance(jax.random.key(0))._replace(torso=jnp.array([1.1, 0.95, 0.5]))
    cam = fm.Camera(jnp.zeros(3), jnp.zeros(3), jnp.float32(1000.0), jnp.zeros(2))
    still = fm.FaceParams(jnp.zeros(model.num_identity), jnp.zeros(model.num_expression), jnp.zeros((4, 3)),
                          jnp.array([1.0, 2.0, 3.0]))
    pos, c, n = (np.asarray(v) for v in synth.torso(model, still, cam, app, jnp.asarray(rows)))
    e = synth.TORSO_EXPONENT
    xa, zb = pos[:, 0] / (1.1 * rows[:, 2]), (pos[:, 2] - rows[:, 4]) / (0.95 * rows[:, 3])
    np.testing.assert_allclose(np.abs(xa) ** e + np.abs(zb) ** e, 1.0, rtol=1e-4)
    np.testing.assert_allclose(c, pos + [1.0, 2.0, 3.0], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-5)
    assert (np.sum(n[:, [0, 2]] * np.stack([pos[:, 0], pos[:, 2] - rows[:, 4]], 1), 1) > 0).all()   # outward
    # Head yaw 0.4 and neck yaw 0.2 rad: the body turns by half of 0.6; pitch and roll do not move it.
    turned = still.replace(joint_rotations=jnp.array([[0.3, 0.2, 0.1], [-0.2, 0.4, 0.3], [0, 0, 0], [0, 0, 0]]))
    _, c2, _ = (np.asarray(v) for v in synth.torso(model, turned, cam, app, jnp.asarray(rows)))
    pivot = np.asarray(fm.joint_locations(model, still.identity))[0]
    r = np.asarray(geometry.axis_angle_to_matrix(jnp.array([0.0, 0.3, 0.0])))
    np.testing.assert_allclose(c2, (pos - pivot) @ r.T + pivot + [1.0, 2.0, 3.0], atol=1e-4)
    ids = jnp.asarray(model.landmarks["68"])
    keys = synth.batch_keys(7, 0, 4)
    # A wide crop (pools render at 0.8; training zooms in from there), so the chest is in view.
    plain = synth.render_batch(keys, model, assets, ids, S, augment=False, crop_scale=0.6)
    torso_r = synth.render_batch(keys, model, synth.make_assets(model, shoulders=True), ids, S, augment=False,
                                 crop_scale=0.6)
    np.testing.assert_array_equal(np.asarray(torso_r.landmarks), np.asarray(plain.landmarks))
    cloth = rs.REGION_NAMES.index("neck_clothing")
    before, after = np.asarray(plain.mask), np.asarray(torso_r.mask)
    assert (after == cloth).sum() > (before == cloth).sum()
    # Nearly every pixel that changed class became clothing (a few differ where the rasteriser's
    # share of places per window moved with the added triangles).
    assert ((after == cloth) | (after == before)).mean() > 0.995
    assert np.mean(np.asarray(torso_r.visible) != np.asarray(plain.visible)) < 0.02


def test_identity_spread_scales_the_same_heads_and_is_off_by_default(model, assets, capsys, tmp_path):
    """make_assets(identity_sd=(low, high)) is a value: each head's identity is the default draw
    times a factor uniform in [low, high], one factor per head, with its own key, so pose,
    expression and camera are the default draw's and (1, 1) draws exactly the default heads."""
    np.testing.assert_array_equal(np.asarray(assets.identity_sd), [1.0, 1.0])
    wide = synth.make_assets(model, identity_sd=(1.0, 2.0))
    fixed = synth.make_assets(model, identity_sd=(2.0, 2.0))
    assert [a.shape for a in jax.tree_util.tree_leaves(wide)] == [a.shape for a in jax.tree_util.tree_leaves(assets)]
    factors = []
    for i in range(6):
        key = jax.random.fold_in(jax.random.key(7), i)
        p0, c0 = synth.sample_view(key, model, assets, S)
        p1, _ = synth.sample_view(key, model, synth.make_assets(model, identity_sd=(1.0, 1.0)), S)
        p2, _ = synth.sample_view(key, model, fixed, S)
        pw, _ = synth.sample_view(key, model, wide, S)
        np.testing.assert_array_equal(np.asarray(p1.identity), np.asarray(p0.identity))
        np.testing.assert_array_equal(np.asarray(p2.identity), 2.0 * np.asarray(p0.identity))
        for field in ("expression", "joint_rotations"):
            np.testing.assert_array_equal(np.asarray(getattr(pw, field)), np.asarray(getattr(p0, field)))
        ratio = np.asarray(pw.identity) / np.asarray(p0.identity)
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)   # one factor for the whole head
        assert 1.0 <= ratio[0] <= 2.0
        factors.append(ratio[0])
    assert np.ptp(factors) > 0.1, factors                        # drawn per head
    with pytest.raises(ValueError, match="identity spread"):
        synth.make_assets(model, identity_sd=(1.5, 1.0))
    # The command line: a --pool option, refused without --pool and out of range in one line each.
    assert cli.main(["synth", "--num", "8", "--identity-sd", "2", "--out", str(tmp_path / "x")]) == 2
    assert "--identity-sd" in capsys.readouterr().err
    assert cli.main(["synth", "--pool", "--num", "8", "--identity-sd", "0.5", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "identity spread" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
