"""dlm: dense-landmark 3D face reconstruction in JAX.

    import dlm
    model = dlm.load_face_model()
    verts = dlm.vertices(model, dlm.FaceParams.zeros(model))   # (24591, 3) cm

Names are imported lazily so that the command line can configure XLA (threads,
devices) before JAX starts.
"""
import importlib
import os

# FFmpeg (inside OpenCV) fixes its log level once per process, when the first video is opened or
# written, from this variable: set here, before any dlm code touches a video, so a bad file gives
# dlm's one line and not FFmpeg's "moov atom not found" (a user's own setting is kept).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # AV_LOG_QUIET

__version__ = "0.1.0"

_EXPORTS = {
    "dlm.core.facemodel": ["Camera", "FaceModel", "FaceParams", "bind_pose", "expression_vector", "joint_locations",
                      "landmark_vertices", "load_face_model", "posed_joints", "project_points", "vertices"],
    "dlm.core.prior": ["GaussianMixture", "fit_gmm", "gmm_log_prob", "identity_energy", "standard_normal_prior"],
    "dlm.fitting.energy": ["Observations", "EnergyWeights"],
    "dlm.fitting.offline": ["fit", "FitConfig", "FitResult"],
    "dlm.fitting.realtime": ["RealtimeFitter", "RealtimeWeights", "TrackResult"],
    "dlm.landmarks.predictor": ["predict_landmarks", "Predictor"],
    "dlm.io.images": ["read_image", "InputError", "VideoReader"],
    "dlm.product.pipeline": ["reconstruct", "reconstruct_faces", "reconstruct_same_person", "FaceResult", "Tracker",
                             "track_streams", "NoFaceError"],
    "dlm.product.capture": ["capture", "write_capture", "CaptureResult", "CaptureError"],
    "dlm.product.batch": ["reconstruct_batch"],
    "dlm.product.photos": ["reconstruct_photos"],
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        if _WHERE[name].startswith(("dlm.product.", "dlm.fitting.")):
            # What users call compiles fitters for most of a minute per process without JAX's
            # persistent cache, as the command line keeps it (`enable_compilation_cache`: a cache
            # folder the caller gave JAX is kept; DLM_NO_COMPILE_CACHE=1 turns it off).
            importlib.import_module("dlm.io.provenance").enable_compilation_cache()
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dlm' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
