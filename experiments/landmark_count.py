"""Landmark count and 3D error (the paper's Fig. 11), with a simulated landmark detector.

Reproduce (2-core CPU; the default run about 15 minutes, --quick about 4):
    python experiments/landmark_count.py                 # 8 subjects x 2 views, noise 2 and 5 px
    python experiments/landmark_count.py --quick         # 2 subjects x 1 view, noise 2 px (CI)

What this measures, and what it does not: the paper trains three CNNs (703, 320 and 68
landmarks) and fits each one's predictions; experiments/cnn_study.py does that with small
networks trained on a CPU budget.  Here the detector is *simulated*: the true projections
of each set plus independent Gaussian noise of `--noise` px (per coordinate; the fitter is told
that sigma).  This isolates the fitting side of the question (how much does a denser set
constrain the identity when every landmark is equally good?) and leaves out the CNN side (whether
a network predicts 703 points as well as 68; its errors are also correlated between neighbouring
landmarks, which independent noise is not, so these figures favour dense sets).

Views: the first `--views` views of the first `--subjects` subjects of experiments/now_synth.py
(same seed, identities, poses, expressions and crop cameras; `dlm.synth.render.sample_view`, no
rendering), landmarks in the 256 px crop.  Fit: the offline fitter, single view, monocular,
hand-set weights.  Metric: the NoW distance of now_synth (mm), median / mean / std over all points.
"""
from __future__ import annotations

import time

import numpy as np

from common import RESULTS, markdown_table, record, start, write_table
from now_synth import Scorer, get_config as now_config, plot_cumulative, summarise

SETS = ("703", "320", "68")


def get_config(quick: bool = False) -> dict:
    now = now_config(False)
    return dict(subjects=2 if quick else 8, views=1 if quick else 2, noise_px=[2.0] if quick else [2.0, 5.0],
                sets=list(SETS), seed=now["seed"], image_size=now["image_size"], max_yaw_deg=now["max_yaw_deg"],
                noise_seed=11)


def true_views(config: dict, model, assets, subject: int):
    """[(params, camera)] of the subject's first `views` views, as now_synth renders them."""
    import jax
    from dlm.synth import scenes
    from dlm.synth import render as synth
    key = jax.random.fold_in(jax.random.key(config["seed"]), subject)
    identity = jax.random.normal(jax.random.fold_in(key, 0), (model.num_identity,))
    ranges = scenes.SceneRanges(max_yaw=np.radians(config["max_yaw_deg"]))
    return identity, [synth.sample_view(jax.random.fold_in(key, 1 + j), model, assets, config["image_size"],
                                        ranges, identity=identity) for j in range(config["views"])]


def main(argv=None):
    config, name, started = start(__doc__, get_config, "landmark_count", argv, ("subjects",))[1:]
    import jax
    from dlm.core import facemodel as fm
    from dlm.synth import render as synth
    from dlm.fitting import energy as en, offline
    model = fm.load_face_model()
    assets = synth.make_assets(model, backgrounds=False)
    scorer = Scorer(model)
    size = (config["image_size"], config["image_size"])
    dist = {(n, s): [] for n in config["noise_px"] for s in config["sets"]}
    t0 = time.time()
    for i in range(config["subjects"]):
        identity, views = true_views(config, model, assets, i)
        for j, (params, cam) in enumerate(views):
            for n in config["noise_px"]:
                for s in config["sets"]:
                    truth = np.asarray(fm.project_points(cam, fm.landmark_vertices(model, params, s)))
                    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config["noise_seed"]), i), j)
                    noise = n * np.asarray(jax.random.normal(key, truth.shape))
                    obs = en.Observations((truth + noise)[None, None], np.full((1, 1, len(truth)), n, np.float32),
                                          np.ones((1, 1, len(truth)), np.float32))
                    res = offline.fit(model, obs, size, config=offline.FitConfig(landmark_set=s, mode="monocular"))
                    dist[(n, s)].append(scorer(np.asarray(res.vars.identity), np.asarray(identity)))
        print(f"\rsubject {i + 1}/{config['subjects']} ({time.time() - t0:.0f} s)", end="", flush=True)
    print()
    results = {f"{s} landmarks, noise {n:g} px": summarise(v) for (n, s), v in dist.items()}
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    rows = [[k, round(v["median_mm"], 3), round(v["mean_mm"], 3), round(v["std_mm"], 3), v["scans"]]
            for k, v in results.items()]
    table = markdown_table(["landmarks (simulated detector)", "median (mm)", "mean (mm)", "std (mm)", "scans"], rows)
    write_table(name, f"Landmark count, simulated detector: true projections + independent Gaussian noise; "
                f"{config['subjects']} subjects x {config['views']} views of the NoW-like set; not CNN predictions "
                f"(those are in the CNN study), see the script's docstring", rec, table)
    plot_cumulative({f"{s}, {n:g} px": v for (n, s), v in dist.items()}, RESULTS / f"{name}.png",
                    "Landmark count (simulated detector)")
    print(table)


if __name__ == "__main__":
    main()
