"""Figures of the face model for docs/: landmark sets, skeleton and skinning weights.

Reproduce: python experiments/figures_model.py  (CPU, a few seconds; writes docs/*.png)
"""
from __future__ import annotations

import os
import sys

import cv2
import jax.numpy as jnp
import numpy as np

import dlm
from dlm.core import facemodel as fm
from dlm.core import geometry
from dlm.product import viz

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")
REGION_COLORS = {  # BGR
    "face": (60, 60, 220), "jaw": (0, 0, 255), "brow": (0, 140, 255), "nose": (0, 200, 255), "eye": (255, 0, 255),
    "lips": (255, 0, 128), "eyelid": (255, 0, 255), "lips_inner": (200, 0, 120), "iris": (255, 160, 0),
    "pupil": (0, 0, 0), "teeth_upper": (0, 160, 0), "teeth_lower": (0, 100, 0), "ear": (180, 0, 180),
    "head": (160, 90, 0), "neck": (0, 120, 160),
}
PART_COLORS = np.array([[205, 205, 205], [185, 200, 185], [110, 110, 200], [120, 100, 100], [120, 100, 100],
                        [150, 150, 235], [245, 245, 245], [235, 235, 235], [235, 235, 235]], float)


def view(model, verts, yaw, size=(600, 700), distance=80.0, focal=1500.0, pitch=0.0, weights_rgb=None):
    rot = np.asarray(geometry.axis_angle_to_matrix(jnp.array([pitch, yaw, 0.0])))
    cam = (verts - np.array([0, 0.5, 0])) @ rot.T + np.array([0.0, 0.0, -distance])
    faces = np.asarray(model.faces)
    if weights_rgb is None:
        colors = PART_COLORS[np.asarray(model.vertex_part)[faces[:, 0]]]
    else:
        colors = weights_rgb[faces].mean(1)
    img, px = viz.render_model_view(cam, faces, focal, size, colors)
    return img, px, cam



def landmark_figure(model, name):
    params = dlm.FaceParams.zeros(model)
    verts = np.asarray(dlm.vertices(model, params))
    idx = np.asarray(model.landmarks[name])
    regions = model.landmark_regions[name]
    panels = []
    for yaw in (0.0, np.pi / 2.4):
        img, px, cam = view(model, verts, yaw)
        # Draw only landmarks on surfaces facing the camera: normal from neighbouring faces.
        normals = vertex_normals(cam, np.asarray(model.faces))
        facing = (normals[idx] * -cam[idx] / np.linalg.norm(cam[idx], axis=1, keepdims=True)).sum(1) > -0.2
        cols = np.array([REGION_COLORS.get(r, (0, 0, 255)) for r in regions], float)
        img = viz.draw_points(img, px[idx][facing], cols[facing], radius=3 if name == "68" else 2)
        panels.append(img)
    out = np.concatenate(panels, 1)
    cv2.putText(out, f"landmark set {name}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 2, cv2.LINE_AA)
    return out


def vertex_normals(points, faces):
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    vn = np.zeros_like(points)
    for k in range(3):
        np.add.at(vn, faces[:, k], fn)
    return vn / (np.linalg.norm(vn, axis=1, keepdims=True) + 1e-12)


def skeleton_figure(model):
    params = dlm.FaceParams.zeros(model)
    verts = np.asarray(dlm.vertices(model, params))
    w = np.asarray(model.skinning_weights)
    # Red = neck, green = head, blue = eyes.
    rgb = 40 + 215 * np.stack([w[:, 2] + w[:, 3], w[:, 1], w[:, 0]], 1)
    panels = []
    joints = np.asarray(fm.posed_joints(model, params))
    for yaw in (0.0, np.pi / 2):
        img, px, cam = view(model, verts, yaw, weights_rgb=rgb)
        rot = np.asarray(geometry.axis_angle_to_matrix(jnp.array([0.0, yaw, 0.0])))
        jc = (joints - np.array([0, 0.5, 0])) @ rot.T + np.array([0, 0, -80.0])
        jpx = np.stack([300 + 1500 * jc[:, 0] / -jc[:, 2], 350 - 1500 * jc[:, 1] / -jc[:, 2]], 1)
        for k, p in enumerate(model.joint_parents):
            if p >= 0:
                cv2.line(img, tuple(int(v) for v in jpx[p]), tuple(int(v) for v in jpx[k]), (0, 0, 0), 2, cv2.LINE_AA)
        img = viz.draw_points(img, jpx, (0, 255, 255), radius=6)
        panels.append(img)
    # A posed example: nod, turn, and gaze.
    posed = params.replace(joint_rotations=jnp.array([[0.25, 0, 0], [0.2, 0.6, 0.1], [0, 0.35, 0], [0, 0.35, 0]]))
    img, _, _ = view(model, np.asarray(dlm.vertices(model, posed)), 0.0)
    panels.append(img)
    out = np.concatenate(panels, 1)
    cv2.putText(out, "skinning weights (red neck, green head, blue eyes), joints; a posed head",
                (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    return out


def main():
    os.makedirs(DOCS, exist_ok=True)
    model = dlm.load_face_model()
    for name in ("703", "320", "68"):
        cv2.imwrite(os.path.join(DOCS, f"landmarks_{name}.png"), landmark_figure(model, name))
    cv2.imwrite(os.path.join(DOCS, "skeleton.png"), skeleton_figure(model))
    # README picture: random identities with expressions.
    import jax
    tiles = []
    for s, expr in enumerate([{}, {"jawOpen": 0.6, "eyeBlink_L": 1.0}, {"mouthSmile_L": 0.9, "mouthSmile_R": 0.9},
                              {"browInnerUp_L": 1, "browInnerUp_R": 1, "mouthFunnel": 0.7}]):
        p = dlm.FaceParams.zeros(model).replace(
            identity=jax.random.normal(jax.random.key(s), (model.num_identity,)),
            expression=fm.expression_vector(model, expr),
            joint_rotations=jnp.array([[0, 0, 0], [0, 0.35 * (s - 1.5), 0], [0, 0, 0], [0, 0, 0]]))
        img, _, _ = view(model, np.asarray(dlm.vertices(model, p)), 0.0, size=(400, 480), distance=85, focal=1000)
        tiles.append(img)
    cv2.imwrite(os.path.join(DOCS, "heads.png"), np.concatenate(tiles, 1))
    print("wrote figures to", os.path.abspath(DOCS))


if __name__ == "__main__":
    sys.exit(main())
