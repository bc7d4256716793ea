"""The ICT-derived morphable face model of Section 3.2 as pure JAX functions.

    M(beta, psi, theta) = L(T(beta, psi), theta, J(beta); W)

  T(beta, psi) = template + identity_basis . beta + expression_basis . psi
  J(beta)      = joint_template + joint_identity . beta   (a linear regressor of
                 the identity mesh, see third_party/ict_facekit/README.md)
  L            = linear blend skinning over the 4-joint chain neck -> head -> eyes.

Units are ICT's: centimetres, x to the subject's left, y up, z out of the face.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from dlm.core import geometry

JOINT_NAMES = ("neck", "head", "eye_left", "eye_right")
NUM_JOINTS = 4

_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ASSET = _REPO_ROOT / "third_party" / "ict_facekit" / "ict_face_light.npz"
DEFAULT_LANDMARKS = Path(__file__).resolve().parents[1] / "data" / "landmark_sets.json"


@struct.dataclass
class FaceModel:
    """A linear face model with a skeleton. All arrays are JAX pytree leaves.

    Attributes:
      template: (V, 3) float32 neutral bind-pose mesh, cm.
      identity_basis: (V, 3, I) float32 identity modes (coefficients ~ N(0, 1)).
      expression_basis: (V, 3, E) float32 expression shapes (weights usually in [0, 1]).
        Vertex-major like smplx's shapedirs, so a landmark's rows are contiguous.
      joint_template: (K, 3) bind-pose joints of the template.
      joint_identity: (K, 3, I) joint offsets per identity coefficient.
      joint_regressor: (K, V) the linear map from a bind-pose mesh to its joints.
      skinning_weights: (V, K) float32, rows sum to one.
      faces: (F, 3) int32 triangles.
      face_uvs: (F, 3) int32 indices into `uvs`; uvs: (T, 2) float32.
      vertex_part: (V,) int32 ICT geometry id per vertex (see `part_names`).
      landmarks: {"703": (703,), "320": (320,), "68": (68,)} int32 vertex indices.
      expression_names, joint_names, part_names, joint_parents: static metadata.
      landmark_regions: {set name: tuple of region names, one per landmark}.
    """
    template: jax.Array
    identity_basis: jax.Array
    expression_basis: jax.Array
    joint_template: jax.Array
    joint_identity: jax.Array
    joint_regressor: jax.Array
    skinning_weights: jax.Array
    faces: jax.Array
    face_uvs: jax.Array
    uvs: jax.Array
    vertex_part: jax.Array
    landmarks: dict
    expression_names: tuple = struct.field(pytree_node=False, default=())
    joint_names: tuple = struct.field(pytree_node=False, default=JOINT_NAMES)
    joint_parents: tuple = struct.field(pytree_node=False, default=(-1, 0, 1, 1))
    part_names: tuple = struct.field(pytree_node=False, default=())
    landmark_regions: Mapping = struct.field(pytree_node=False, default=None)

    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def num_identity(self) -> int:
        return int(self.identity_basis.shape[2])

    @property
    def num_expression(self) -> int:
        return int(self.expression_basis.shape[2])

    @property
    def num_joints(self) -> int:
        return int(self.joint_template.shape[0])


class _FrozenRegions(dict):
    """A hashable mapping, so the model can be a static argument or closed over by jit."""

    def __hash__(self):
        return hash(tuple(sorted((k, tuple(v)) for k, v in self.items())))


@struct.dataclass
class FaceParams:
    """Parameters of one face.

    identity: (I,) beta; expression: (E,) psi in `FaceModel.expression_names` order;
    joint_rotations: (4, 3) axis-angle, order neck, head, left eye, right eye
    (neck is the root; its rotation is the global head pose); translation: (3,) cm.
    """
    identity: jax.Array
    expression: jax.Array
    joint_rotations: jax.Array
    translation: jax.Array

    @classmethod
    def zeros(cls, model: FaceModel, batch_shape: tuple = ()) -> "FaceParams":
        z = lambda *s: jnp.zeros(tuple(batch_shape) + s, jnp.float32)
        return cls(z(model.num_identity), z(model.num_expression), z(model.num_joints, 3), z(3))


@struct.dataclass
class Camera:
    """A pinhole camera. World-to-camera x_cam = R(rotation) x + translation.

    rotation: (3,) axis-angle; translation: (3,) cm; focal: () pixels;
    principal_point: (2,) pixels. See `dlm.core.geometry` for the axis conventions.
    """
    rotation: jax.Array
    translation: jax.Array
    focal: jax.Array
    principal_point: jax.Array

    @classmethod
    def identity(cls, focal: float, width: int, height: int) -> "Camera":
        return cls(jnp.zeros(3), jnp.zeros(3), jnp.asarray(focal, jnp.float32),
                   jnp.asarray([width / 2.0, height / 2.0], jnp.float32))


def load_face_model(path: str | os.PathLike | None = None,
                    landmarks_path: str | os.PathLike | None = None) -> FaceModel:
    """Load dlm's compact ICT FaceKit light model (24,591 vertices, 100 + 55 shapes).

    Args:
      path: the .npz asset; defaults to $DLM_FACE_MODEL or the one in third_party/.
      landmarks_path: JSON landmark sets; defaults to the one shipped in dlm/data/.
    """
    path = Path(path or os.environ.get("DLM_FACE_MODEL") or DEFAULT_ASSET)
    if not path.is_file():
        raise FileNotFoundError(
            f"face model asset not found: {path} (rebuild it with third_party/ict_facekit/build_asset.py)")
    lm_path = Path(landmarks_path or DEFAULT_LANDMARKS)
    # One model per file version and process (its arrays are immutable): loading takes ~0.2 s, and
    # compiled programs keyed by the model's identity are reused across callers.
    key = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in (path, lm_path) if p.is_file())
    if key not in _LOADED:
        _LOADED[key] = _load_face_model(path, lm_path)
    return _LOADED[key]


_LOADED: dict = {}


def _load_face_model(path: Path, landmarks_path: Path) -> FaceModel:
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except Exception as e:  # zipfile.BadZipFile, ValueError, ...
        raise ValueError(f"face model asset {path} is unreadable or corrupt: {e}") from e
    required = ["template", "identity_basis", "expression_basis", "joint_regressor", "skinning_weights",
                "faces", "face_uvs", "uvs", "vertex_part", "expression_names", "part_names", "joint_parents"]
    missing = [k for k in required if k not in a]
    if missing:
        raise ValueError(f"face model asset {path} lacks arrays {missing}")
    template = a["template"].astype(np.float32)
    identity = np.ascontiguousarray(a["identity_basis"].astype(np.float32).transpose(1, 2, 0))  # (V, 3, I)
    reg = a["joint_regressor"].astype(np.float32)
    landmarks, regions = _load_landmark_sets(Path(landmarks_path or DEFAULT_LANDMARKS), template.shape[0],
                                             a.get("multipie68"))
    return FaceModel(
        template=jnp.asarray(template),
        identity_basis=jnp.asarray(identity),
        expression_basis=jnp.asarray(np.ascontiguousarray(a["expression_basis"].astype(np.float32).transpose(1, 2, 0))),
        joint_template=jnp.asarray(reg @ template),
        joint_identity=jnp.asarray(np.einsum("kv,vci->kci", reg, identity)),
        joint_regressor=jnp.asarray(reg),
        skinning_weights=jnp.asarray(a["skinning_weights"].astype(np.float32)),
        faces=jnp.asarray(a["faces"].astype(np.int32)),
        face_uvs=jnp.asarray(a["face_uvs"].astype(np.int32)),
        uvs=jnp.asarray(a["uvs"].astype(np.float32)),
        vertex_part=jnp.asarray(a["vertex_part"].astype(np.int32)),
        landmarks={k: jnp.asarray(v) for k, v in landmarks.items()},
        expression_names=tuple(str(s) for s in a["expression_names"]),
        joint_parents=tuple(int(p) for p in a["joint_parents"]),
        part_names=tuple(str(s) for s in a["part_names"]),
        landmark_regions=_FrozenRegions(regions),
    )


def _load_landmark_sets(path: Path, num_vertices: int, multipie68):
    landmarks, regions = {}, {}
    if path.is_file():
        with open(path) as f:
            data = json.load(f)
        for name, entry in data["sets"].items():
            idx = np.asarray(entry["vertices"], np.int32)
            if idx.min() < 0 or idx.max() >= num_vertices:
                raise ValueError(f"{path}: landmark set {name} indexes outside [0, {num_vertices})")
            landmarks[name] = idx
            regions[name] = tuple(entry["regions"])
    elif multipie68 is not None:
        landmarks["68"] = np.asarray(multipie68, np.int32)
        regions["68"] = ("face",) * len(multipie68)
    return landmarks, regions


# ---------------------------------------------------------------------------
# Pure functions of the model.

def joint_locations(model: FaceModel, identity: jax.Array) -> jax.Array:
    """J(beta): (K, 3) bind-pose joints. identity: (I,)."""
    return model.joint_template + jnp.einsum("kci,i->kc", model.joint_identity, identity)


def bind_pose(model: FaceModel, identity: jax.Array, expression: jax.Array,
              vertex_ids: jax.Array | None = None) -> jax.Array:
    """T(beta, psi): (V, 3) bind-pose mesh, or only the rows `vertex_ids` (N,) -> (N, 3)."""
    t, ib, eb = model.template, model.identity_basis, model.expression_basis
    if vertex_ids is not None:
        t, ib, eb = t[vertex_ids], ib[vertex_ids], eb[vertex_ids]
    # v = vertex, c = xyz, i = identity mode, e = expression shape.
    return t + jnp.einsum("vci,i->vc", ib, identity) + jnp.einsum("vce,e->vc", eb, expression)


def vertices(model: FaceModel, params: FaceParams, vertex_ids: jax.Array | None = None) -> jax.Array:
    """M(beta, psi, theta): the posed mesh (V, 3) in cm, or only rows `vertex_ids`.

    Touching only the rows it needs, `vertices(model, p, model.landmarks["703"])`
    costs O(703 (I + E)) instead of O(V (I + E)).
    """
    verts = bind_pose(model, params.identity, params.expression, vertex_ids)
    weights = model.skinning_weights if vertex_ids is None else model.skinning_weights[vertex_ids]
    joints = joint_locations(model, params.identity)
    return geometry.linear_blend_skinning(verts, params.joint_rotations, joints, weights,
                                          model.joint_parents, params.translation)


def landmark_vertices(model: FaceModel, params: FaceParams, landmark_set: str = "703") -> jax.Array:
    """3D positions (L, 3) of a named landmark set, evaluated on its rows only."""
    return vertices(model, params, model.landmarks[landmark_set])


def restrict(model: FaceModel, vertex_ids) -> FaceModel:
    """A model over only the rows `vertex_ids` (N,): every function of it costs O(N).

    Gathering once outside a solver loop (instead of inside every evaluation, as
    `vertices(model, p, ids)` does) is what makes landmark-only fitting cheap.
    The result has no faces; its joints are still those of the full model.
    """
    ids = np.asarray(vertex_ids)

    def rows(a):
        # Gathered on the host where the model is concrete: run eagerly, each jnp gather is a small
        # compiled program (a fit's restricted models were ~1 s of a new process's first photo).
        return a[ids] if isinstance(a, jax.core.Tracer) else jnp.asarray(np.asarray(a)[ids])
    return model.replace(
        template=rows(model.template), identity_basis=rows(model.identity_basis),
        expression_basis=rows(model.expression_basis), skinning_weights=rows(model.skinning_weights),
        joint_regressor=jnp.zeros((model.num_joints, 0)), faces=jnp.zeros((0, 3), jnp.int32),
        face_uvs=jnp.zeros((0, 3), jnp.int32), vertex_part=rows(model.vertex_part), landmarks={})


def posed_joints(model: FaceModel, params: FaceParams) -> jax.Array:
    """World positions (K, 3) of the joints after posing."""
    joints = joint_locations(model, params.identity)
    rot, trans = geometry.joint_transforms(params.joint_rotations, joints, model.joint_parents,
                                           params.translation)
    return jnp.einsum("kij,kj->ki", rot, joints) + trans


def project_points(camera: Camera, points: jax.Array) -> jax.Array:
    """World points (..., 3) -> pixels (..., 2) through `camera`."""
    cam = geometry.world_to_camera(points, camera.rotation, camera.translation)
    return geometry.project(cam, camera.focal, camera.principal_point)


def expression_vector(model: FaceModel, weights: Mapping[str, float]) -> jax.Array:
    """Named ARKit weights {"jawOpen": 0.5, ...} -> (E,) expression vector."""
    psi = np.zeros(model.num_expression, np.float32)
    for name, w in weights.items():
        if name not in model.expression_names:
            raise KeyError(f"unknown expression {name!r}; known: {', '.join(model.expression_names)}")
        psi[model.expression_names.index(name)] = w
    return jnp.asarray(psi)
