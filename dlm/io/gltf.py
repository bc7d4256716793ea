"""Animated binary glTF 2.0 (.glb) of a fitted head: opens in Blender and web viewers.

The mesh is the subject's neutral head (identity applied, bind pose), in metres.  The 55
expression blendshapes are morph targets named as in ARKit (`mesh.extras.targetNames`, which
Blender and three.js read), stored as sparse accessors (most shapes move few vertices).  The four
joints (neck, head, eyes) are a glTF skin with the model's skinning weights, so glTF's
morph-then-skin order is the model's own: bind pose + expression, then linear blend skinning.
The animation drives the morph weights and the joint rotations per frame, and the root's
translation.

Written from the glTF 2.0 specification (no glTF library: the format is a JSON header plus one
binary buffer, and what we need of it is short).
"""
from __future__ import annotations

import json
import struct

import numpy as np

FLOAT, UINT, USHORT = 5126, 5125, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def axis_angle_to_quaternion(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) quaternion (x, y, z, w), glTF's order."""
    r = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(r, axis=-1, keepdims=True)
    half = angle / 2
    # sin(half) / angle, with its limit 1/2 at zero.
    k = np.where(angle > 1e-8, np.sin(half) / np.maximum(angle, 1e-12), 0.5 - angle ** 2 / 48)
    return np.concatenate([r * k, np.cos(half)], -1)


class _Builder:
    def __init__(self):
        self.blob = bytearray()
        self.views, self.accessors = [], []

    def view(self, data: np.ndarray, target: int | None = None) -> int:
        while len(self.blob) % 4:
            self.blob.append(0)
        b = np.ascontiguousarray(data).tobytes()
        v = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(b)}
        if target is not None:
            v["target"] = target
        self.blob += b
        self.views.append(v)
        return len(self.views) - 1

    def accessor(self, data: np.ndarray, kind: str, ctype: int, target: int | None = None,
                 minmax: bool = False) -> int:
        a = {"bufferView": self.view(data, target), "componentType": ctype, "count": int(data.shape[0]),
             "type": kind}
        if minmax:
            flat = data.reshape(data.shape[0], -1)
            a["min"] = [float(x) for x in flat.min(0)]
            a["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(a)
        return len(self.accessors) - 1

    def sparse_vec3(self, dense: np.ndarray, tol: float = 1e-7) -> int:
        """A VEC3 float accessor of `dense` (N, 3) holding only its nonzero rows."""
        idx = np.nonzero(np.abs(dense).max(1) > tol)[0].astype(np.uint32)
        if len(idx) == 0:   # glTF needs at least one sparse element
            idx = np.zeros(1, np.uint32)
        # min / max of what a reader reconstructs (rows under tol read as zero).
        kept = np.zeros_like(dense)
        kept[idx] = dense[idx]
        a = {"componentType": FLOAT, "count": int(dense.shape[0]), "type": "VEC3",
             "min": [float(x) for x in kept.min(0)], "max": [float(x) for x in kept.max(0)],
             "sparse": {"count": int(len(idx)),
                        "indices": {"bufferView": self.view(idx), "componentType": UINT},
                        "values": {"bufferView": self.view(dense[idx].astype(np.float32))}}}
        self.accessors.append(a)
        return len(self.accessors) - 1


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.zeros_like(verts)
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    ln = np.linalg.norm(n, axis=1, keepdims=True)
    return np.where(ln > 0, n / np.maximum(ln, 1e-20), np.array([0.0, 0.0, 1.0]))


def build_glb(neutral: np.ndarray, faces: np.ndarray, expression_basis: np.ndarray, expression_names,
              joints: np.ndarray, joint_names, joint_parents, skinning_weights: np.ndarray,
              times: np.ndarray, expression: np.ndarray, joint_rotations: np.ndarray,
              translation: np.ndarray, scale: float = 0.01) -> bytes:
    """The .glb bytes.

    Args:
      neutral: (V, 3) bind-pose mesh of the subject, model units (cm; `scale` converts to metres).
      faces: (F, 3) triangles.
      expression_basis: (V, 3, E) blendshape deltas.  expression_names: E names.
      joints: (K, 3) bind-pose joint locations; joint_parents: K parent indices (-1 root).
      skinning_weights: (V, K), rows sum to one.
      times: (T,) seconds.  expression: (T, E) weights.  joint_rotations: (T, K, 3) axis-angle.
      translation: (T, 3) root translation (model units).
    """
    V, K = skinning_weights.shape
    T, E = expression.shape
    if expression_basis.shape != (V, 3, E) or neutral.shape != (V, 3):
        raise ValueError(f"glTF: mesh {neutral.shape}, basis {expression_basis.shape} and {E} weights disagree")
    if joint_rotations.shape != (T, K, 3) or translation.shape != (T, 3) or times.shape != (T,):
        raise ValueError("glTF: animation arrays disagree in frame or joint count")
    b = _Builder()
    pos = (neutral * scale).astype(np.float32)
    attrs = {"POSITION": b.accessor(pos, "VEC3", FLOAT, ARRAY_BUFFER, minmax=True),
             "NORMAL": b.accessor(vertex_normals(pos.astype(np.float64), faces).astype(np.float32), "VEC3", FLOAT,
                                  ARRAY_BUFFER)}
    # Skin: the four largest weights per vertex (K is 4 here), renormalised.
    order = np.argsort(-skinning_weights, axis=1)[:, :4]
    w = np.take_along_axis(skinning_weights, order, 1)
    if K < 4:
        order = np.pad(order, ((0, 0), (0, 4 - K)))
        w = np.pad(w, ((0, 0), (0, 4 - K)))
    w = w / np.maximum(w.sum(1, keepdims=True), 1e-12)
    order = np.where(w > 0, order, 0)    # the spec wants joint 0 wherever the weight is zero
    attrs["JOINTS_0"] = b.accessor(order.astype(np.uint16), "VEC4", USHORT, ARRAY_BUFFER)
    attrs["WEIGHTS_0"] = b.accessor(w.astype(np.float32), "VEC4", FLOAT, ARRAY_BUFFER)
    targets = [{"POSITION": b.sparse_vec3((expression_basis[:, :, e] * scale).astype(np.float32))} for e in range(E)]
    indices = b.accessor(np.asarray(faces, np.uint32).reshape(-1), "SCALAR", UINT, ELEMENT_ARRAY_BUFFER)
    mesh = {"name": "head", "primitives": [{"attributes": attrs, "indices": indices, "targets": targets, "mode": 4}],
            "weights": [0.0] * E, "extras": {"targetNames": list(expression_names)}}

    # Nodes: 0 = the skinned mesh; 1.. = joints, each placed relative to its parent.
    jpos = joints * scale
    nodes = [{"name": "head_mesh", "mesh": 0, "skin": 0}]
    for k in range(K):
        p = joint_parents[k]
        rel = jpos[k] - (jpos[p] if p >= 0 else 0.0)
        nodes.append({"name": str(joint_names[k]), "translation": [float(x) for x in rel]})
    for k in range(K):
        kids = [1 + j for j in range(K) if joint_parents[j] == k]
        if kids:
            nodes[1 + k]["children"] = kids
    roots = [1 + k for k in range(K) if joint_parents[k] < 0]
    ibm = np.tile(np.eye(4, dtype=np.float32), (K, 1, 1))
    ibm[:, :3, 3] = -jpos
    skin = {"joints": [1 + k for k in range(K)], "skeleton": roots[0],
            "inverseBindMatrices": b.accessor(ibm.transpose(0, 2, 1).reshape(K, 16).copy(), "MAT4", FLOAT)}

    # Animation: LINEAR samplers over one time accessor.
    t_acc = b.accessor(np.asarray(times, np.float32), "SCALAR", FLOAT, minmax=True)
    samplers, channels = [], []

    def channel(node, path, values, kind):
        samplers.append({"input": t_acc, "output": b.accessor(values.astype(np.float32), kind, FLOAT),
                         "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})

    channel(0, "weights", np.asarray(expression, np.float32).reshape(-1), "SCALAR")
    q = axis_angle_to_quaternion(joint_rotations)                  # (T, K, 4)
    for k in range(K):
        channel(1 + k, "rotation", q[:, k], "VEC4")
    for r in roots:
        k = r - 1
        channel(r, "translation", jpos[k] + np.asarray(translation) * scale, "VEC3")

    doc = {"asset": {"version": "2.0", "generator": "dlm"},
           "scene": 0, "scenes": [{"nodes": [0] + roots}],
           "nodes": nodes, "meshes": [mesh], "skins": [skin],
           "animations": [{"name": "tracked", "samplers": samplers, "channels": channels}],
           "accessors": b.accessors, "bufferViews": b.views, "buffers": [{"byteLength": len(b.blob)}]}
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    while len(b.blob) % 4:
        b.blob.append(0)
    total = 12 + 8 + len(js) + 8 + len(b.blob)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(js), b"JSON") + js
            + struct.pack("<I4s", len(b.blob), b"BIN\x00") + bytes(b.blob))


def read_glb(data: bytes) -> tuple[dict, bytes]:
    """(JSON document, binary chunk) of a .glb; raises ValueError if the container is malformed."""
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2 or total != len(data):
        raise ValueError("not a glTF 2.0 binary of the stated length")
    n, kind = struct.unpack_from("<I4s", data, 12)
    if kind != b"JSON":
        raise ValueError("first chunk is not JSON")
    doc = json.loads(data[20:20 + n])
    m, kind2 = struct.unpack_from("<I4s", data, 20 + n)
    if kind2 != b"BIN\x00":
        raise ValueError("second chunk is not BIN")
    return doc, data[28 + n:28 + n + m]


def read_accessor(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """Dense array of an accessor (sparse ones expanded)."""
    a = doc["accessors"][index]
    dt = {FLOAT: np.float32, UINT: np.uint32, USHORT: np.uint16}[a["componentType"]]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[a["type"]]
    if "bufferView" in a:
        v = doc["bufferViews"][a["bufferView"]]
        out = np.frombuffer(blob, dt, a["count"] * width, v["byteOffset"] + a.get("byteOffset", 0)).copy()
    else:
        out = np.zeros(a["count"] * width, dt)
    out = out.reshape(a["count"], width)
    if "sparse" in a:
        s = a["sparse"]
        iv, vv = doc["bufferViews"][s["indices"]["bufferView"]], doc["bufferViews"][s["values"]["bufferView"]]
        idt = {UINT: np.uint32, USHORT: np.uint16}[s["indices"]["componentType"]]
        idx = np.frombuffer(blob, idt, s["count"], iv["byteOffset"])
        out[idx] = np.frombuffer(blob, dt, s["count"] * width, vv["byteOffset"]).reshape(-1, width)
    return out
