"""NoW-style 3D error: alignment, point-to-surface distance (against brute force), invariances."""
import numpy as np
import pytest

from dlm.eval import metrics3d


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _grid_mesh(n=12, bump=0.0):
    """A wavy height-field patch (n x n vertices, 2 (n-1)^2 triangles), cm."""
    u, v = np.meshgrid(np.linspace(-5, 5, n), np.linspace(-5, 5, n))
    z = 0.8 * np.sin(u / 2) * np.cos(v / 3) + bump * np.exp(-(u ** 2 + v ** 2) / 4)
    verts = np.stack([u, v, z], -1).reshape(-1, 3)
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return verts, faces


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(20, 3))
    r = _rotation(rng)
    dst = 1.7 * src @ r.T + [1.0, -2.0, 0.5]
    s, r2, t = metrics3d.similarity_transform(src, dst)
    assert s == pytest.approx(1.7) and np.allclose(r2, r) and np.allclose(t, [1.0, -2.0, 0.5])
    assert metrics3d.procrustes_distances(src, dst).max() < 1e-9
    # Without scale the residual cannot vanish.
    assert metrics3d.procrustes_distances(src, dst, scale=False).mean() > 0.1


def test_point_to_surface_matches_brute_force():
    verts, faces = _grid_mesh()
    rng = np.random.default_rng(1)
    pts = rng.uniform([-5, -5, -1.5], [5, 5, 1.5], size=(300, 3))
    d, q = metrics3d.point_to_surface(pts, verts, faces)
    a, b, c = (verts[faces[:, j]] for j in range(3))
    P = np.broadcast_to(pts[:, None], (len(pts), len(faces), 3))
    A, B, C = (np.broadcast_to(x[None], P.shape) for x in (a, b, c))
    brute = np.linalg.norm(np.asarray(metrics3d.closest_point_on_triangle(P, A, B, C)) - P, axis=-1).min(1)
    np.testing.assert_allclose(d, brute, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(q - pts, axis=1), d, atol=1e-5)
    # The closest point on one triangle: inside (plane projection), on an edge, at a corner.
    tri = [np.array([0.0, 0, 0]), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])]
    for p, want in (([0.2, 0.2, 1.0], [0.2, 0.2, 0]), ([0.5, -1.0, 0.0], [0.5, 0, 0]), ([-1.0, -1.0, 2.0], [0, 0, 0])):
        got = metrics3d.closest_point_on_triangle(np.array(p), *tri)
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_now_distances_invariant_to_similarity_and_sees_a_bump():
    verts, faces = _grid_mesh(16)
    rng = np.random.default_rng(2)
    lms = np.array([0, 15, 240, 255, 120, 60, 200])
    region = np.arange(len(verts))
    moved = 0.8 * verts @ _rotation(rng).T + [3.0, 1.0, -2.0]
    d = metrics3d.now_distances(moved, verts, faces, region, lms)
    assert d.max() < 1e-4
    bumped, _ = _grid_mesh(16, bump=0.5)
    d = metrics3d.now_distances(moved, bumped, faces, region, lms)
    # The bump (0.5 cm high, about 2 cm wide) shows up at the centre, not at the borders.
    centre = np.linalg.norm(verts[:, :2], axis=1) < 1.0
    assert d[centre].mean() > 0.25 and np.median(d[~centre]) < 0.1


def test_point_to_surface_ignores_vertices_off_the_surface():
    """Vertices no triangle uses (an eyeball inside a face mesh) are not surface."""
    verts, faces = _grid_mesh()
    extra = np.array([[0.0, 0.0, 0.3], [0.1, 0.0, 0.3]])      # near the query, on no triangle
    d, _ = metrics3d.point_to_surface(np.array([[0.0, 0.0, 0.31]]), np.concatenate([verts, extra]), faces)
    d0, _ = metrics3d.point_to_surface(np.array([[0.0, 0.0, 0.31]]), verts, faces)
    assert np.isfinite(d).all() and d[0] == pytest.approx(d0[0])
