"""Differentiable tuning: learn the prior weights by gradient descent through the offline fit.

Reproduce (2-core CPU; the default run about 15 minutes, --quick about 5):
    python experiments/tune_weights.py
    python experiments/tune_weights.py --quick

The weights of E_identity, E_expression and E_joints (as log-weights; the landmark weight stays 1,
which fixes the scale) are learned with Adam on a validation loss: the mean squared distance (mm^2)
between the neutral face-region mesh of the fitted identity and the true one.  The gradient flows
through the fit by implicit differentiation of its optimality condition
(`dlm.fitting.offline.solve_differentiable`, jaxopt), warm-started at each image's fit with the
hand-set weights.  Data: the NoW-like set's cached CNN landmarks (experiments/now_synth.py; run it
first): tuning on image 0 of subjects 50.. (`--train`), evaluation on images 0-1 of subjects 0..
(`--eval`, disjoint), each image fitted with the ordinary offline fitter under the hand-set and
the learned weights and scored with the NoW distance.
"""
from __future__ import annotations

import time

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table
from now_synth import FACE_REGION, Scorer, detect_dataset, get_config as now_config, summarise

TUNED = ("identity", "expression", "joints")


def get_config(quick: bool = False) -> dict:
    # --quick uses now_synth --quick's 4 subjects: tune on subjects 2-3, evaluate on 0-1.
    return dict(now=now_config(quick), train=2 if quick else 8, eval_subjects=2 if quick else 10, eval_images=2,
                steps=2 if quick else 8, learning_rate=0.25, train_first_subject=2 if quick else 50)


def weights_from(log_w):
    import jax.numpy as jnp
    from dlm.fitting import energy as en
    base = en.EnergyWeights()
    return en.EnergyWeights(*(jnp.exp(log_w[TUNED.index(k)]) if k in TUNED else jnp.asarray(v, jnp.float32)
                              for k, v in base._asdict().items()))


def observations(data, i, j):
    from dlm.fitting import energy as en
    L = data["sigma"].shape[-1]
    return en.Observations(data["mu"][i, j][None, None], data["sigma"][i, j][None, None], np.ones((1, 1, L), np.float32))


def main(argv=None):
    config, name, started = start(__doc__, get_config, "tune_weights", argv)[1:]
    import jax
    import jax.numpy as jnp
    import optax
    from dlm.core import facemodel as fm
    from dlm.landmarks import predictor as lmk
    from dlm.fitting import offline
    now = config["now"]
    data = detect_dataset(now)  # the full NoW-like set's detections (cached by now_synth.py)
    model = fm.load_face_model()
    landmark_set = lmk.shipped(now["model"]).landmark_set
    size = (now["canvas"], now["canvas"])
    problem = offline.make_problem(model, size, 1, landmark_set)
    face = jnp.asarray(FACE_REGION)

    def neutral(identity):
        return fm.bind_pose(model, identity, jnp.zeros(model.num_expression))[face]

    def loss(log_w, vars0, obs, gt_neutral):
        sol = offline.solve_differentiable(vars0, obs, weights_from(log_w), problem)
        return 100.0 * jnp.mean(jnp.sum((neutral(sol.identity) - gt_neutral) ** 2, -1))  # cm^2 -> mm^2

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    first = config["train_first_subject"]
    train = [(i, 0) for i in range(first, first + config["train"]) if data["found"][i, 0]]
    hand = offline.FitConfig(landmark_set=landmark_set, mode="monocular")
    warm = {}
    for i, j in train:  # the warm starts: each training image fitted with the hand-set weights
        warm[(i, j)] = offline.fit(model, observations(data, i, j), size, config=hand).vars
    gts = {i: neutral(jnp.asarray(data["identity"][i])) for i, _ in train}
    log_w = jnp.zeros(len(TUNED))
    opt = optax.adam(config["learning_rate"])
    state = opt.init(log_w)
    history = []
    t0 = time.time()
    for step in range(config["steps"] + 1):
        vals, grads = [], []
        for i, j in train:
            v, g = value_and_grad(log_w, warm[(i, j)], observations(data, i, j), gts[i])
            vals.append(float(v))
            grads.append(np.asarray(g))
        g = jnp.asarray(np.mean(grads, 0))
        history.append(dict(step=step, loss_mm2=float(np.mean(vals)),
                            weights={k: float(np.exp(log_w[n])) for n, k in enumerate(TUNED)},
                            grad=[float(x) for x in g]))
        print(f"step {step}: train loss {np.mean(vals):.4f} mm^2, weights "
              + ", ".join(f"{k} {float(np.exp(log_w[n])):.3g}" for n, k in enumerate(TUNED))
              + f" ({time.time() - t0:.0f} s)", flush=True)
        if step == config["steps"]:
            break
        updates, state = opt.update(g, state)
        log_w = optax.apply_updates(log_w, updates)
    best = min(history, key=lambda h: h["loss_mm2"])
    learned = offline.FitConfig(landmark_set=landmark_set, mode="monocular",
                                weights=weights_from(jnp.log(jnp.asarray([best["weights"][k] for k in TUNED]))))
    scorer = Scorer(model)
    dist = {"hand-set weights": [], "learned weights": []}
    for i in range(config["eval_subjects"]):
        for j in range(config["eval_images"]):
            if not data["found"][i, j]:
                continue
            for k, cfg in (("hand-set weights", hand), ("learned weights", learned)):
                res = offline.fit(model, observations(data, i, j), size, config=cfg)
                dist[k].append(scorer(np.asarray(res.vars.identity), data["identity"][i]))
        print(f"\revaluate: subject {i + 1}/{config['eval_subjects']}", end="", flush=True)
    print()
    results = {k: summarise(v) for k, v in dist.items()}
    results["learned"] = best
    results["history"] = history
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    w = best["weights"]
    rows = [["hand-set", 1.0, 1.0, 1.0, history[0]["loss_mm2"], results["hand-set weights"]["median_mm"],
             results["hand-set weights"]["mean_mm"]],
            [f"learned (step {best['step']})", w["identity"], w["expression"], w["joints"], best["loss_mm2"],
             results["learned weights"]["median_mm"], results["learned weights"]["mean_mm"]]]
    table = markdown_table(["weights", "identity", "expression", "joints", "train loss (mm^2)",
                            "held-out NoW median (mm)", "held-out NoW mean (mm)"], rows)
    write_table(name, f"Prior weights learned through the differentiable fit: {len(train)} training images, "
                f"{config['steps']} Adam steps; held out: {results['learned weights']['scans']} images of "
                f"{config['eval_subjects']} other subjects", rec, table)
    print(table)


if __name__ == "__main__":
    main()
