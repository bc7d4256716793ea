"""How many Levenberg-Marquardt iterations a warm-started real-time frame needs.

Reproduce (CPU, about 3 minutes):
    python experiments/realtime_iterations.py

Synthetic 60-frame sequences (dlm.eval.scenes.synthetic_sequence: one identity, a head turn and nod,
the jaw opening and closing), the 320 projected landmarks with 1.5 px Gaussian noise (sigma
1.5 px), fitted frame by frame by dlm.fitting.realtime.RealtimeFitter with each iteration count (identity
refits inline, so that every run gives the same figures).
Reported: RMS distance of the fitted landmark projections to the noise-free ones (px, frames 5+):
the mean over frames and its 95th percentile.  Fewer --frames for the same motion is faster motion
(--frames 20: three times the default's speed), where a warm start is further from the answer.
The per-frame cost of an iteration is in `dlm bench fit` (solve of 5 iterations ~1.8 ms).
"""
from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from common import record


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", default="2,3,4,5,8")
    ap.add_argument("--hessian", default="every",
                    help="comma-separated: every (LM: J^T J at each iteration), lazy (J^T J kept while steps "
                         "succeed, each iteration a fresh gradient: rt.solve_frame's hessian)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--noise", type=float, default=1.5)
    ap.add_argument("--json", default=None, help="default experiments/results/realtime_iterations.json")
    args = ap.parse_args()
    started = time.time()
    import dlm
    from dlm.synth import scenes
    from dlm.core import facemodel as fm
    from dlm.fitting import realtime as rt
    model = dlm.load_face_model()
    # Variants: (hessian, iterations), named "3" for LM's, "lazy_3" otherwise.
    variants = [(h, int(v)) for h in args.hessian.split(",") for v in args.iters.split(",")]
    name = lambda h, it: str(it) if h == "every" else f"{h}_{it}"
    rms = {name(*v): [] for v in variants}
    p95 = {name(*v): [] for v in variants}
    for seed in range(args.seeds):
        seq = scenes.synthetic_sequence(model, jax.random.key(seed), args.frames, 256, "320")
        truth = [np.asarray(fm.project_points(sc.camera, fm.landmark_vertices(model, sc.params, "320"))) for sc in seq]
        noisy = [t + args.noise * np.asarray(jax.random.normal(jax.random.fold_in(jax.random.key(1000 + seed), i), t.shape))
                 for i, t in enumerate(truth)]
        for h, n in variants:
            it = name(h, n)
            # Refits inline: in a worker thread (the default) they land on a frame that depends on
            # the machine's load, which moves the mean by more than the iterations do.
            fitter = rt.RealtimeFitter(model, (256, 256), "320", num_iters=n, async_refit=False, hessian=h)
            errs = []
            for i, (t, m) in enumerate(zip(truth, noisy)):
                r = fitter.step(m.astype(np.float32), np.full(320, args.noise, np.float32))
                if i >= 5:
                    errs.append(np.sqrt(np.mean(np.sum((r.landmarks_2d - t) ** 2, -1))))
            rms[it].append(float(np.mean(errs)))
            p95[it].append(float(np.percentile(errs, 95)))
            print(f"seed {seed} solve {it}: landmark RMS to truth {rms[it][-1]:.4f} px "
                  f"(95th percentile over frames {p95[it][-1]:.4f})", flush=True)
    results = {it: dict(rms_px_per_seed=v, rms_px_mean=float(np.mean(v)), rms_px_p95_per_seed=p95[it],
                             rms_px_p95_mean=float(np.mean(p95[it]))) for it, v in rms.items()}
    record("realtime_iterations", vars(args), results, args.json, started)


if __name__ == "__main__":
    main()
