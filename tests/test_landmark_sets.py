import json

import numpy as np

from dlm.core import facemodel as fm
from dlm.core import landmark_sets

ICT_68 = [1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443, 268,
          493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147, 4269, 3360,
          1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695, 2081, 0, 4275, 6200,
          6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517, 5966]


def test_sets_sizes_unique_and_68_is_ict(model):
    assert np.asarray(model.landmarks["68"]).tolist() == ICT_68
    for name, n in (("703", 703), ("320", 320), ("68", 68)):
        idx = np.asarray(model.landmarks[name])
        assert len(idx) == n and len(set(idx.tolist())) == n
        assert len(model.landmark_regions[name]) == n
    # Both dense sets start with the 68, so the 68-point subset is read off directly.
    for name in ("703", "320"):
        assert np.asarray(model.landmarks[name])[:68].tolist() == ICT_68


def test_dense_sets_cover_the_whole_head(model):
    regions = model.landmark_regions["703"]
    counts = {r: regions.count(r) for r in set(regions)}
    for r in ("eyelid", "lips_inner", "iris", "pupil", "teeth_upper", "teeth_lower", "ear", "head", "neck", "face"):
        assert counts.get(r, 0) >= 6, (r, counts)
    part = np.asarray(model.vertex_part)[np.asarray(model.landmarks["703"])]
    names = model.part_names
    for p in ("face", "head_neck", "teeth", "eyeball_left", "eyeball_right"):
        assert (part == names.index(p)).sum() >= 6, p


def test_dense_sets_are_left_right_symmetric(model):
    t = np.asarray(model.template)
    for name in ("703", "320"):
        p = t[np.asarray(model.landmarks[name])][68:]  # the ICT 68 are as published
        mirrored = p * np.array([-1.0, 1.0, 1.0])
        d = np.linalg.norm(mirrored[:, None] - p[None], axis=2).min(1)
        assert np.percentile(d, 99) < 0.05, name


def test_rebuild_is_deterministic_and_matches_shipped():
    data = landmark_sets.build(fm.DEFAULT_ASSET)
    with open(fm.DEFAULT_LANDMARKS) as f:
        shipped = json.load(f)
    assert data["sets"] == shipped["sets"]
