"""Peers side by side: MediaPipe Face Mesh and dlib's 68-point predictor against dlm's landmarks.

Reproduce (2-core CPU with PyPI access; about 15 minutes the first time, most of it installing):
    python experiments/peers.py                               # AFLW2000 sample + 100 synthetic images
    python experiments/peers.py --aflw2000 /path/to/AFLW2000  # the full AFLW2000-3D set
    python experiments/peers.py --quick                       # 16 synthetic images
    python experiments/peers.py --quick --peers none          # dlm alone: nothing installed (CI)

Each peer runs in its own virtual environment, created here under experiments/cache/peers/
(mediapipe==0.10.14, which ships its models; dlib-bin with face-recognition-models), by
experiments/peers_runner.py under that environment's interpreter: neither is a dlm dependency.
A peer that cannot be installed is reported as skipped, with the reason.

Every method finds the face itself: MediaPipe's and dlib's own detectors, dlm's own
region-of-interest search (`dlm.product.pipeline.detect`, model `--model`, default the shipped real-time
network; its first 68 landmarks are ICT's 68).  Images where a method finds no face count against
its detection rate and are left out of its NME.

Protocol: the AFLW2000-3D one (`dlm.eval.aflw2000`): mean 68-point error / sqrt(w h) of the ground
truth's box, |yaw| bins 0-30, 30-60, 60-90 and their balanced mean.
- AFLW2000-3D: `--aflw2000 DIR` (default ../shared/real/aflw2000_sample, 16 images: a smoke
  test of the protocol, not a benchmark; skipped when absent).
- Synthetic: `--synthetic N` renders of dlm.synth.render (seed 9000; head yaw up to 80 degrees, pitch
  30, roll 25, photo-like rather than the training set's up to 90 / 45 / 30; 256 px, pasted into
  a 384 px grey canvas), ground truth the 68 ICT points projected (hidden ones included), yaw of
  the head in the camera frame (neck and head joints, camera roll).
- MediaPipe's 468 points are not the 68: each of the 68 takes the MediaPipe point with the lowest
  mean error over a separate calibration set of `--calibration` synthetic renders (seed 9500).
  A mapping fitted to the ground truth's conventions favours MediaPipe; dlib needs none.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
AFLW_SAMPLE = HERE.parent.parent / "shared" / "real" / "aflw2000_sample"
PEERS = {
    "mediapipe": ["mediapipe==0.10.14"],
    "dlib": ["dlib-bin", "face-recognition-models", "opencv-python-headless", "numpy"],
}
YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.01))


def get_config(quick: bool = False) -> dict:
    return dict(synthetic=16 if quick else 100, calibration=16 if quick else 40, seed=9000, calibration_seed=9500,
                image_size=256, canvas=384, max_yaw_deg=80.0, max_pitch_deg=30.0, max_roll_deg=25.0,
                model="realtime", peers=list(PEERS))


def ensure_venv(name: str) -> Path:
    """The peer's interpreter, creating its virtual environment on first use (raises on failure)."""
    root = CACHE / "peers" / name
    python = root / "bin" / "python"
    done = root / ".installed"
    if not done.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]], check=True)
        done.write_text(json.dumps(PEERS[name]))
    return python


def synthetic_set(n: int, seed: int, config: dict) -> dict:
    """Render (cached) n labelled images: paths, gt (n, 68, 2) canvas pixels, yaw (n,) degrees."""
    key = hashlib.sha256(json.dumps([n, seed] + [config[k] for k in ("image_size", "canvas", "max_yaw_deg",
                                                                     "max_pitch_deg", "max_roll_deg")]
                                    ).encode()).hexdigest()[:12]
    folder = CACHE / f"peers_synth_{key}"
    labels = folder / "labels.npz"
    if labels.exists():
        with np.load(labels) as z:
            return dict(paths=[str(folder / f"{i:05d}.png") for i in range(n)], gt=z["gt"], yaw=z["yaw"])
    import cv2
    import jax
    import jax.numpy as jnp
    from dlm.core import facemodel as fm
    from dlm.core import geometry
    from dlm.synth import scenes
    from dlm.synth import render as synth
    model = fm.load_face_model()
    assets = synth.make_assets(model)
    ids = jnp.asarray(model.landmarks["68"])
    s, c = config["image_size"], config["canvas"]
    o = (c - s) // 2
    ranges = scenes.SceneRanges(max_yaw=np.radians(config["max_yaw_deg"]), max_pitch=np.radians(config["max_pitch_deg"]),
                                max_roll=np.radians(config["max_roll_deg"]))
    render = jax.jit(lambda k: synth.render_sample(k, model, assets, s, ids, ranges, None))
    gt, yaw = np.zeros((n, 68, 2)), np.zeros(n)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        b = render(jax.random.fold_in(jax.random.key(seed), i))
        canvas = np.full((c, c, 3), 110, np.uint8)
        canvas[o:o + s, o:o + s] = synth.to_uint8(b.image)
        if not cv2.imwrite(str(folder / f"{i:05d}.png"), canvas[..., ::-1]):
            raise OSError(f"cannot write {folder / f'{i:05d}.png'}")
        gt[i] = np.asarray(b.landmarks) + o
        r = (geometry.axis_angle_to_matrix(b.camera.rotation) @ geometry.axis_angle_to_matrix(b.params.joint_rotations[0])
             @ geometry.axis_angle_to_matrix(b.params.joint_rotations[1]))
        fwd = np.asarray(r @ jnp.array([0.0, 0.0, 1.0]))
        yaw[i] = np.degrees(np.arctan2(fwd[0], fwd[2]))
    tmp = folder / "labels.tmp.npz"
    np.savez(tmp, gt=gt, yaw=yaw)
    tmp.replace(labels)
    return synthetic_set(n, seed, config)


def run_peer(name: str, paths: list[str]) -> dict:
    python = ensure_venv(name)
    CACHE.mkdir(parents=True, exist_ok=True)
    listing = CACHE / f"peers_{name}_list.txt"
    out = CACHE / f"peers_{name}_out.npz"
    listing.write_text("\n".join(paths) + "\n")
    subprocess.run([str(python), str(HERE / "peers_runner.py"), name, str(listing), str(out)], check=True,
                   stderr=subprocess.DEVNULL)
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def run_dlm(paths: list[str], model: str) -> dict:
    import cv2
    from dlm.landmarks import predictor as lmk
    from dlm.product import pipeline
    pred = lmk.shipped(model)
    points = np.full((len(paths), 68, 2), np.nan)
    found, seconds = np.zeros(len(paths), bool), np.zeros(len(paths))
    for i, p in enumerate(paths):
        img = np.ascontiguousarray(cv2.imread(p, cv2.IMREAD_COLOR)[..., ::-1])
        t0 = time.perf_counter()
        try:
            det = pipeline.detect(img, pred)[0]
        except pipeline.NoFaceError:
            det = None
        seconds[i] = time.perf_counter() - t0
        if det is not None:
            points[i], found[i] = np.asarray(det.mu[:68]), True
    return dict(points=points, found=found, seconds=seconds)


def mediapipe_mapping(out: dict, gt: np.ndarray) -> np.ndarray:
    """(68,) the MediaPipe point with the lowest mean normalised error to each ground-truth point."""
    f = out["found"]
    box = gt[f].max(1) - gt[f].min(1)
    norm = np.sqrt(box[:, 0] * box[:, 1])[:, None, None]
    err = np.linalg.norm(out["points"][f][:, :, None] - gt[f][:, None], axis=-1) / norm  # (n, 468, 68)
    return np.argmin(err.mean(0), axis=0)


def summary(nmes: np.ndarray, found: np.ndarray, yaw: np.ndarray, seconds: np.ndarray) -> dict:
    bins = {}
    for lo, hi in YAW_BINS:
        sel = found & (np.abs(yaw) >= lo) & (np.abs(yaw) < hi)
        bins[f"{int(lo)}-{int(min(hi, 90))}"] = dict(nme=float(nmes[sel].mean()) if sel.any() else None,
                                                      count=int(sel.sum()))
    filled = [b["nme"] for b in bins.values() if b["nme"] is not None]
    return dict(images=int(found.size), found=int(found.sum()), detection_rate=float(found.mean()),
                nme_mean=float(nmes[found].mean()) if found.any() else None,
                nme_median=float(np.median(nmes[found])) if found.any() else None,
                nme_balanced=float(np.mean(filled)) if len(filled) == len(YAW_BINS) else None,
                yaw_bins=bins, failure_rate_10=float((nmes[found] > 0.10).mean()) if found.any() else None,
                median_ms_per_image=float(np.median(seconds) * 1000))


def evaluate(paths, gt, yaw, config, mapping) -> dict:
    from dlm.eval import aflw2000
    out = {}
    runs = {"dlm": lambda: run_dlm(paths, config["model"])}
    for peer in config["peers"]:
        runs[peer] = lambda peer=peer: run_peer(peer, paths)
    for name, fn in runs.items():
        try:
            r = fn()
        except (subprocess.CalledProcessError, OSError) as e:
            out[name] = dict(skipped=f"{type(e).__name__}: {e}")
            print(f"{name}: skipped ({e})", flush=True)
            continue
        pts = r["points"][:, mapping] if name == "mediapipe" else r["points"]
        out[name] = summary(aflw2000.nme(pts, gt), r["found"], yaw, r["seconds"])
        print(f"{name}: {out[name]['found']}/{out[name]['images']} found, NME mean {out[name]['nme_mean']}", flush=True)
    return out


def _peer_list(text: str) -> list[str]:
    """--peers: "none", or a comma-separated subset of PEERS."""
    names = [] if text.strip() == "none" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise SystemExit(f"--peers: unknown peer {', '.join(unknown)} (known: {', '.join(PEERS)}, or none)")
    return names


def _extra_flags(ap):
    ap.add_argument("--aflw2000", default=str(AFLW_SAMPLE), help="AFLW2000-3D folder (default: the 16-image sample)")
    ap.add_argument("--peers", default=None,
                    help=f"comma-separated peers to run (default {','.join(PEERS)}; 'none': dlm alone, no install)")


def main(argv=None):
    args, config, name, started = start(
        __doc__, get_config, "peers", argv, ("synthetic", "calibration", "model"),
        extra=_extra_flags)
    config["aflw2000"] = args.aflw2000
    if args.peers is not None:
        config["peers"] = _peer_list(args.peers)
    results = {}
    mapping = np.arange(68)
    if "mediapipe" in config["peers"]:
        cal = synthetic_set(config["calibration"], config["calibration_seed"], config)
        try:
            mapping = mediapipe_mapping(run_peer("mediapipe", cal["paths"]), cal["gt"])
            results["mediapipe_mapping_68"] = [int(v) for v in mapping]
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"mediapipe: cannot calibrate ({e})")
    syn = synthetic_set(config["synthetic"], config["seed"], config)
    results["synthetic"] = evaluate(syn["paths"], syn["gt"], syn["yaw"], config, mapping)
    if Path(args.aflw2000).is_dir():
        from dlm.eval.aflw2000 import read_aflw2000
        items = read_aflw2000(args.aflw2000)
        results["aflw2000"] = evaluate([p for _, p, _, _ in items], np.stack([g for _, _, g, _ in items]),
                                       np.array([y for *_, y in items]), config, mapping)
    else:
        results["aflw2000"] = f"skipped: {args.aflw2000} is absent"
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
    rows = []
    for dataset in ("aflw2000", "synthetic"):
        if not isinstance(results[dataset], dict):
            continue
        for method, r in results[dataset].items():
            if "skipped" in r:
                rows.append([dataset, method, "skipped", "-", "-", "-", "-", "-", "-"])
                continue
            b = r["yaw_bins"]
            rows.append([dataset, method, f"{r['found']}/{r['images']}", pct(b["0-30"]["nme"]), pct(b["30-60"]["nme"]),
                         pct(b["60-90"]["nme"]), pct(r["nme_balanced"]), pct(r["nme_mean"]),
                         round(r["median_ms_per_image"], 1)])
    table = markdown_table(["set", "method", "faces found", "NME 0-30 (%)", "30-60 (%)", "60-90 (%)", "balanced (%)",
                            "mean (%)", "ms / image"], rows)
    write_table(name, f"68-point NME, each method with its own face detection; AFLW2000-3D from "
                f"`{Path(args.aflw2000).name}`, synthetic: {config['synthetic']} renders (seed {config['seed']}); "
                f"MediaPipe's 68 chosen on {config['calibration']} other renders", rec, table)
    print(table)


if __name__ == "__main__":
    main()
