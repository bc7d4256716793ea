"""Continue a landmark campaign on an accelerator for a fixed wall-clock budget: render a pool
there (the pool folders do not travel: 1.9 GB for 24k images at 160 px), train the campaign's
config on it from the chain's committed weights, and leave the exported weights where the caller
collects them.

    python experiments/gpu_campaign.py experiments/configs/realtime_env_320.py \\
        --seconds 540 --render-seconds 150 --max-pool 96000 --out $OUT

The pool has the config pool's settings (read from the config's pool name in POOLS below) and the
same seed, so its first 24,000 images are the ones a CPU session trains on; the accelerator renders
as many more as fit in --render-seconds (rounded to whole batches, at least --min-pool).  Training
is `dlm.train.loop.train_and_evaluate` with the config's own batch, rate schedule and chain (the
campaign step is read from the init_from weights' manifest), evaluated on the synthetic test set
and exported every --eval-every steps; the real dev photos are scored afterwards on the CPU
(`dlm eval aflw2000`) since they do not travel.  Every export is copied into --out as it appears,
so a run cut off by its time limit still returns its last weights.

Back on the CPU, score the returned weights on the dev photos and append the session's campaign line:

    python experiments/gpu_campaign.py --record FOLDER \
        --campaign-log experiments/results/campaign_realtime_320.jsonl

Records in --out: weights.npz / weights.json (the last export), metrics.jsonl, session.json,
pool.json (pool settings, size, render time), run.json (versions, device, timings, this file's
arguments).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlm.synth.switches import REALISM_SWITCHES  # noqa: E402  (a table: imports nothing, starts no JAX)

# The pools' render settings by the name configs give them (dlm synth --pool flags of each).
POOLS = {
    "pools/pool160_24k": dict(size=160, seed=0, crop_scale=0.8, env_prob=0.0),
    "pools/pool160_24k_env": dict(size=160, seed=0, crop_scale=0.8, env_prob=0.5),
    "pools/pool160_96k_env": dict(size=160, seed=0, crop_scale=0.8, env_prob=0.5),   # realtime_env96k_320.py
    "pools/pool160_24k_env_hair": dict(size=160, seed=0, crop_scale=0.8, env_prob=0.5, hair_volume=True,
                                       long_hair=True),
    "pools/pool160_48k_real3": dict(size=160, seed=3, crop_scale=0.8, env_prob=0.5, skin_detail=True,  # campaign 3
                                    hair_volume=True, long_hair=True),
    "pools/pool160_96k_real3": dict(size=160, seed=3, crop_scale=0.8, env_prob=0.5, skin_detail=True,  # campaign 4
                                    hair_volume=True, long_hair=True),
    **{f"pools/pool160_48k_real{name}": dict(size=160, seed=seed, crop_scale=0.8, env_prob=0.5, skin_detail=True,
                                            hair_volume=True, long_hair=True, eyelashes=True, shoulders=True,
                                            beard_volume=beard, natural_light=natural)   # real-time 5-7, offline
       for name, seed, beard, natural in (("5", 5, False, False), ("6", 6, False, False), ("7b", 7, True, False),
                                          ("8n", 8, True, True), ("9n", 9, True, True))},
}


def log(*a):
    print(f"[{time.perf_counter() - T0:7.1f} s]", *a, flush=True)


def render_pool(folder: Path, settings: dict, seconds: float, min_num: int, max_num: int, batch: int) -> dict:
    """Write a pool folder (dlm.synth.pool layout) of as many samples as render within `seconds`
    (whole batches, at least min_num, at most max_num).  Sample i is fold_in(key(seed), i), as
    `write_pool` draws it, so the first N equal a CPU-rendered pool of N (up to float rounding)."""
    import jax.numpy as jnp
    import numpy as np
    from dlm.core import facemodel as fm
    from dlm.io.files import write_json
    from dlm.synth import pool as pool_lib
    from dlm.synth import render as synth
    model = fm.load_face_model()
    assets = synth.make_assets(model, env_prob=settings["env_prob"],
                               **{k: settings.get(k, False) for k in REALISM_SWITCHES})
    vertex_ids = synth.landmark_vertex_ids(model, "all")
    ids = jnp.asarray(vertex_ids)
    size, seed, crop = settings["size"], settings["seed"], settings["crop_scale"]
    parts = {k: [] for k in pool_lib.FIELDS}
    t0, done = time.perf_counter(), 0
    pending = None
    while done < max_num and (done < min_num or time.perf_counter() - t0 < seconds):
        b = synth.render_batch(synth.batch_keys(seed, done, batch), model, assets, ids, size, augment=False,
                               crop_scale=crop)           # dispatched; the previous batch is fetched meanwhile
        if pending is not None:
            _collect(pending, parts, synth)
        pending = b
        done += batch
        if done % (batch * 8) == 0:
            log(f"pool: {done} rendered, {done / (time.perf_counter() - t0):.0f} img/s")
    _collect(pending, parts, synth)
    seconds_used = time.perf_counter() - t0
    folder.mkdir(parents=True)
    for k, v in parts.items():
        np.save(folder / f"{k}.npy", np.concatenate(v)[:done])
    meta = dict(format=pool_lib.FORMAT, num=done, size=size, seed=seed, crop_scale=crop,
                vertex_ids=[int(v) for v in vertex_ids], render_seconds=round(seconds_used, 1),
                images_per_s=round(done / seconds_used, 2), rendered_on=_device())
    for k in ("env_prob", *REALISM_SWITCHES):
        if settings.get(k):
            meta[k] = settings[k]
    write_json(folder / "meta.json", meta)
    return meta


def _collect(b, parts, synth):
    import numpy as np
    parts["image"].append(synth.to_uint8(b.image))
    parts["landmarks"].append(np.asarray(b.landmarks, np.float32))
    parts["visible"].append(np.asarray(b.visible))
    parts["pose"].append(np.asarray(b.params.joint_rotations, np.float32))


def _device() -> str:
    import jax
    return f"{jax.default_backend()}: {jax.devices()[0].device_kind}"


def watch_exports(workdir: Path, out: Path, stop: threading.Event):
    """Copy each new export of workdir into out (atomically) until stop is set."""
    seen = None
    while not stop.wait(10.0):
        copy_exports(workdir, out, seen_mtime=seen)
        p = workdir / "weights.json"
        seen = p.stat().st_mtime if p.exists() else None


def copy_exports(workdir: Path, out: Path, seen_mtime=None):
    w = workdir / "weights.json"
    if not w.exists() or (seen_mtime is not None and w.stat().st_mtime == seen_mtime):
        return
    for name in ("weights.npz", "weights.json", "metrics.jsonl", "session.json"):
        src = workdir / name
        if src.exists():
            tmp = out / f".{name}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, out / name)


def record(folder: Path, campaign_log: str, dev_dir: str) -> dict:
    """Score a returned export on the dev photos (ground-truth crop and dlm's own ROI search) and
    append its campaign line (device, device hours, dev figures from here)."""
    from dlm.eval import aflw2000
    from dlm.landmarks import predictor as lmk
    from dlm.train import campaign
    if not os.path.isdir(dev_dir):
        raise SystemExit(f"{dev_dir}: no dev photos here; the line needs them")
    pred = lmk.Predictor.load(str(folder / "weights.npz"))
    real = dict(dir=dev_dir, **aflw2000.summary(aflw2000.eval_aflw2000(dev_dir, pred, roi="gt")))
    roi_auto = aflw2000.eval_aflw2000(dev_dir, pred, roi="auto")
    line = campaign.campaign_line(folder, roi_auto, real)
    campaign.append_line(campaign_log, line)
    return line


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    if "--record" in (argv if argv is not None else sys.argv[1:]):
        from dlm.io.provenance import shared_real_path
        ap.add_argument("--record", required=True, help="a folder this script returned (its --out)")
        ap.add_argument("--campaign-log", required=True)
        ap.add_argument("--dev", default=shared_real_path("aflw2000_dev"))
        args = ap.parse_args(argv)
        line = record(Path(args.record), args.campaign_log, args.dev)
        log("appended", json.dumps(line))
        return
    ap.add_argument("config")
    ap.add_argument("--seconds", type=float, default=540.0, help="wall-clock budget of the whole script")
    ap.add_argument("--render-seconds", type=float, default=150.0)
    ap.add_argument("--min-pool", type=int, default=8192)
    ap.add_argument("--max-pool", type=int, default=96000)
    ap.add_argument("--render-batch", type=int, default=512, help="~12 GB of accelerator memory per 256")
    ap.add_argument("--eval-every", type=int, default=4000)
    ap.add_argument("--steps-per-call", type=int, default=50,
                    help="steps per compiled call with the pool in device memory (TrainConfig.steps_per_call; "
                         "1: a host round trip per step, as the 2026-12-04 session ran at ~2,000 img/s)")
    ap.add_argument("--reserve-seconds", type=float, default=45.0,
                    help="kept after training for the final evaluation and export")
    ap.add_argument("--test-set", help="the run's synthetic test set (test_set.npz of a CPU session's run folder): "
                    "the same images as the CPU sessions score, and no renderer compiled for them here")
    ap.add_argument("--cache", default="/tmp/dlm_gpu_cache")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache)
    os.environ["DLM_CACHE"] = str(cache)
    import jax
    import flax
    import numpy as np
    import optax
    import orbax.checkpoint
    from dlm.io.files import write_json
    from dlm.io.provenance import git_revision
    from dlm.train import loop as train
    run = dict(argv=sys.argv, git_revision=git_revision(), device=_device(), jax=jax.__version__,
               flax=flax.__version__, optax=optax.__version__, numpy=np.__version__,
               orbax=getattr(orbax.checkpoint, "__version__", None), python=sys.version.split()[0])
    log("run", run)
    write_json(out / "run.json", run)
    config = train.load_config(args.config)
    if not isinstance(config.pool, str) or config.pool not in POOLS:
        raise SystemExit(f"{args.config}: pool {config.pool!r} has no render settings in POOLS")
    pool_dir = cache / config.pool
    if not (pool_dir / "meta.json").exists():
        meta = render_pool(pool_dir, POOLS[config.pool], args.render_seconds, args.min_pool, args.max_pool,
                           args.render_batch)
        log(f"pool: {meta['num']} images in {meta['render_seconds']} s ({meta['images_per_s']} img/s)")
        write_json(out / "pool.json", {k: v for k, v in meta.items() if k != "vertex_ids"})
    run["pool_ready_s"] = round(time.perf_counter() - T0, 1)
    # The dev photos stay behind: scored on the CPU afterwards.  Evaluate and export less often
    # than a CPU session does (at thousands of images a second, 250 steps is a fraction of a second).
    config = dataclasses.replace(config, real_eval_dir=None, eval_every=args.eval_every,
                                 checkpoint_every=args.eval_every, steps_per_call=args.steps_per_call)
    workdir = cache / "runs" / config.name
    if args.test_set:
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.test_set, workdir / "test_set.npz")
    minutes = (args.seconds - args.reserve_seconds - (time.perf_counter() - T0)) / 60.0
    log(f"training {config.name} for {minutes:.2f} min")
    stop = threading.Event()
    watcher = threading.Thread(target=watch_exports, args=(workdir, out, stop), daemon=True)
    watcher.start()
    result = train.train_and_evaluate(config, workdir, quiet=True, minutes=minutes)
    stop.set()
    watcher.join()
    copy_exports(workdir, out)
    run.update(total_s=round(time.perf_counter() - T0, 1), test=result,
               session=json.loads((workdir / "session.json").read_text()))
    write_json(out / "run.json", run)
    log("done", json.dumps(run["session"]), f"test NME {result['nme']:.4f}")


if __name__ == "__main__":
    main()
