"""Rebuild dlm's compact face-model asset from a clone of ICT-VGL/ICT-FaceKit.

Usage:
    git clone https://github.com/ICT-VGL/ICT-FaceKit /tmp/ICT-FaceKit
    python third_party/ict_facekit/build_asset.py /tmp/ICT-FaceKit \
        -o third_party/ict_facekit/ict_face_light.npz

What it does (see README.md next to this file for the why):
  * keeps ICT geometries #0..#8 (face, head and neck, mouth socket, eye sockets,
    gums and tongue, teeth, eyeballs).  They are a prefix of ICT's vertex array
    (vertices 0..24590), so ICT's vertex numbering is unchanged;
  * drops lacrimal fluid, eye blend, eye occlusion and eyelash meshes (vertices
    24591..26718): they are transparent overlays for a game-engine shader;
  * triangulates ICT's quads (corner 0-1-2 and 0-2-3) and keeps per-corner UVs;
  * stores the 100 identity modes and 55 expression shapes (ICT's 53 ARKit
    shapes in ICT's order, then PupilDilate_L, PupilDilate_R) as deltas from the
    generic neutral mesh in float16, units unchanged (centimetres);
  * derives the skeleton (joint regressor) and the skinning weights, see
    ``skeleton_and_weights`` below.

The result is deterministic: the same clone gives a byte-identical file.
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

# dlm's own helpers (run with dlm installed: pip install -e .).
from dlm.io.files import write_npz_deterministic
from dlm.core.landmark_sets import boundary_loops

NUM_KEPT_VERTICES = 24591  # ICT geometries #0..#8
NUM_KEPT_POLYGONS = 24692
# ICT geometry table (README of ICT-FaceKit): name -> [first, last] vertex.
PARTS = [
    ("face", 0, 9408),
    ("head_neck", 9409, 11247),
    ("mouth_socket", 11248, 13293),
    ("eye_socket_left", 13294, 13677),
    ("eye_socket_right", 13678, 14061),
    ("gums_tongue", 14062, 17038),
    ("teeth", 17039, 21450),
    ("eyeball_left", 21451, 23020),
    ("eyeball_right", 23021, 24590),
]
SCLERA_LEFT = (21451, 22220)
IRIS_LEFT = (22221, 23020)
SCLERA_RIGHT = (23021, 23790)
IRIS_RIGHT = (23791, 24590)
JOINT_NAMES = ["neck", "head", "eye_left", "eye_right"]


def read_obj(path, with_topology=False):
    """Minimal OBJ reader: vertices, and optionally polygons with their UV indices."""
    verts, uvs, polys, poly_uvs, materials = [], [], [], [], []
    material = ""
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                verts.append(line.split()[1:4])
            elif not with_topology:
                continue
            elif line.startswith("vt "):
                uvs.append(line.split()[1:3])
            elif line.startswith("usemtl"):
                material = line.split()[1]
            elif line.startswith("f "):
                corners = [c.split("/") for c in line.split()[1:]]
                polys.append([int(c[0]) - 1 for c in corners])
                poly_uvs.append([int(c[1]) - 1 for c in corners])
                materials.append(material)
    verts = np.asarray(verts, np.float64)
    if not with_topology:
        return verts
    return verts, np.asarray(uvs, np.float64), polys, poly_uvs, materials


def triangulate(polys, poly_uvs):
    tris, tri_uvs, tri_poly = [], [], []
    for i, (p, t) in enumerate(zip(polys, poly_uvs)):
        for k in range(1, len(p) - 1):
            tris.append([p[0], p[k], p[k + 1]])
            tri_uvs.append([t[0], t[k], t[k + 1]])
            tri_poly.append(i)
    return np.asarray(tris, np.int32), np.asarray(tri_uvs, np.int32), np.asarray(tri_poly, np.int32)


def vertex_parts():
    part = np.zeros(NUM_KEPT_VERTICES, np.int8)
    for i, (_, a, b) in enumerate(PARTS):
        part[a:b + 1] = i
    return part


def sphere_centre(points):
    """Least-squares sphere fit: |p|^2 = 2 p.c + (r^2 - |c|^2)."""
    a = np.concatenate([2 * points, np.ones((len(points), 1))], axis=1)
    sol, *_ = np.linalg.lstsq(a, (points ** 2).sum(1), rcond=None)
    return sol[:3]


def antipodal_regressor(template, first, last):
    """Eyeball centre as an average of sclera vertices (a linear function of the mesh).

    Pairs each sclera vertex with the vertex nearest to its reflection through
    the fitted sphere centre and keeps pairs whose reflection error is small;
    the mean of such pairs is the centre for any sphere, and it stays a fixed
    linear combination of vertices, so J(beta) is linear in identity.
    """
    pts = template[first:last + 1]
    c = sphere_centre(pts)
    refl = 2 * c - pts
    d = np.linalg.norm(refl[:, None, :] - pts[None, :, :], axis=2)
    j = d.argmin(1)
    ok = d[np.arange(len(pts)), j] < 0.02  # cm
    w = np.zeros(len(template))
    np.add.at(w, first + np.arange(len(pts))[ok], 0.5)
    np.add.at(w, first + j[ok], 0.5)
    return w / w.sum()


def skeleton_and_weights(template, tris, part):
    """Joint regressor (4, V) and skinning weights (V, 4).

    neck: centre of the boundary loop at the base of the neck mesh.
    head: 0.7 x the midpoint of the two ears + 0.3 x the back of the neck at
      y = -6, i.e. below and behind the ear canals, near the atlanto-occipital
      joint about which the skull nods.
    eyes: eyeball centres (antipodal average of sclera vertices).
    Weights: eyeballs rigid to their eye joint; mouth socket, gums, tongue, teeth
    and eye sockets rigid to the head; skin blends from head (1) to neck (0) with
    a smoothstep over the band -15 < y + 0.5 z < -7.5 of the neck.
    """
    V = len(template)
    reg = np.zeros((4, V))
    loops = boundary_loops(tris)
    hn = (part == 1)
    # Base of the neck: the boundary loop of the head/neck mesh with the lowest mean height.
    neck_loops = [l for l in loops if hn[l].all() and len(l) > 20]
    base = min(neck_loops, key=lambda l: template[l, 1].mean())
    reg[0, base] = 1.0 / len(base)
    # Head pivot: 0.7 x (midpoint of the two ear clusters) + 0.3 x (midline of the back of
    # the neck at y = -6): below and behind the ear canals, near the atlanto-occipital joint.
    T = template
    ear = (part == 0) & (np.abs(T[:, 0]) > EAR_MIN_ABS_X) & (T[:, 1] < EAR_MAX_Y) & (T[:, 2] < EAR_MAX_Z)
    for side in (ear & (T[:, 0] > 0), ear & (T[:, 0] < 0)):
        reg[1, side] += 0.35 / side.sum()
    back = hn & (np.abs(T[:, 0]) < 0.6) & (np.abs(T[:, 1] - BACK_NECK_HEIGHT) < 0.6) & (T[:, 2] < 0)
    reg[1, back] += 0.3 / back.sum()
    reg[2] = antipodal_regressor(template, *SCLERA_LEFT)
    reg[3] = antipodal_regressor(template, *SCLERA_RIGHT)
    joints = reg @ template
    # Skinning weights.
    w = np.zeros((V, 4))
    # Blend coordinate slanted forward so the chin and jaw stay on the head while the
    # throat and the back of the neck bend.
    height = template[:, 1] + NECK_BLEND_SLANT * template[:, 2]
    t = np.clip((height - NECK_BLEND_BOTTOM) / (NECK_BLEND_TOP - NECK_BLEND_BOTTOM), 0.0, 1.0)
    s = t * t * (3 - 2 * t)
    w[:, 1] = s
    w[:, 0] = 1 - s
    for j, p in ((2, 7), (3, 8)):
        m = part == p
        w[m] = 0.0
        w[m, j] = 1.0
    # Face-interior geometry (mouth, teeth, eye sockets) follows the head rigidly.
    for p in (2, 3, 4, 5, 6):
        m = part == p
        w[m] = 0.0
        w[m, 1] = 1.0
    return reg, w, joints


# Positions in the template (cm; x left, y up, z forward), chosen by inspecting the
# neutral mesh: the ears are the face-mesh vertices beyond |x| = 7.5 below y = 6 and
# behind z = 3; the chin's underside is at y + 0.5 z = -7; the neck base at -16.7.
EAR_MIN_ABS_X, EAR_MAX_Y, EAR_MAX_Z = 7.5, 6.0, 3.0
BACK_NECK_HEIGHT = -6.0
NECK_BLEND_SLANT = 0.5
NECK_BLEND_TOP = -7.5
NECK_BLEND_BOTTOM = -15.0


def build(ict_dir):
    fx = os.path.join(ict_dir, "FaceXModel")
    with open(os.path.join(fx, "vertex_indices.json")) as f:
        config = json.load(f)
    expr_names = list(config["expressions"]) + ["PupilDilate_L", "PupilDilate_R"]
    verts, uvs, polys, poly_uvs, materials = read_obj(
        os.path.join(fx, "generic_neutral_mesh.obj"), with_topology=True)
    assert verts.shape == (26719, 3), verts.shape
    polys, poly_uvs = polys[:NUM_KEPT_POLYGONS], poly_uvs[:NUM_KEPT_POLYGONS]
    tris, tri_uvs, tri_poly = triangulate(polys, poly_uvs)
    assert tris.max() < NUM_KEPT_VERTICES
    template = verts[:NUM_KEPT_VERTICES]
    used_uv = np.unique(tri_uvs)
    uv_remap = np.full(len(uvs), -1, np.int64)
    uv_remap[used_uv] = np.arange(len(used_uv))
    part = vertex_parts()
    tri_part = part[tris[:, 0]]

    def deltas(names):
        out = np.zeros((len(names), NUM_KEPT_VERTICES, 3), np.float32)
        for i, n in enumerate(names):
            v = read_obj(os.path.join(fx, n + ".obj"))
            assert v.shape == verts.shape, (n, v.shape)
            out[i] = (v - verts)[:NUM_KEPT_VERTICES]
            print(f"  read {n}", file=sys.stderr)
        return out

    id_names = [f"identity{i:03d}" for i in range(100)]
    identity = deltas(id_names)
    expression = deltas(expr_names)
    reg, weights, joints = skeleton_and_weights(template, tris, part)
    return dict(
        template=template.astype(np.float32),
        faces=tris,
        face_uvs=uv_remap[tri_uvs].astype(np.int32),
        uvs=uvs[used_uv].astype(np.float32),
        face_source_polygon=tri_poly,
        face_part=tri_part,
        vertex_part=part,
        part_names=np.array([p[0] for p in PARTS]),
        identity_basis=identity.astype(np.float16),
        expression_basis=expression.astype(np.float16),
        expression_names=np.array(expr_names),
        joint_names=np.array(JOINT_NAMES),
        joint_parents=np.array([-1, 0, 1, 1], np.int32),
        joint_regressor=reg.astype(np.float32),
        skinning_weights=weights.astype(np.float32),
        multipie68=np.asarray(config["idx_to_landmark_verts"], np.int32),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ict_dir", help="a clone (work tree) of ICT-VGL/ICT-FaceKit")
    ap.add_argument("-o", "--out", default=os.path.join(os.path.dirname(__file__), "ict_face_light.npz"))
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.ict_dir, "FaceXModel", "generic_neutral_mesh.obj")):
        ap.error(f"{args.ict_dir}: no FaceXModel/generic_neutral_mesh.obj; pass a clone of ICT-FaceKit")
    arrays = build(args.ict_dir)
    write_npz_deterministic(args.out, arrays, compresslevel=9)
    h = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, sha256 {h})")


if __name__ == "__main__":
    main()
