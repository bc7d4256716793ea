"""Fitting: energy terms, the LM solvers, the offline fitter and its gradients."""
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dlm
from dlm.core import facemodel as fm
from dlm.synth import scenes
from dlm.fitting import energy as en, lm, offline, realtime as rt

S = 256


@pytest.fixture(scope="module")
def scene(model):
    return scenes.sample_scene(jax.random.key(7), model, S, scenes.SceneRanges(max_yaw=np.radians(45)))


def test_landmark_energy_by_hand(model):
    lm_model = fm.restrict(model, model.landmarks["68"])
    vars = en.FitVars(jnp.zeros(100), jnp.zeros((2, 55)), jnp.zeros((2, 4, 3)),
                      jnp.array([[0.0, 0.0, -60.0], [1.0, 0.0, -60.0]]), jnp.zeros((1, 3)), jnp.zeros((1, 3)),
                      jnp.zeros((1, 1)))
    rig = en.CameraRig(jnp.full((1, 1, 2), 128.0), jnp.full((1, 1), 500.0))
    x = en.project_landmarks(lm_model, vars, rig)  # (2, 1, 68, 2)
    # Frame 1 moved 1 cm sideways at 60 cm with f = 500: 500 / 60 px (x is the subject's left = image right).
    pts = np.asarray(fm.vertices(lm_model, fm.FaceParams.zeros(model)))
    d = 60.0 - pts[:, 2]
    np.testing.assert_allclose(np.asarray(x[1, 0, :, 0] - x[0, 0, :, 0]), 500.0 / d, rtol=1e-4)
    mu = x + 3.0
    sigma = jnp.full((2, 1, 68), 2.0)
    obs = en.Observations(mu, sigma, jnp.ones((2, 1, 68)).at[0, 0, :10].set(0.0))
    w = en.EnergyWeights(temporal=0.5)
    terms = en.energy_terms(vars, obs, lm_model, rig, w, dlm.standard_normal_prior(100))
    # 126 observed landmarks, each |(3, 3)|^2 / (2 * 4) = 18 / 8.
    np.testing.assert_allclose(float(terms["landmarks"]), 126 * 18 / 8, rtol=1e-5)
    np.testing.assert_allclose(float(terms["temporal"]), 0.5 * float(jnp.sum((x[1] - x[0]) ** 2)), rtol=1e-5)
    vars2 = vars._replace(joint_rotations=vars.joint_rotations.at[:, 0].set(0.3))
    assert float(en.energy_terms(vars2, obs, lm_model, rig, w, dlm.standard_normal_prior(100))["joints"]) == 0.0
    vars3 = vars._replace(joint_rotations=vars.joint_rotations.at[0, 1].set(0.3))
    np.testing.assert_allclose(float(en.energy_terms(vars3, obs, lm_model, rig, w,
                                                     dlm.standard_normal_prior(100))["joints"]), 0.27, rtol=1e-5)


def test_intersection_energy(model):
    data = en.make_intersection_data(model)
    beta = jnp.zeros(100)
    energy = jax.jit(en.intersection_energy)     # one program, not ~190 one-op ones (issue 30)
    f = lambda e: float(energy(data, model, beta, dlm.expression_vector(model, e)))
    assert f({}) == 0.0
    # A negative jaw opening drives the lower teeth up through the lips; a blink stays clear of the eye.
    assert f({"jawOpen": -1.0}) > 10.0
    assert f({"eyeBlink_L": 1.0}) < 0.05
    g = jax.jit(jax.grad(lambda e: en.intersection_energy(data, model, beta, e)))(
        dlm.expression_vector(model, {"jawOpen": -1.0}))
    assert float(g[model.expression_names.index("jawOpen")]) < 0  # opening the jaw reduces the penalty


def _frame(model, scene, noise=0.5, key=3):
    p = scene.params
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, p, "320"))
    consts = rt.make_constants(model, p.identity, "320", scene.camera.focal, scene.camera.principal_point)
    frame = rt.FrameInput(mu + noise * jax.random.normal(jax.random.key(key), mu.shape), jnp.full(320, 1.0),
                          jnp.ones(320), mu, jnp.asarray(1.0))
    xt = rt.pack(p.joint_rotations, p.translation, p.expression)
    return frame, consts, xt


def test_structured_normal_equations_match_jacfwd(model, scene):
    st = rt.analyse_sparsity(model, "320", threshold=0.0)  # no dropped entries: must match exactly
    frame, consts, xt = _frame(model, scene)
    x = xt + 0.02 * jax.random.normal(jax.random.key(1), xt.shape)
    x = x.at[-3].set(-0.2)  # an active bound
    # Compiled, as the solver runs them (op by op they compiled ~250 one-op programs: issue 30).
    a = jax.jit(lambda x, frame, consts: rt.structured_normal_equations(x, frame, consts, st))(x, frame, consts)
    b = jax.jit(lambda x, frame, consts: lm.dense_normal_equations(lambda y: rt.residuals(y, frame, consts, st))(x))(
        x, frame, consts)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-3, atol=2e-3 * float(jnp.abs(v).max()))
    stats = rt.sparsity_stats(rt.analyse_sparsity(model, "320"))
    assert stats["outer_product_entries_sparse"] < 0.5 * stats["outer_product_entries_dense"]


def test_sparse_and_dense_lm_reach_the_same_solution(model, scene):
    st = rt.analyse_sparsity(model, "320")
    frame, consts, xt = _frame(model, scene)
    x0 = xt.at[:15].multiply(0.8).at[12:15].add(jnp.array([1.0, -1.0, 3.0])).at[15:].multiply(0.3)
    s_sparse = rt.make_solver(st, 15, "structured")(x0, frame, consts)
    s_dense = rt.make_solver(st, 15, "dense")(x0, frame, consts)
    assert float(s_sparse.cost) < 0.01 * float(rt.cost(x0, frame, consts, st))
    np.testing.assert_allclose(float(s_sparse.cost), float(s_dense.cost), rtol=1e-3)
    # Dropping Jacobian entries below the threshold moves the fixed point only along nearly flat
    # directions: the fitted landmarks agree to a few hundredths of a pixel.
    proj = lambda x: rt._project(rt._points(x, consts, st), consts.focal, consts.principal_point)
    np.testing.assert_allclose(np.asarray(proj(s_sparse.x)), np.asarray(proj(s_dense.x)), atol=0.05)
    np.testing.assert_allclose(np.asarray(s_sparse.x), np.asarray(s_dense.x), atol=0.02)
    # With noise-free landmarks, the fit recovers the true pose and expression.
    clean = frame._replace(mu=frame.prev_2d)
    s = rt.make_solver(st, 15, "structured")(x0, clean, consts)
    assert float(jnp.abs(s.x[:12] - xt[:12]).max()) < 0.01  # radians
    assert float(jnp.abs(s.x[12:15] - xt[12:15]).max()) < 0.1  # cm


def test_spd_solve_matches_lapack():
    # Gauss-Jordan on SPD systems the size of the real-time LM's (70 parameters), damped as LM
    # damps them.  Backward-stable elimination: relative error <= c * cond * eps, here cond < 1e3.
    rng = np.random.default_rng(0)
    for p in (1, 7, 70):
        m = rng.normal(size=(p, 3 * p)).astype(np.float32)
        a = m @ m.T + 0.1 * p * np.eye(p, dtype=np.float32)
        b = rng.normal(size=p).astype(np.float32)
        cond = np.linalg.cond(a.astype(np.float64))
        ref = np.linalg.solve(a.astype(np.float64), b.astype(np.float64))
        x = np.asarray(jax.jit(lm.spd_solve)(jnp.asarray(a), jnp.asarray(b)))
        assert np.linalg.norm(x - ref) <= 50 * cond * 1.2e-7 * np.linalg.norm(ref), (p, cond)
    with pytest.raises(ValueError, match="linear_solver"):
        lm.lm_run(lambda x: (jnp.eye(1), x, 0.0), lambda x: jnp.sum(x * x), jnp.ones(1), 1, linear_solver="qr")


def test_lm_linear_solvers_reach_the_same_solution(model, scene):
    st = rt.analyse_sparsity(model, "320")
    frame, consts, xt = _frame(model, scene)
    x0 = xt.at[:15].multiply(0.8).at[12:15].add(jnp.array([1.0, -1.0, 3.0])).at[15:].multiply(0.3)
    solve = jax.jit(lambda x0, s: rt.solve_frame(x0, frame, consts, st, 10, linear_solver=s), static_argnums=1)
    a, b = solve(x0, "cholesky"), solve(x0, "gauss_jordan")
    np.testing.assert_allclose(float(a.cost), float(b.cost), rtol=1e-3)
    proj = lambda x: rt._project(rt._points(x, consts, st), consts.focal, consts.principal_point)
    np.testing.assert_allclose(np.asarray(proj(a.x)), np.asarray(proj(b.x)), atol=0.05)


def test_reused_jtj_solves_a_linear_problem_and_stops_where_lm_stops(model, scene):
    # Linear least squares: J^T J is constant, so each step against the damped factor shrinks the
    # error by damping / (1 + damping) per unit of curvature: 1e-3 each, ~1e-9 after three steps.
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=12).astype(np.float32)
    res = lambda x: jnp.asarray(a) @ x - jnp.asarray(b)
    normal = lm.dense_normal_equations(res)
    grad = lambda x: normal(x)[1:]
    s = jax.jit(lambda x0: lm.lm_run_reused_jtj(normal, grad, x0, 3))(jnp.zeros(5))
    ref = np.linalg.lstsq(a.astype(np.float64), b.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(np.asarray(s.x), ref, atol=1e-4)
    assert int(s.accepted) >= 1 and int(s.iteration) == 3
    # A tracked frame (warm start: the answer's pose and expression slightly off): the gradient is
    # fresh at every step, so the fixed point is LM's (J^T r = 0), only reached along another path.
    st = rt.analyse_sparsity(model, "320")
    frame, consts, xt = _frame(model, scene)
    x0 = xt + 0.01 * jax.random.normal(jax.random.key(2), xt.shape)
    solve = jax.jit(lambda x0, h: rt.solve_frame(x0, frame, consts, st, 12, hessian=h), static_argnums=1)
    once, every = solve(x0, "lazy"), solve(x0, "every")
    assert float(once.cost) < 0.5 * float(rt.cost(x0, frame, consts, st))
    np.testing.assert_allclose(float(once.cost), float(every.cost), rtol=1e-3)
    proj = lambda x: rt._project(rt._points(x, consts, st), consts.focal, consts.principal_point)
    np.testing.assert_allclose(np.asarray(proj(once.x)), np.asarray(proj(every.x)), atol=0.05)
    with pytest.raises(ValueError, match="hessian"):
        rt.solve_frame(x0, frame, consts, st, 1, hessian="never")


def test_exported_solver_equals_jit(model, scene):
    st = rt.analyse_sparsity(model, "320")
    frame, consts, xt = _frame(model, scene)
    x0 = xt.at[15:].multiply(0.5)
    blob = rt.export_solver(st, num_iters=5)
    loaded = rt.load_exported_solver(blob)
    a = loaded(x0, frame, consts)
    b = rt.make_solver(st, 5)(x0, frame, consts)
    np.testing.assert_allclose(np.asarray(a.x), np.asarray(b.x), rtol=1e-5, atol=1e-5)
    assert int(a.accepted) == int(b.accepted)


def test_cached_export_is_written_once_and_reloaded(model, scene, tmp_path, monkeypatch):
    st = rt.analyse_sparsity(model, "320")
    frame, consts, xt = _frame(model, scene)
    solver, path = rt.cached_exported_solver(st, 5, cache_dir=tmp_path)
    mtime = os.path.getmtime(path)
    solver2, path2 = rt.cached_exported_solver(st, 5, cache_dir=tmp_path)
    assert path2 == path and os.path.getmtime(path) == mtime  # loaded, not exported again
    x0 = xt.at[15:].multiply(0.5)
    np.testing.assert_allclose(np.asarray(solver2(x0, frame, consts).x),
                               np.asarray(rt.make_solver(st, 5)(x0, frame, consts).x), atol=1e-5)
    with open(path, "wb") as f:
        f.write(b"garbage")
    solver3, _ = rt.cached_exported_solver(st, 5, cache_dir=tmp_path)  # a corrupt cache is replaced
    assert os.path.getsize(path) > 1000
    # An edit to the fitting code names another artifact (a stale one is never called).
    before = rt.structure_hash(st, 5)
    monkeypatch.setattr(offline, "_source_digest", lambda: "edited")
    assert rt.structure_hash(st, 5) != before


def test_offline_fit_exact_landmarks_calibrated(model, scene):
    """Exact 703 landmarks and a known camera: the posed mesh is recovered to < 0.1 mm."""
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "703"))
    obs = en.Observations(mu[None, None], jnp.full((1, 1, 703), 0.05), jnp.ones((1, 1, 703)))
    cams = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None], scene.camera)
    r = dlm.fit(model, obs, (S, S), cameras=cams, config=offline.FitConfig(mode="calibrated", use_intersect=False))
    p = jax.tree_util.tree_map(lambda a: a[0], r.params)
    err_mm = 10 * np.linalg.norm(np.asarray(fm.vertices(model, p)) - np.asarray(fm.vertices(model, scene.params)), axis=1)
    assert np.median(err_mm) < 0.1, np.median(err_mm)
    assert set(r.energy) == {"landmarks", "identity", "expression", "joints", "temporal", "intersect",
                             "expression_bounds"}


def test_offline_fit_monocular_cold_start(model, scene):
    """From a cold start with unknown focal: 2D fit to a fraction of a pixel, focal within 10%."""
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "703"))
    mu = mu + 1.0 * jax.random.normal(jax.random.key(0), mu.shape)
    obs = en.Observations(mu[None, None], jnp.ones((1, 1, 703)), jnp.ones((1, 1, 703)))
    r = dlm.fit(model, obs, (S, S), config=offline.FitConfig(use_intersect=False))
    clean = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "703"))
    px_err = np.linalg.norm(np.asarray(r.landmarks_2d[0, 0]) - np.asarray(clean), axis=1)
    assert np.median(px_err) < 0.5, np.median(px_err)
    assert abs(float(r.cameras.focal[0]) / float(scene.camera.focal) - 1) < 0.1


def test_offline_fit_in_chunks_is_the_same_solve(model, scene):
    """full_chunk (the tracker's refit: compiled calls of a few iterations, so a frame's program
    waits behind one chunk, not the solve): the same L-BFGS iterations as one compiled run, to
    float32 round-off; the iteration cap and the tolerance stop it at the same iteration."""
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "320"))
    mu = mu + 0.5 * jax.random.normal(jax.random.key(3), mu.shape)
    obs = en.Observations(mu[None, None], jnp.ones((1, 1, 320)), jnp.ones((1, 1, 320)))
    p = scene.params
    init = en.FitVars(jnp.zeros(model.num_identity), jnp.zeros((1, model.num_expression)),
                      jnp.asarray(p.joint_rotations)[None], jnp.asarray(p.translation)[None] + 0.5,
                      jnp.zeros((1, 3)), jnp.zeros((1, 3)), jnp.log(jnp.full((1, 1), 1.1 * scene.camera.focal / S)))
    for iters, tol in ((23, 1e-9), (400, 0.1)):     # stopped by the cap; by the tolerance
        cfg = offline.FitConfig(landmark_set="320", use_intersect=False, full_iters=iters, tol=tol)
        one = dlm.fit(model, obs, (S, S), config=cfg, init=init)
        chunked = dlm.fit(model, obs, (S, S), config=dataclasses.replace(cfg, full_chunk=5), init=init)
        assert chunked.iterations == one.iterations and (one.iterations == 23 if iters == 23 else one.iterations < 400)
        np.testing.assert_allclose(np.asarray(chunked.landmarks_2d), np.asarray(one.landmarks_2d), atol=1e-2)
        np.testing.assert_allclose(np.asarray(chunked.vars.identity), np.asarray(one.vars.identity), atol=1e-3)


def test_offline_solve_kept_exported_is_the_jitted_solve(model, scene, tmp_path, monkeypatch):
    """With the compilation cache on, the offline solve is exported once into its folder and
    called from there (a fresh process skips tracing jaxopt's L-BFGS): the same program as the
    jitted solve, so the same iterations and the same result; one artifact for both stages; a
    file that does not load is exported again; the chunked solve's two programs kept alike; an
    edit to the fitting code names another file."""
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "320"))
    mu = mu + 0.5 * jax.random.normal(jax.random.key(3), mu.shape)
    obs = en.Observations(mu[None, None], jnp.ones((1, 1, 320)), jnp.ones((1, 1, 320)))
    cfg = offline.FitConfig(landmark_set="320", use_intersect=False, rigid_iters=15, full_iters=30,
                            yaw_starts_deg=(0.0, 30.0))
    monkeypatch.setattr(offline, "_KEPT", {})
    monkeypatch.setattr(offline, "_export_folder", lambda: None)
    jitted = dlm.fit(model, obs, (S, S), config=cfg)
    monkeypatch.setattr(offline, "_export_folder", lambda: str(tmp_path))
    exported = dlm.fit(model, obs, (S, S), config=cfg)
    files = list(tmp_path.glob("offline-solve-*.jaxexport"))
    assert len(files) == 1   # the rigid starts and the full stage share one program
    assert exported.iterations == jitted.iterations
    np.testing.assert_allclose(np.asarray(exported.landmarks_2d), np.asarray(jitted.landmarks_2d), atol=1e-3)
    np.testing.assert_allclose(np.asarray(exported.vars.identity), np.asarray(jitted.vars.identity), atol=1e-4)

    files[0].write_bytes(b"garbage")
    offline._KEPT.clear()   # as a new process: read from the folder
    again = dlm.fit(model, obs, (S, S), config=cfg)
    assert files[0].stat().st_size > 1000   # replaced by a good export
    assert again.iterations == exported.iterations
    np.testing.assert_array_equal(np.asarray(again.landmarks_2d), np.asarray(exported.landmarks_2d))

    # A folder it cannot write (under a file: refused even to root): the fit still runs the
    # exported program.
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr(offline, "_export_folder", lambda: str(tmp_path / "a_file" / "cache"))
    unwritten = dlm.fit(model, obs, (S, S), config=cfg)
    assert unwritten.iterations == exported.iterations
    np.testing.assert_array_equal(np.asarray(unwritten.landmarks_2d), np.asarray(exported.landmarks_2d))
    monkeypatch.setattr(offline, "_export_folder", lambda: str(tmp_path))

    # The tracker's refit (full_chunk): its two programs kept too, the same iterations as jitted.
    chunked = dataclasses.replace(cfg, full_chunk=7)
    init = exported.vars._replace(identity=jnp.zeros_like(exported.vars.identity))
    kept = dlm.fit(model, obs, (S, S), config=chunked, init=init)
    assert {f.name.split("-")[1] for f in tmp_path.glob("offline-*.jaxexport")} == {"solve", "chunk"}
    assert len(list(tmp_path.glob("offline-chunk-*.jaxexport"))) == 2   # its start and its chunk
    monkeypatch.setattr(offline, "_export_folder", lambda: None)
    jit_chunked = dlm.fit(model, obs, (S, S), config=chunked, init=init)
    assert kept.iterations == jit_chunked.iterations
    np.testing.assert_allclose(np.asarray(kept.landmarks_2d), np.asarray(jit_chunked.landmarks_2d), atol=1e-3)

    monkeypatch.setattr(offline, "_export_folder", lambda: str(tmp_path))
    monkeypatch.setattr(offline, "_source_digest", lambda: "edited")
    dlm.fit(model, obs, (S, S), config=dataclasses.replace(cfg, rigid_iters=1, full_iters=1))
    assert len(list(tmp_path.glob("offline-solve-*.jaxexport"))) == 2


def test_offline_fit_rejects_bad_shapes(model):
    obs = en.Observations(jnp.zeros((1, 1, 10, 2)), jnp.ones((1, 1, 10)), jnp.ones((1, 1, 10)))
    with pytest.raises(ValueError, match="landmarks but set"):
        dlm.fit(model, obs, (S, S))
    obs = en.Observations(jnp.zeros((1, 2, 703, 2)), jnp.ones((1, 2, 703)), jnp.ones((1, 2, 703)))
    with pytest.raises(ValueError, match="one camera"):
        dlm.fit(model, obs, (S, S))
    with pytest.raises(ValueError, match="needs cameras"):
        dlm.fit(model, obs, (S, S), config=offline.FitConfig(mode="calibrated"))


def test_implicit_gradient_matches_finite_differences(model, scene):
    """d(validation error)/d(energy weight) and d/d(landmarks) through the converged offline fit.

    Well-conditioned on purpose: 703 landmarks determine the identity, so L-BFGS converges to where
    the validation error is a smooth function of the weight (central differences at eps and 2 eps
    agree to ~2%).  With 68 landmarks the solve stopped short along weakly determined identity
    directions and the finite differences measured the solver's stopping noise (non-monotone
    values; 0.0155 against an implicit 0.0115 on one CPU type)."""
    cams = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None], scene.camera)
    problem = offline.make_problem(model, (S, S), landmark_set="703", use_intersect=False, cameras=cams)
    mu = fm.project_points(scene.camera, fm.landmark_vertices(model, scene.params, "703"))
    mu = mu + 1.5 * jax.random.normal(jax.random.key(4), mu.shape)
    obs = en.Observations(mu[None, None], jnp.full((1, 1, 703), 1.5), jnp.ones((1, 1, 703)))
    p = scene.params
    vars0 = en.FitVars(jnp.zeros(100), jnp.zeros((1, 55)), p.joint_rotations[None], p.translation[None],
                       cams.rotation, cams.translation, jnp.log(cams.focal / S)[None])
    gt = np.asarray(fm.bind_pose(model, p.identity, jnp.zeros(55)))[::97]

    def val_error(w_identity, mu):
        w = en.EnergyWeights(*(jnp.asarray(v, jnp.float32) for v in en.EnergyWeights()))._replace(
            identity=w_identity, intersect=jnp.zeros(()))
        sol = offline.solve_differentiable(vars0, obs._replace(mu=mu), w, problem, mode="calibrated",
                                           maxiter=3000, tol=1e-6)
        pred = fm.bind_pose(model, sol.identity, jnp.zeros(55))[::97]
        return jnp.mean((pred - gt) ** 2)

    # One compiled program serves the gradient and the finite differences' values (compiling the
    # forward pass, its linearisation and its transpose apart cost three compiles, 65 s cold).
    value_and_grad = jax.jit(jax.value_and_grad(val_error, argnums=(0, 1)))

    def value(w, mu):
        return float(value_and_grad(w, mu)[0])

    w0 = jnp.asarray(1.0)
    _, (g_w, g_mu) = value_and_grad(w0, obs.mu)
    eps = 0.05
    fd_w = (value(w0 + eps, obs.mu) - value(w0 - eps, obs.mu)) / (2 * eps)
    # Central differences are accurate to O(eps^2) (1.7% between eps 0.05 and 0.1 here): 5%.
    assert np.isfinite(float(g_w)) and abs(float(g_w) - fd_w) <= 0.05 * abs(fd_w) + 1e-5, (float(g_w), fd_w)
    d = jax.random.normal(jax.random.key(5), obs.mu.shape)
    eps_mu = 0.5
    fd_mu = (value(w0, obs.mu + eps_mu * d) - value(w0, obs.mu - eps_mu * d)) / (2 * eps_mu)
    an_mu = float(jnp.vdot(g_mu, d))
    assert abs(an_mu - fd_mu) <= 0.15 * abs(fd_mu) + 1e-4, (an_mu, fd_mu)


def test_uncalibrated_multiview_recovers_cameras(model, scene):
    """Unknown cameras from a cold start: per-view fits give the initial extrinsics, the joint fit refines."""
    cams = scenes.arc_cameras(model, scene, 3, 35.0)
    lm3 = fm.landmark_vertices(model, scene.params, "703")
    mus = jnp.stack([fm.project_points(jax.tree_util.tree_map(lambda a: a[c], cams), lm3) for c in range(3)])
    mus = mus + 0.5 * jax.random.normal(jax.random.key(9), mus.shape)
    obs = en.Observations(mus[None], jnp.full((1, 3, 703), 0.5), jnp.ones((1, 3, 703)))
    r = dlm.fit(model, obs, (S, S), config=offline.FitConfig(mode="uncalibrated", use_intersect=False))
    # Relative rotation camera 0 -> camera c is the gauge-free quantity.
    from dlm.core import geometry
    R = lambda v: np.asarray(geometry.axis_angle_to_matrix(jnp.asarray(v)))
    for c in (1, 2):
        want = R(cams.rotation[c]) @ R(cams.rotation[0]).T
        got = R(r.cameras.rotation[c]) @ R(r.cameras.rotation[0]).T
        angle = np.degrees(np.arccos(np.clip((np.trace(want.T @ got) - 1) / 2, -1, 1)))
        assert angle < 1.0, (c, angle)
    px = np.linalg.norm(np.asarray(r.landmarks_2d[0]) - np.asarray(mus), axis=-1)
    assert np.median(px) < 0.7


def test_realtime_fitter_tracks_a_sequence(model):
    seq = scenes.synthetic_sequence(model, jax.random.key(11), 40, S)[:8]  # ~1 degree per frame
    tracker = dlm.RealtimeFitter(model, (S, S))
    errs = []
    for f, sc in enumerate(seq):
        clean = fm.project_points(sc.camera, fm.landmark_vertices(model, sc.params, "320"))
        res = tracker.step(clean + 0.5 * jax.random.normal(jax.random.key(f), clean.shape), np.ones(320))
        assert res.reinitialised == (f == 0)
        errs.append(np.median(np.linalg.norm(res.landmarks_2d - np.asarray(clean), axis=1)))
        jaw = model.expression_names.index("jawOpen")
        assert abs(float(res.params.expression[jaw]) - float(sc.params.expression[jaw])) < 0.1
    # 0.5 px noise; the temporal term trades a little lag (about 10% of the motion per frame at the
    # default weight) for less jitter, hence more than the ~0.25 px of a single-frame fit.
    assert max(errs) < 0.8, errs
    with pytest.raises(ValueError, match="expected mu"):
        tracker.step(np.zeros((68, 2)), np.ones(68))


def test_lost_track_keeps_identity_and_restarts_from_the_pose(model):
    """After lose(), the next frame keeps the track's identity and focal and finds pose and
    expression from its landmarks alone (no offline fitter): it fits them as well as a warm frame
    does (same 0.8 px bound at 0.5 px noise); landmarks that identity cannot explain (shuffled)
    fall back to the offline cold start."""
    seq = scenes.synthetic_sequence(model, jax.random.key(13), 40, S)[:30:6]  # ~6 degrees apart
    fitter = dlm.RealtimeFitter(model, (S, S), refit_every=0)
    clean = [fm.project_points(sc.camera, fm.landmark_vertices(model, sc.params, "320")) for sc in seq]
    noisy = [c + 0.5 * jax.random.normal(jax.random.key(f), c.shape) for f, c in enumerate(clean)]
    fitter.step(noisy[0], np.ones(320))
    identity, focal = np.asarray(fitter.identity), fitter.focal
    for f in (1, 2, 3):
        fitter.lose()
        assert fitter.x is None and fitter.keyframes == ()
        res = fitter.step(noisy[f], np.ones(320))
        assert res.start == "pose" and res.reinitialised
        np.testing.assert_array_equal(np.asarray(res.params.identity), identity)
        assert fitter.focal == focal
        err = np.median(np.linalg.norm(res.landmarks_2d - np.asarray(clean[f]), axis=1))
        assert err < 0.8, (f, err)
    assert fitter.step(noisy[4], np.ones(320)).start == "warm"
    fitter.lose()
    shuffled = np.asarray(noisy[4])[np.random.default_rng(0).permutation(320)]
    assert fitter.step(shuffled, np.ones(320)).start == "cold"


def test_pose_guess_puts_the_face_where_its_landmarks_are(model):
    """The pose start's first guess: the identity's landmarks, unposed, land with the 2D
    landmarks' centroid and spread (the depth solves the spread to first order: within 10%)."""
    sc = scenes.synthetic_sequence(model, jax.random.key(14), 2, S)[0]
    mu = fm.project_points(sc.camera, fm.landmark_vertices(model, sc.params, "320"))
    st = rt.analyse_sparsity(model, "320")
    consts = rt.make_constants(model, sc.params.identity, "320", sc.camera.focal, jnp.asarray([S / 2, S / 2]),
                               rt.RealtimeWeights())
    x = rt.pose_guess(mu, jnp.ones(320), consts, st.num_expression, 0.0)
    px = np.asarray(rt._project(rt._points(x, consts, st), consts.focal, consts.principal_point))
    mu = np.asarray(mu)
    assert np.linalg.norm(px.mean(0) - mu.mean(0)) < 0.1 * mu.std(0).mean() + 1e-3
    assert abs(px.std(0).mean() / mu.std(0).mean() - 1) < 0.1
    # From there pose_start (here with a plain LMState solver, as the exported path has) fits the
    # exact landmarks to well under a pixel.
    x, c = rt.pose_start(rt.make_solver(st, 4), jnp.asarray(mu), jnp.ones(320), jnp.ones(320), consts,
                         st.num_expression)
    px = np.asarray(rt._project(rt._points(x, consts, st), consts.focal, consts.principal_point))
    assert np.median(np.linalg.norm(px - mu, axis=1)) < 0.3 and np.isfinite(float(c))


def test_tracking_core_advances_loses_and_keeps_keyframes():
    """The pure core: a tracked frame keeps its solution and joins the newest keyframes; a frame
    whose landmark energy is over the threshold per unit of weight, or whose cost is not finite,
    loses the track (no solution, keyframes kept, the projections still the temporal target);
    refits fall due every refit_every frames once the keyframes are full."""
    st = rt.TrackState()
    mu, sigma, w = jnp.zeros((3, 2)), jnp.ones(3), jnp.ones(3)
    for f in range(1, 5):
        x = jnp.full(4, float(f))
        st, lost = rt.advance(st, mu, sigma, w, x, mu + f, 1.0, 25.0 * 3 - 1, 3.0, 25.0, num_keyframes=3)
        assert not lost and st.frame_index == f and st.x is x
        # Due once the keyframes are full (f = 3), then every refit_every frames (f = 2: only 2 kept).
        assert rt.refit_due(st, refit_every=2, num_keyframes=3) == (f in (3, 4))
    assert [float(k[3][0]) for k in st.keyframes] == [2.0, 3.0, 4.0]
    lost_st, lost = rt.advance(st, mu, sigma, w, jnp.zeros(4), mu + 9, 1.0, 25.0 * 3 + 1, 3.0, 25.0, 3)
    assert lost and lost_st.x is None and lost_st.keyframes == st.keyframes and float(lost_st.prev_2d[0, 0]) == 9
    assert rt.advance(st, mu, sigma, w, jnp.zeros(4), mu, float("nan"), 0.0, 3.0, 25.0, 3)[1]
    plain, _ = rt.advance(rt.TrackState(), mu, sigma, w, jnp.zeros(4), mu, 1.0, 0.0, 3.0, 25.0, 3,
                          keep_keyframes=False)
    assert plain.keyframes == () and not rt.refit_due(plain, refit_every=0, num_keyframes=3)


def test_packed_host_outputs_come_back_exactly():
    """A tracked frame's host reads travel as one float32 vector (`pack_float32`): unpacked on the
    host they are the tree fetched leaf by leaf, bit for bit (a concatenation and slices, no
    arithmetic); another dtype is refused rather than converted; a vector of the wrong length too."""
    rng = np.random.default_rng(0)
    tree = ((jnp.asarray(rng.normal(size=(5, 2)), jnp.float32), jnp.asarray(rng.normal(size=5), jnp.float32),
             jnp.asarray(-2.5, jnp.float32)),
            (jnp.asarray(3.0, jnp.float32),
             {"landmarks": jnp.asarray(np.float32(1e-30)), "temporal": jnp.asarray(np.inf, jnp.float32)}))
    flat = jax.jit(rt.pack_float32)(tree)
    assert flat.shape == (5 * 2 + 5 + 1 + 1 + 2,)
    got, want = rt.unpack_float32(np.asarray(flat), tree), jax.device_get(tree)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert g.shape == np.shape(w) and g.dtype == np.float32 and (g == w).all()
    with pytest.raises(TypeError, match="float32"):
        rt.pack_float32((jnp.zeros(2, jnp.float32), jnp.zeros(2, jnp.int32)))
    with pytest.raises(ValueError, match="values for a tree"):
        rt.unpack_float32(np.zeros(3, np.float32), (jnp.zeros(2),))


def test_refit_schedule_doubles_its_interval_up_to_the_cap():
    """refit_max_every: refits at doubling intervals from refit_every up to the cap, then every cap
    frames (hand-listed); without it every refit_every frames; never before the keyframes are full."""
    st = rt.TrackState(keyframes=(None,) * 8)
    due = lambda *a: [i for i in range(1, 1500) if rt.refit_due(st._replace(frame_index=i), *a)]  # noqa: E731
    assert due(30, 8, 240) == [8, 30, 60, 120, 240, 480, 720, 960, 1200, 1440]
    assert due(30, 8, 100)[:8] == [8, 30, 60, 120, 220, 320, 420, 520]
    assert due(30, 8) == due(30, 8, 30) == [8] + list(range(30, 1500, 30))
    assert not rt.refit_due(rt.TrackState(keyframes=(None,) * 7, frame_index=30), 30, 8, 240)


def test_realtime_identity_refit_in_a_thread_equals_the_inline_one(model):
    """The identity refit runs in a worker thread (no stall in the frame loop); once applied it
    is the refit the inline path computes from the same keyframes."""
    seq = scenes.synthetic_sequence(model, jax.random.key(12), 40, S)[:5]
    obs = []
    for f, sc in enumerate(seq):
        clean = fm.project_points(sc.camera, fm.landmark_vertices(model, sc.params, "320"))
        obs.append(np.asarray(clean + 0.5 * jax.random.normal(jax.random.key(f), clean.shape)))
    fitters = {a: dlm.RealtimeFitter(model, (S, S), refit_every=4, num_keyframes=4, async_refit=a)
               for a in (True, False)}
    for a, fitter in fitters.items():
        for m in obs[:4]:
            fitter.step(m, np.ones(320))
    before = np.asarray(fitters[True].identity)
    assert fitters[True]._pending is not None          # started at frame 4, not applied inline
    fitters[True].wait_for_refit()
    assert fitters[True]._pending is None
    np.testing.assert_allclose(fitters[True].identity, fitters[False].identity, atol=1e-4)
    assert not np.allclose(before, fitters[True].identity)
    assert fitters[True].focal == pytest.approx(fitters[False].focal, rel=1e-4)
    # A reset drops a refit of the old track.
    fitters[True].step(obs[4], np.ones(320))
    fitters[True].reset()
    assert fitters[True].identity is None and fitters[True]._pending is None
