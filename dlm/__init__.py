"""dlm: dense-landmark 3D face reconstruction in JAX.

    import dlm
    model = dlm.load_face_model()
    verts = dlm.vertices(model, dlm.FaceParams.zeros(model))   # (24591, 3) cm
"""
from dlm.facemodel import (Camera, FaceModel, FaceParams, bind_pose, expression_vector, joint_locations,
                           landmark_vertices, load_face_model, posed_joints, project_points, vertices)
from dlm.prior import GaussianMixture, fit_gmm, gmm_log_prob, identity_energy, standard_normal_prior

__version__ = "0.1.0"
