"""Deterministic construction of dlm's dense landmark sets ("703", "320", "68").

Run `python -m dlm.core.landmark_sets` to rebuild `dlm/data/landmark_sets.json` from the
face-model asset; the output is byte-identical for the same asset.

Each set is a list of ICT vertex indices with a region label per landmark:
  * "68": ICT's published Multi-PIE 68 indices, unchanged.
  * "703" (whole head) and "320" (real-time) contain the 68 and add:
    - eyelid: points evenly spaced by arc length on each eye opening of the face
      mesh (its boundary loops around the eyes);
    - lips_inner: evenly spaced on the mouth opening of the face mesh;
    - iris, pupil: rings on each eyeball, the iris vertex nearest to directions at
      the limbus and pupil-edge polar angles about the eye's optical (+z) axis;
    - teeth_upper, teeth_lower: the incisal tip and the most labial vertex of each
      of the twelve front teeth (canine to canine);
    - face, ear, head, neck: farthest-point samples of those surface regions,
      seeded with everything chosen before, so points spread evenly.
  Sampling is done on the subject's left half and mirrored (the ICT mesh is
  left-right symmetric to within 0.03 cm), so the sets are symmetric.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree  # scipy comes with jax

from dlm.core.facemodel import DEFAULT_ASSET

OUT = Path(__file__).resolve().parents[1] / "data" / "landmark_sets.json"

# Polar angles (degrees from the optical axis) of the limbus and of the pupil edge
# on ICT's eyeball, read off the iris mesh (see module docstring).
LIMBUS_DEG = 33.0
PUPIL_DEG = 12.0
FRONT_TEETH_UPPER = [(17895, 17990), (17991, 18066), (18067, 18142), (18143, 18218), (18219, 18294), (18295, 18390)]
FRONT_TEETH_LOWER = [(20079, 20168), (20169, 20262), (20263, 20348), (20349, 20434), (20435, 20528), (20529, 20618)]
IRIS = {"left": (22221, 23020), "right": (23791, 24590)}
NARROW_FACE_LAST = 6705
MULTIPIE_REGIONS = ["jaw"] * 17 + ["brow"] * 10 + ["nose"] * 9 + ["eye"] * 12 + ["lips"] * 20

# Region budgets per set. Counts are totals over both sides.
BUDGETS = {
    "703": dict(eyelid=48, lips_inner=24, iris=24, pupil=16, teeth=24, ear=40, head=60, neck=36),
    "320": dict(eyelid=24, lips_inner=16, iris=16, pupil=8, teeth=12, ear=12, head=20, neck=8),
}


def mirror_map(template: np.ndarray) -> np.ndarray:
    """Index of each vertex's mirror image (x -> -x), by nearest neighbour."""
    _, j = cKDTree(template).query(template * np.array([-1.0, 1.0, 1.0]))
    return j.astype(np.int64)


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    uniq, counts = np.unique(e, axis=0, return_counts=True)
    nbrs: dict[int, list[int]] = {}
    for a, b in uniq[counts == 1]:
        nbrs.setdefault(int(a), []).append(int(b))
        nbrs.setdefault(int(b), []).append(int(a))
    loops, seen = [], set()
    for start in sorted(nbrs):
        if start in seen:
            continue
        loop, cur = [start], start
        seen.add(start)
        while True:
            nxt = sorted(n for n in nbrs[cur] if n not in seen)
            if not nxt:
                break
            cur = nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.asarray(loop))
    return loops


def even_on_loop(template, loop, count):
    """`count` vertices of a closed loop, evenly spaced by arc length from its topmost vertex."""
    p = template[loop]
    start = int(np.argmax(p[:, 1]))
    loop, p = np.roll(loop, -start), np.roll(p, -start, axis=0)
    seg = np.linalg.norm(np.roll(p, -1, axis=0) - p, axis=1)
    s = np.concatenate([[0], np.cumsum(seg)[:-1]])
    targets = np.arange(count) * seg.sum() / count
    return [int(loop[np.argmin(np.abs(s - t))]) for t in targets]


def symmetric_fps(template, candidates, mirror, chosen, count):
    """Farthest-point sampling of `count` new points from `candidates`, symmetric about x = 0."""
    cand = np.asarray(sorted(c for c in candidates if template[c, 0] >= -1e-4))
    midline = np.abs(template[cand, 0]) < 1e-3
    d = np.full(len(cand), np.inf)
    if chosen:
        ch = template[np.asarray(chosen)]
        for i in range(0, len(ch), 256):
            d = np.minimum(d, np.linalg.norm(template[cand][:, None] - ch[None, i:i + 256], axis=2).min(1))
    new: list[int] = []
    while len(new) < count:
        need = count - len(new)
        score = np.where(midline, d, d if need >= 2 else -np.inf)
        k = int(np.argmax(score))
        picks = [int(cand[k])] if midline[k] else [int(cand[k]), int(mirror[cand[k]])]
        new += picks
        for v in picks:
            d = np.minimum(d, np.linalg.norm(template[cand] - template[v], axis=1))
    return new


def eye_points(template, centre, first, last, polar_deg, count):
    """Vertices of an eyeball's iris mesh nearest to a ring at `polar_deg` about +z."""
    idx = np.arange(first, last + 1)
    p = template[idx] - centre
    r = np.linalg.norm(p, axis=1).max()
    out = []
    for k in range(count):
        az = 2 * np.pi * k / count + np.pi / 2  # start at the top of the eye
        t = np.radians(polar_deg)
        target = r * np.array([np.sin(t) * np.cos(az), np.sin(t) * np.sin(az), np.cos(t)])
        # Nearest by direction from the centre: robust to the iris disk sitting inside the sclera.
        dirs = p / np.linalg.norm(p, axis=1, keepdims=True)
        out.append(int(idx[np.argmax(dirs @ (target / r))]))
    return out


def regions_of(template, part):
    """Vertex masks of the surface regions used for farthest-point sampling."""
    x, y, z = template.T
    skin = part <= 1
    ear = (part == 0) & (np.abs(x) > 7.5) & (y < 6.0) & (z < 3.0)
    height = y + 0.5 * z
    narrow = np.zeros(len(template), bool)
    narrow[:NARROW_FACE_LAST + 1] = True
    face = narrow & ~ear & (height > -7.5)
    head = skin & ~face & ~ear & (height > -7.5)
    neck = skin & (height <= -7.5) & (height > -15.0)
    return dict(face=face, ear=ear, head=head, neck=neck)


def build(asset_path) -> dict:
    with np.load(asset_path, allow_pickle=False) as a:
        template = a["template"].astype(np.float64)
        faces = a["faces"]
        part = a["vertex_part"]
        reg = a["joint_regressor"].astype(np.float64)
        mp68 = [int(i) for i in a["multipie68"]]
    joints = reg @ template
    mirror = mirror_map(template)
    face_tris = faces[(part[faces] == 0).all(1)]
    loops = boundary_loops(face_tris)
    centre = lambda l: template[l].mean(0)
    eye_left = min(loops, key=lambda l: np.linalg.norm(centre(l) - joints[2]))
    mouth = min(loops, key=lambda l: np.linalg.norm(centre(l) - np.array([0.0, -3.0, 9.0])))
    masks = regions_of(template, part)
    sets = {"68": dict(vertices=mp68, regions=MULTIPIE_REGIONS)}
    for name, budget in BUDGETS.items():
        total = int(name)
        verts, regions = list(mp68), list(MULTIPIE_REGIONS)

        def add(new, region):
            for v in new:
                if v in verts:
                    raise AssertionError(f"landmark vertex {v} chosen twice ({region})")
            verts.extend(new)
            regions.extend([region] * len(new))

        lid = even_on_loop(template, eye_left, budget["eyelid"] // 2)
        add(lid + [int(mirror[v]) for v in lid], "eyelid")
        lips = [v for v in even_on_loop(template, mouth, budget["lips_inner"]) if template[v, 0] >= -1e-3]
        lips = list(dict.fromkeys(lips + [int(mirror[v]) for v in lips]))  # symmetric, no repeats
        add([v for v in lips if v not in verts], "lips_inner")
        for region, deg in (("iris", LIMBUS_DEG), ("pupil", PUPIL_DEG)):
            ring = eye_points(template, joints[2], *IRIS["left"], deg, budget[region] // 2)
            add(ring + [int(mirror[v]) for v in ring], region)
        per_tooth = budget["teeth"] // 12
        for region, teeth, tip in (("teeth_upper", FRONT_TEETH_UPPER, np.argmin),
                                   ("teeth_lower", FRONT_TEETH_LOWER, np.argmax)):
            new = []
            for a, b in teeth:
                ids = np.arange(a, b + 1)
                new.append(int(ids[tip(template[ids, 1])]))
                if per_tooth > 1:
                    new.append(int(ids[np.argmax(template[ids, 2] - 10 * (new[-1] == ids))]))
            add(new, region)
        for region in ("ear", "head", "neck"):
            cands = np.nonzero(masks[region])[0]
            cands = [c for c in cands if c not in set(verts)]
            add(symmetric_fps(template, cands, mirror, verts, budget[region]), region)
        rest = total - len(verts)
        cands = [c for c in np.nonzero(masks["face"])[0] if c not in set(verts)]
        add(symmetric_fps(template, cands, mirror, verts, rest), "face")
        assert len(verts) == total == len(set(verts)), (name, len(verts))
        sets[name] = dict(vertices=verts, regions=regions)
    return dict(
        description="dlm dense landmark sets: ICT FaceKit vertex indices with a region per landmark; "
                    "rebuilt by `python -m dlm.core.landmark_sets` (see its docstring).",
        sets=sets)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--asset", default=str(DEFAULT_ASSET))
    ap.add_argument("-o", "--out", default=str(OUT))
    args = ap.parse_args(argv)
    data = build(args.asset)
    text = json.dumps(data, indent=None, separators=(",", ":"))
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{k}={len(v['vertices'])}" for k, v in data["sets"].items()))


if __name__ == "__main__":
    main()
