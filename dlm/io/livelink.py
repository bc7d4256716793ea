"""Blendshape curves as Epic's Live Link Face app writes them: the CSV other tools read.

Layout: `Timecode,BlendShapeCount,` then Apple ARKit's 52 blendshape names (capitalised as Live Link
Face writes them, in the order of Unreal's EARFaceBlendShape enum: eyes left, eyes right, jaw,
mouth, brows, cheeks, nose, tongue), then HeadYaw, HeadPitch, HeadRoll, LeftEyeYaw, LeftEyePitch,
LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll; BlendShapeCount is 61 (52 + 9).  Weights lie
in [0, 1]; rotations are radians.  Timecode is HH:MM:SS:FF.mmm (FF the frame within the second at
the clip's rate, mmm the millisecond fraction of that frame).

ICT FaceKit's expression shapes are ARKit's by name (`eyeBlink_L` is ARKit's eyeBlinkLeft), with
two ARKit shapes split in two (browInnerUp and cheekPuff into _L / _R: their mean is written) and
tongueOut absent (written as 0, see MISSING).  ICT's two pupil dilations have no ARKit column.
"""
from __future__ import annotations

import numpy as np

ARKIT_NAMES = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut")
ROTATION_NAMES = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                  "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
HEADER = ("Timecode", "BlendShapeCount") + ARKIT_NAMES + ROTATION_NAMES
MISSING = ("TongueOut",)


def ict_name(arkit: str) -> tuple[str, ...]:
    """The ICT expression name(s) an ARKit column is made of ("EyeBlinkLeft" -> ("eyeBlink_L",);
    "CheekPuff" -> ("cheekPuff_L", "cheekPuff_R")); () for a shape ICT lacks."""
    if arkit in MISSING:
        return ()
    base = arkit[0].lower() + arkit[1:]
    for side, suffix in (("Left", "_L"), ("Right", "_R")):
        # JawLeft / MouthLeft are movements to one side, not one side of a split shape.
        if base.endswith(side) and base not in ("jawLeft", "jawRight", "mouthLeft", "mouthRight"):
            return (base[: -len(side)] + suffix,)
    if base in ("browInnerUp", "cheekPuff"):
        return (base + "_L", base + "_R")
    return (base,)


def arkit_matrix(expression_names) -> np.ndarray:
    """(52, E) map from ICT expression weights to ARKit's 52 (a mean where ICT splits a shape)."""
    index = {n: i for i, n in enumerate(expression_names)}
    m = np.zeros((len(ARKIT_NAMES), len(expression_names)))
    for a, name in enumerate(ARKIT_NAMES):
        parts = ict_name(name)
        missing = [p for p in parts if p not in index]
        if missing:
            raise ValueError(f"ARKit {name}: the model has no expression {missing[0]!r}")
        for p in parts:
            m[a, index[p]] = 1.0 / len(parts)
    return m


def timecode(seconds: float, fps: float) -> str:
    """HH:MM:SS:FF.mmm for a time in seconds at `fps` frames per second."""
    whole = int(np.floor(seconds + 1e-9))
    frame = (seconds - whole) * fps
    ff = int(np.floor(frame + 1e-6))
    ms = int(round((frame - ff) * 1000)) % 1000
    h, rem = divmod(whole, 3600)
    return f"{h:02d}:{rem // 60:02d}:{rem % 60:02d}:{ff:02d}.{ms:03d}"


def rotation_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(3,) axis-angle -> (3, 3) rotation matrix (Rodrigues)."""
    r = np.asarray(rotvec, np.float64)
    angle = np.linalg.norm(r)
    if angle < 1e-12:
        return np.eye(3)
    k = r / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def yaw_pitch_roll(m: np.ndarray) -> np.ndarray:
    """(3, 3) rotation (x right, y up, z towards the viewer) -> yaw (about y), pitch (about x),
    roll (about z), radians, with m = Ry(yaw) Rx(pitch) Rz(roll)."""
    m = np.asarray(m, np.float64)
    return np.array([np.arctan2(m[0, 2], m[2, 2]), np.arcsin(np.clip(-m[1, 2], -1.0, 1.0)),
                     np.arctan2(m[1, 0], m[1, 1])])


def rotations(camera_rotation: np.ndarray, joint_rotations: np.ndarray) -> np.ndarray:
    """The 9 rotation columns: the head as the camera sees it (camera, neck and head joints
    composed; 0 facing the camera upright) and each eye relative to the head, radians.
    joint_rotations: (4, 3) axis-angle of neck, head, eye_left, eye_right (dlm.core.facemodel)."""
    j = np.asarray(joint_rotations, np.float64)
    head = rotation_matrix(camera_rotation) @ rotation_matrix(j[0]) @ rotation_matrix(j[1])
    return np.concatenate([yaw_pitch_roll(head), yaw_pitch_roll(rotation_matrix(j[2])),
                           yaw_pitch_roll(rotation_matrix(j[3]))])


def row(seconds: float, fps: float, arkit_weights: np.ndarray, rotations: np.ndarray) -> list[str]:
    """One CSV row: arkit_weights (52,) clipped to [0, 1]; rotations (9,) radians (ROTATION_NAMES)."""
    w = np.clip(np.asarray(arkit_weights, np.float64), 0.0, 1.0)
    return [timecode(seconds, fps), str(len(ARKIT_NAMES) + len(ROTATION_NAMES))] + \
        [f"{v:.5f}" for v in w] + [f"{v:.5f}" for v in np.asarray(rotations, np.float64)]
