"""Rendering a face: region classes at landmarks, visibility from the depth buffer."""
import jax
import jax.numpy as jnp
import numpy as np

import dlm
from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.synth import shading as rs

S = 192


def _render(model, params):
    cam0 = dlm.Camera(jnp.zeros(3), jnp.zeros(3), jnp.asarray(1000.0), jnp.array([S / 2.0, S / 2.0]))
    cam = rs.head_crop_camera(model, params, cam0, S, fill=0.7)
    faces = jnp.asarray(rs.opaque_faces(model))
    regions = jnp.asarray(rs.vertex_regions(model))
    albedo = jnp.full((model.num_vertices, 3), 0.7)
    light = jnp.zeros((9, 3)).at[0].set(2.0).at[2].set(1.0)
    r = rs.render(fm.vertices(model, params), faces, cam, S, albedo, regions, light,
                  cull=jnp.asarray(rs.facing_signs(faces)))
    lm = fm.landmark_vertices(model, params, "703")
    pc = geometry.world_to_camera(lm, cam.rotation, cam.translation)
    px = geometry.project(pc, cam.focal, cam.principal_point)
    lm_regions = regions[model.landmarks["703"]]
    vis_depth = rs.landmark_visibility(r.fragments, px, -pc[:, 2], tolerance=0.1)
    vis = rs.landmark_visibility(r.fragments, px, -pc[:, 2], pixel_regions=r.regions, landmark_regions=lm_regions)
    return r, np.asarray(px), np.asarray(vis_depth), np.asarray(vis)


def test_landmark_pixels_have_their_region_and_hidden_ones_are_invisible(model):
    params = dlm.FaceParams.zeros(model).replace(
        expression=dlm.expression_vector(model, {"jawOpen": 0.3, "mouthUpperUp_L": 1.0, "mouthUpperUp_R": 1.0,
                                                 "mouthLowerDown_L": 1.0, "mouthLowerDown_R": 1.0}),
        translation=jnp.array([0.0, 0.0, -70.0]))
    r, px, vis_depth, vis = _render(model, params)
    assert int(r.fragments.overflow) == 0
    regions = np.asarray(r.regions)
    names = model.landmark_regions["703"]
    # Depth-only visibility (no region test): eye landmarks must land on the eye.
    expect = {"iris": {"iris", "sclera"}, "pupil": {"iris"}}
    checked = 0
    for i, name in enumerate(names):
        if name in expect and vis_depth[i]:
            # The landmark's own pixel, or a neighbour (a vertex can sit on a region boundary).
            x, y = int(px[i, 0]), int(px[i, 1])
            patch = {rs.REGION_NAMES[c] for c in regions[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].ravel()}
            assert patch & expect[name], (i, name, patch)
            checked += 1
    assert checked >= 16
    # Lips drawn back from the teeth: the front teeth are seen (region-gated visibility).  With
    # jawOpen alone ICT's lips still cover them, and depth-only visibility then wrongly passes
    # teeth just behind the mouth surface, which is why visibility also checks the region.
    teeth = [i for i, n in enumerate(names) if n.startswith("teeth")]
    assert vis[teeth].sum() >= 8, vis[teeth].sum()
    # Frontal view: the back of the head is hidden, the face is seen.
    head = [i for i, n in enumerate(names) if n == "head"]
    t = np.asarray(model.template)[np.asarray(model.landmarks["703"])]
    back = [i for i in head if t[i, 2] < -5.0]
    assert back and not vis[back].any()
    face = [i for i, n in enumerate(names) if n == "face" and t[i, 2] > 8.0]
    assert vis[face].mean() >= 0.85, vis[face].mean()


def test_cornea_is_removed_so_the_iris_shows(model):
    params = dlm.FaceParams.zeros(model).replace(translation=jnp.array([0.0, 0.0, -70.0]))
    r, px, _, _ = _render(model, params)
    pupil = [i for i, n in enumerate(model.landmark_regions["703"]) if n == "pupil"]
    regions = np.asarray(r.regions)
    at = [rs.REGION_NAMES[regions[int(px[i, 1]), int(px[i, 0])]] for i in pupil]
    assert at.count("iris") >= len(pupil) - 1, at


def test_back_face_culling_changes_no_pixel(model):
    from dlm.synth import scenes
    from dlm.synth import raster
    faces = jnp.asarray(rs.opaque_faces(model))
    cull = jnp.asarray(rs.facing_signs(faces))
    exact = ((16, 0), (64, 1024))
    for seed in range(4):
        sc = scenes.sample_scene(jax.random.key(seed), model, 128)
        cam = rs.head_crop_camera(model, sc.params, sc.camera, 128, fill=0.8)
        c = geometry.world_to_camera(fm.vertices(model, sc.params), cam.rotation, cam.translation)
        px = geometry.project(c, cam.focal, cam.principal_point)
        full = raster.rasterize(px, -c[:, 2], faces, 128, 128, exact)
        culled = raster.rasterize(px, -c[:, 2], faces, 128, 128, exact, cull)
        fast = raster.rasterize(px, -c[:, 2], faces, 128, 128, cull=cull)  # default window cascade
        assert int(full.overflow) == int(culled.overflow) == int(fast.overflow) == 0
        # Equal but for the odd silhouette pixel where a grazing back face ties a front face.
        assert (np.asarray(full.triangle) != np.asarray(culled.triangle)).mean() < 5e-4
        np.testing.assert_array_equal(np.asarray(culled.triangle), np.asarray(fast.triangle))
