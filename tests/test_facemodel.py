"""Properties of the face model of Section 3.2 (each test can fail on a wrong model)."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlm
from dlm.core import facemodel as fm
from dlm.core import geometry

DATA = os.path.join(os.path.dirname(__file__), "data")


def random_params(model, key, scale=1.0):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return dlm.FaceParams(
        identity=jax.random.normal(k1, (model.num_identity,)),
        expression=jax.random.uniform(k2, (model.num_expression,)) * 0.5,
        joint_rotations=scale * 0.3 * jax.random.normal(k3, (4, 3)),
        translation=jax.random.normal(k4, (3,)) * 5.0)


def test_counts_and_api(model):
    assert model.num_vertices == 24591
    assert model.num_identity == 100 and model.num_expression == 55
    assert model.expression_names[:3] == ("browDown_L", "browDown_R", "browInnerUp_L")
    assert model.expression_names[-2:] == ("PupilDilate_L", "PupilDilate_R")
    assert model.faces.shape[1] == 3 and int(model.faces.max()) == model.num_vertices - 1
    assert set(model.landmarks) == {"703", "320", "68"}
    p = dlm.FaceParams.zeros(model)
    assert p.joint_rotations.shape == (4, 3) and p.translation.shape == (3,)


def test_asset_matches_original_obj_slice(model):
    """The half-precision asset reproduces rows copied verbatim from ICT's OBJ files."""
    with open(os.path.join(DATA, "ict_obj_slice.json")) as f:
        s = json.load(f)
    idx = np.asarray(s["vertex_ids"])
    neutral = np.asarray(s["rows"]["generic_neutral_mesh"])
    np.testing.assert_allclose(np.asarray(model.template)[idx], neutral, atol=1e-4)
    for name, rows in s["rows"].items():
        if name == "generic_neutral_mesh":
            continue
        if name.startswith("identity"):
            basis = np.asarray(model.identity_basis)[:, :, int(name[-3:])]
        else:
            basis = np.asarray(model.expression_basis)[:, :, model.expression_names.index(name)]
        recon = np.asarray(model.template)[idx] + basis[idx]
        # float16 deltas: relative error 2^-11 of a delta of at most a few cm.
        np.testing.assert_allclose(recon, np.asarray(rows), atol=3e-3)


def test_zero_params_give_template(model):
    v = dlm.vertices(model, dlm.FaceParams.zeros(model))
    np.testing.assert_allclose(np.asarray(v), np.asarray(model.template), atol=1e-5)


def test_zero_rotations_give_bind_pose(model):
    p = random_params(model, jax.random.key(1)).replace(joint_rotations=jnp.zeros((4, 3)))
    v = dlm.vertices(model, p)
    t = dlm.bind_pose(model, p.identity, p.expression) + p.translation
    np.testing.assert_allclose(np.asarray(v), np.asarray(t), atol=1e-4)


def test_eye_rotation_moves_only_that_eyeball(model):
    p0 = random_params(model, jax.random.key(2)).replace(joint_rotations=jnp.zeros((4, 3)).at[1].set([0.1, 0.2, 0]))
    p1 = p0.replace(joint_rotations=p0.joint_rotations.at[2].set([0.0, 0.4, 0.1]))
    v0, v1 = np.asarray(dlm.vertices(model, p0)), np.asarray(dlm.vertices(model, p1))
    left_eye = np.asarray(model.vertex_part) == model.part_names.index("eyeball_left")
    moved = np.linalg.norm(v1 - v0, axis=1) > 1e-5
    assert moved[left_eye].mean() > 0.95
    assert not moved[~left_eye].any()
    centre = np.asarray(fm.posed_joints(model, p1))[2]
    centre0 = np.asarray(fm.posed_joints(model, p0))[2]
    np.testing.assert_allclose(centre, centre0, atol=1e-5)  # the eye turns about its centre
    r0 = np.linalg.norm(v0[left_eye] - centre0, axis=1)
    r1 = np.linalg.norm(v1[left_eye] - centre, axis=1)
    np.testing.assert_allclose(r1, r0, atol=1e-4)
    # ...and the eyeball is a sphere about that joint (radius ~1.5 cm, ICT's eyeball).
    sclera = np.arange(21451, 22221)
    rs = np.linalg.norm(v1[sclera] - centre, axis=1)
    assert 1.3 < np.median(rs) < 1.7


def test_head_rotation_is_rigid_on_head_vertices(model):
    p = random_params(model, jax.random.key(3)).replace(joint_rotations=jnp.zeros((4, 3)))
    q = p.replace(joint_rotations=p.joint_rotations.at[1].set([0.3, -0.5, 0.2]))
    w = np.asarray(model.skinning_weights)
    head = np.nonzero(w[:, 1] == 1.0)[0][::50]
    a, b = np.asarray(dlm.vertices(model, p))[head], np.asarray(dlm.vertices(model, q))[head]
    da = np.linalg.norm(a[:, None] - a[None], axis=2)
    db = np.linalg.norm(b[:, None] - b[None], axis=2)
    np.testing.assert_allclose(db, da, atol=2e-4)
    assert np.abs(a - b).max() > 1.0  # and it did move
    # Neck-base vertices (weight 1 on the neck) stay put.
    neck = np.nonzero(w[:, 0] == 1.0)[0]
    assert len(neck) > 100
    np.testing.assert_allclose(np.asarray(dlm.vertices(model, q))[neck], np.asarray(dlm.vertices(model, p))[neck],
                               atol=1e-5)


def test_skinning_weights_are_a_partition_of_unity(model):
    w = np.asarray(model.skinning_weights)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    assert (w >= 0).all()
    eyes = np.isin(np.asarray(model.vertex_part), [7, 8])
    assert (w[eyes][:, 2:].sum(1) == 1).all() and (w[~eyes][:, 2:] == 0).all()


def test_joints_move_with_identity(model):
    beta = jax.random.normal(jax.random.key(4), (model.num_identity,))
    j0 = np.asarray(dlm.joint_locations(model, jnp.zeros(model.num_identity)))
    j1 = np.asarray(dlm.joint_locations(model, beta))
    assert np.abs(j1 - j0).max() > 0.05
    # J(beta) equals the regressor applied to the identity mesh.
    mesh = dlm.bind_pose(model, beta, jnp.zeros(model.num_expression))
    np.testing.assert_allclose(j1, np.asarray(model.joint_regressor @ mesh), atol=1e-4)
    # Eye joints stay at the centre of the (reshaped) eyeballs.
    sclera = np.asarray(mesh)[21451:22221]
    r = np.linalg.norm(sclera - j1[2], axis=1)
    assert r.std() / r.mean() < 0.05


def test_projection_hand_computed():
    cam = dlm.Camera(jnp.zeros(3), jnp.array([0.0, 0.0, -50.0]), jnp.asarray(1000.0), jnp.array([320.0, 240.0]))
    pts = jnp.array([[0.0, 0.0, 0.0], [5.0, 2.0, 0.0], [-5.0, -2.0, 10.0]])
    px = np.asarray(dlm.project_points(cam, pts))
    # depth 50: u = 320 + 1000 * 5 / 50 = 420, v = 240 - 1000 * 2 / 50 = 200; third at depth 40.
    np.testing.assert_allclose(px, [[320, 240], [420, 200], [320 - 125, 240 + 50]], atol=1e-4)
    # A 90-degree camera rotation about y maps +x to -z (in front of the camera).
    cam2 = cam.replace(rotation=jnp.array([0.0, np.pi / 2, 0.0]), translation=jnp.zeros(3))
    np.testing.assert_allclose(np.asarray(dlm.project_points(cam2, jnp.array([[50.0, 1.0, 0.0]]))),
                               [[320, 240 - 20]], atol=1e-3)


def test_axis_angle_round_trip_and_orthonormal():
    r = jax.random.normal(jax.random.key(5), (64, 3))
    r = r / jnp.linalg.norm(r, axis=1, keepdims=True) * jax.random.uniform(jax.random.key(6), (64, 1), maxval=3.0)
    m = geometry.axis_angle_to_matrix(r)
    np.testing.assert_allclose(np.asarray(m @ jnp.swapaxes(m, 1, 2)), np.broadcast_to(np.eye(3), (64, 3, 3)),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(jnp.linalg.det(m)), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(geometry.matrix_to_axis_angle(m)), np.asarray(r), atol=1e-3)
    # Angles at and near pi (where sin(angle) vanishes) survive the round trip up to the sign of the axis.
    for v in ([np.pi, 0, 0], [0, np.pi - 1e-4, 0], [0.3 * np.pi, 0.4 * np.pi, -0.5 * np.pi]):
        v = jnp.asarray(v, jnp.float32)
        back = geometry.axis_angle_to_matrix(geometry.matrix_to_axis_angle(geometry.axis_angle_to_matrix(v)))
        np.testing.assert_allclose(np.asarray(back), np.asarray(geometry.axis_angle_to_matrix(v)), atol=1e-4)
    # Small angles agree with the first-order formula I + [r]_x.
    small = jnp.array([1e-5, -2e-5, 3e-5])
    np.testing.assert_allclose(np.asarray(geometry.axis_angle_to_matrix(small)),
                               np.eye(3) + np.array([[0, -3e-5, -2e-5], [3e-5, 0, -1e-5], [2e-5, 1e-5, 0]]),
                               atol=1e-9)


def test_landmark_only_evaluation_equals_full_rows(model):
    p = random_params(model, jax.random.key(7))
    full = np.asarray(dlm.vertices(model, p))
    for name, idx in model.landmarks.items():
        np.testing.assert_allclose(np.asarray(dlm.landmark_vertices(model, p, name)), full[np.asarray(idx)],
                                   atol=1e-4)
        sub = fm.restrict(model, idx)
        np.testing.assert_allclose(np.asarray(dlm.vertices(sub, p)), full[np.asarray(idx)], atol=1e-4)


def test_gradients_match_finite_differences(model):
    p = random_params(model, jax.random.key(8))
    idx = model.landmarks["68"]
    target = jax.random.normal(jax.random.key(9), (68, 3))

    def loss(q):
        return jnp.sum((dlm.vertices(model, q, idx) - target) ** 2) * 1e-3

    g = jax.grad(loss)(p)
    for leaf in jax.tree_util.tree_leaves(g):
        assert np.isfinite(np.asarray(leaf)).all()
    # Central differences along a random direction, in float64 on the host for accuracy.
    d = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.key(10), x.shape), p)
    eps = 1e-2
    lp = loss(jax.tree_util.tree_map(lambda x, y: x + eps * y, p, d))
    lm = loss(jax.tree_util.tree_map(lambda x, y: x - eps * y, p, d))
    fd = (float(lp) - float(lm)) / (2 * eps)
    an = sum(float(jnp.vdot(a, b)) for a, b in zip(jax.tree_util.tree_leaves(g), jax.tree_util.tree_leaves(d)))
    assert abs(fd - an) <= 2e-2 * abs(an) + 1e-3, (fd, an)
    # Gradient at exactly zero rotation is finite too (Rodrigues' singular point).
    g0 = jax.grad(loss)(p.replace(joint_rotations=jnp.zeros((4, 3))))
    assert np.isfinite(np.asarray(g0.joint_rotations)).all()
    assert np.abs(np.asarray(g0.joint_rotations)).max() > 0


def test_jit_and_vmap_equal_python_loop(model):
    keys = jax.random.split(jax.random.key(11), 3)
    batch = [random_params(model, k) for k in keys]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *batch)
    f = jax.jit(jax.vmap(lambda p: dlm.landmark_vertices(model, p, "703")))
    out = np.asarray(f(stacked))
    for i, p in enumerate(batch):
        np.testing.assert_allclose(out[i], np.asarray(dlm.landmark_vertices(model, p, "703")), atol=1e-4)
    # The model itself can be a jit argument.
    g = jax.jit(dlm.vertices)
    np.testing.assert_allclose(np.asarray(g(model, batch[0]))[:100], np.asarray(dlm.vertices(model, batch[0]))[:100],
                               atol=1e-4)


def test_jaw_open_moves_lower_teeth_linearly(model):
    jaw = model.expression_names.index("jawOpen")
    lower = np.arange(19247, 21451)
    upper = np.arange(17039, 19247)
    d = lambda w: np.asarray(dlm.bind_pose(model, jnp.zeros(100), jnp.zeros(55).at[jaw].set(w)))
    d0, d5, d1 = d(0.0), d(0.5), d(1.0)
    assert np.abs(d1[lower] - d0[lower]).max() > 0.5
    np.testing.assert_allclose(d5[lower] - d0[lower], 0.5 * (d1[lower] - d0[lower]), atol=1e-5)
    assert np.abs(d1[upper] - d0[upper]).max() < 1e-3


def test_expression_vector_names(model):
    psi = dlm.expression_vector(model, {"jawOpen": 0.5})
    assert float(psi[model.expression_names.index("jawOpen")]) == 0.5 and float(psi.sum()) == 0.5
    with pytest.raises(KeyError, match="unknown expression"):
        dlm.expression_vector(model, {"jawOpenn": 1})


def test_corrupt_asset_gives_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="unreadable or corrupt"):
        dlm.load_face_model(bad)
    with pytest.raises(FileNotFoundError, match="face model asset not found"):
        dlm.load_face_model(tmp_path / "missing.npz")


def test_projection_numpy_and_jax_paths_and_broadcasting():
    """geometry.project is the one pinhole projection: numpy in -> numpy out (float64, for the
    drawings), JAX otherwise, equal values; per-frame focal lengths and principal points broadcast
    as the fitter's energy uses them, equal to projecting each frame alone."""
    from dlm.core import geometry
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(3, 5, 3)) + np.array([0.0, 0.0, -40.0])     # (F, L, 3) in front of the camera
    f, pp = np.array([500.0, 800.0, 1200.0]), rng.uniform(100, 300, (3, 2))
    got = geometry.project(pts, f[:, None], pp[:, None])
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (3, 5, 2)
    for i in range(3):
        want = np.stack([pp[i, 0] + f[i] * pts[i, :, 0] / -pts[i, :, 2],
                         pp[i, 1] - f[i] * pts[i, :, 1] / -pts[i, :, 2]], -1)
        np.testing.assert_allclose(got[i], want, rtol=1e-12)
        np.testing.assert_allclose(geometry.project(pts[i], f[i], tuple(pp[i])), want, rtol=1e-12)
    j = geometry.project(jnp.asarray(pts, jnp.float32), jnp.asarray(f)[:, None], jnp.asarray(pp)[:, None])
    assert isinstance(j, jax.Array)
    np.testing.assert_allclose(np.asarray(j), got, rtol=1e-5)


def test_centroid_on_ray_inverts_projection_of_a_face_on_plane():
    """Points in a plane facing the camera (z constant), moved to t and projected: the placement
    recovers t + their centroid (the 2D and 3D spreads agree at the true depth, the centroid lies
    on its ray); frames batch; a weight-0 landmark's position does not matter."""
    rng = np.random.default_rng(1)
    pts = np.concatenate([rng.normal(size=(20, 2)) * 4.0, np.zeros((20, 1))], 1)   # (L, 3) cm
    ts = np.array([[0.3, -0.2, -50.0], [-2.0, 1.0, -80.0]])
    f, pp = np.array([800.0, 600.0]), np.array([[320.0, 240.0], [300.0, 200.0]])
    mu = np.stack([geometry.project(pts + t, fi, p) for t, fi, p in zip(ts, f, pp)])   # (2, L, 2)
    place = lambda m, w: np.asarray(geometry.centroid_on_ray(  # noqa: E731
        jnp.asarray(m, jnp.float32), jnp.asarray(w, jnp.float32), jnp.asarray(pts, jnp.float32),
        jnp.asarray(f, jnp.float32), jnp.asarray(pp, jnp.float32)))
    # float32 pixels at 50-80 cm: ~1e-5 relative.
    np.testing.assert_allclose(place(mu, np.ones((2, 20))), ts + pts.mean(0), rtol=1e-4, atol=1e-4)
    w = np.ones((2, 20))
    w[:, 0] = 0.0
    far = mu.copy()
    far[:, 0] = 1e4
    np.testing.assert_allclose(place(far, w), place(mu, w), rtol=1e-6)
    for i in range(2):   # its projection is still the weighted 2D centroid
        np.testing.assert_allclose(geometry.project(place(mu, w)[i].astype(np.float64), f[i], pp[i]),
                                   mu[i, 1:].mean(0), atol=1e-3)
