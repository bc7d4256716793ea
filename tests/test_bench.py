"""Every `dlm bench` subcommand and `dlm synth --pool` run once on tiny inputs (issue 30: commands
no test ran; `dlm train` runs in test_nets, `track --solver exported` in test_product_e2e).  Each checks that the command exits 0,
that its --json file holds the figures its help names, and that they are what a run of that size
can give (positive, finite times; counts that match the request; fits that fit)."""
import json
import math
import os

import numpy as np
import pytest

from dlm.cli import main as cli
from dlm.eval import bench, pacing

HERE = os.path.dirname(os.path.abspath(__file__))
QUICK = os.path.join(HERE, "..", "experiments", "configs", "quick.py")


def _run(tmp_path, *argv):
    out = tmp_path / "bench.json"
    assert cli.main(["--quiet", *argv, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def _timing(t, repeats=None):
    assert 0 < t["p10_ms"] <= t["median_ms"] <= t["p90_ms"] and math.isfinite(t["p90_ms"]), t
    if repeats is not None:
        assert t["repeats"] == repeats


def test_bench_model(tmp_path):
    res = _run(tmp_path, "bench", "model", "--repeats", "3", "--threads", "0")["results"]
    assert set(res) >= {"full_mesh", "landmarks_703", "landmarks_320_restricted", "landmarks_703_restricted_jacfwd"}
    for k, v in res.items():
        _timing(v)
    assert res["full_mesh"]["num_vertices"] > 10_000


def test_bench_fit_realtime(tmp_path):
    res = _run(tmp_path, "bench", "fit", "--part", "realtime", "--repeats", "2", "--threads", "0")["realtime"]
    for k in ("structured", "dense_jacfwd", "exported_structured"):
        _timing(res[k])
        # Five LM iterations from the previous frame's pose must lower the cost.
        assert res[k]["final_cost"] < res[k]["initial_cost"], res[k]
    # The three solvers solve the same problem: the same final cost up to float32 rounding.
    costs = [res[k]["final_cost"] for k in ("structured", "dense_jacfwd", "exported_structured")]
    assert max(costs) - min(costs) <= 1e-3 * max(costs) + 1e-3, costs
    assert res["speedup_structured_vs_dense"] > 0
    # The tracker's solve, LM's 3 iterations or 3 or 2 with J^T J kept while steps succeed: each
    # descends from the previous frame's pose to nearly the same cost (a fresh gradient at each
    # step of either).
    lm3 = res["tracker_lm_3_iterations"]
    for k in ("tracker_lm_3_iterations", "tracker_lazy_jtj_3_iterations", "tracker_lazy_jtj_2_iterations"):
        _timing(res[k])
        assert res[k]["final_cost"] < res["structured"]["initial_cost"]
        assert abs(res[k]["final_cost"] - lm3["final_cost"]) <= 0.01 * lm3["final_cost"], (k, res[k], lm3)
    assert res["speedup_lazy_jtj_3_vs_lm_3"] > 0


def test_bench_synth(tmp_path):
    # 8 x 64 px with 703 landmarks: test_synth's renderer, so its compiled program serves both.
    res = _run(tmp_path, "bench", "synth", "--size", "64", "--batch", "8", "--batches", "1",
               "--landmarks", "703")["results"]
    assert res["size"] == 64 and res["batch_size"] == 8 and res["images"] == 8 and res["landmarks"] == 703
    assert res["images_per_s"] > 0 and res["ms_per_image"] > 0
    # the realism switches, off by default
    assert res["env_prob"] == 0 and res["skin_detail"] is False and res["hair_volume"] is False
    assert res["long_hair"] is False


def test_bench_train_on_the_quick_config(tmp_path):
    res = _run(tmp_path, "bench", "train", "--config", QUICK, "--steps", "2")["results"]
    assert res["network"] == "tiny" and res["size"] == 64 and res["batch_size"] == 8
    assert res["images_per_s"] > 0 and res["median_step_ms"] > 0 and res["flops_per_image"] > 0


def test_bench_batch_realtime_fits_its_synthetic_heads(tmp_path):
    res = _run(tmp_path, "bench", "batch", "--fitter", "realtime", "--sizes", "1", "--repeats", "1")
    (row,) = res["results"]["realtime"]
    assert row["batch_size"] == 1 and row["fits_per_s"] > 0 and row["compile_s"] >= 0
    # Exact projections with sigma 2 px: the fit must land within a few pixels (mean identity).
    assert row["landmark_rms_px"] < 5.0, row


@pytest.mark.skipif(bench.default_video() is None, reason="../shared/real/video is not here")
def test_bench_realtime_with_the_exported_solver(tmp_path):
    # No identity refits (--refit-every 0): the refit's program (its own compilation, ~25 s of a core)
    # is the tracker's and is tested there; this test is the exported solver's and the bench's.
    res = _run(tmp_path, "bench", "realtime", "--solver", "exported", "--max-frames", "16", "--passes", "1",
               "--threads", "0", "--refit-every", "0")
    assert res["fps"] == 0 and res["frames_dropped"] == 0
    assert res["solver"] == "exported" and res["frames_timed"] == 16 - res["warmup_frames"]
    assert res["refit_every"] == 0 and res["identity_refit_frames"] == 0
    assert res["frames_tracked"] > 0, res
    _timing(dict(res["per_frame"], repeats=None))
    assert res["frames_per_s"] == pytest.approx(1e3 / res["per_frame"]["median_ms"])
    # Every timed frame was tracked, searched, or waited for the next search (no face in view).
    assert res["frames_tracked"] + res["frames_searched"] + res["frames_search_skipped"] == res["frames_timed"]
    assert res["max_search_gap"] == 8 and res["every_frame"]["mean_ms"] > 0
    assert res["background_search"] is False and res["frames_search_started"] == 0
    # Frames arriving at 1000/s, faster than they run (programs compiled above): stale ones dropped.
    # The full search in a background thread, as for a camera: a frame that starts one has searched.
    paced = _run(tmp_path, "bench", "realtime", "--solver", "exported", "--max-frames", "16", "--passes", "1",
                 "--threads", "0", "--refit-every", "0", "--fps", "1000", "--background-search")
    assert paced["fps"] == 1000.0 and paced["frames_dropped"] > 0
    assert paced["background_search"] is True and paced["frames_search_started"] <= paced["frames_searched"]
    assert paced["frames_timed"] + paced["frames_dropped"] == 16 - paced["warmup_frames"]


def test_frame_schedule_waits_for_early_frames_and_drops_stale_ones(capsys):
    import time
    assert [i for i, _ in pacing.frame_schedule(5, 0.0)] == [0, 1, 2, 3, 4]      # back to back: every frame
    # 100 frames/s, each frame taking 25 ms: frame 0 at once; afterwards the newest arrived frame
    # is taken (2 or 3 arrive per frame taken) and its time starts at its arrival (<= now).
    start = time.perf_counter()
    taken = []
    for i, t0 in pacing.frame_schedule(12, 100.0):
        now = time.perf_counter()
        assert start + i / 100.0 - 1e-6 <= t0 <= now
        taken.append(i)
        time.sleep(0.025)
    assert taken[0] == 0 and taken == sorted(set(taken)) and taken[-1] == 11
    assert 2 <= len(taken) <= 6, taken         # 12 frames 10 ms apart, taken 25 ms (or more) apart: <= 6
    # Faster than they arrive: every frame, each waited for (t0 >= its arrival).
    start = time.perf_counter()
    got = [(i, t0) for i, t0 in pacing.frame_schedule(4, 200.0)]
    assert [i for i, _ in got] == [0, 1, 2, 3] and all(t0 >= start + i / 200.0 for i, t0 in got)
    with pytest.raises(SystemExit):
        cli.main(["bench", "realtime", "--fps", "-1"])
    assert "--fps" in capsys.readouterr().err


def test_synth_pool_command_writes_a_readable_pool(tmp_path):
    # The size and crop scale of test_dataset's and test_train's pools: the same compiled renderer.
    from dlm.synth import pool
    out = tmp_path / "pool"
    assert cli.main(["--quiet", "synth", "--pool", "--num", "8", "--size", "80", "--seed", "3", "--out", str(out)]) == 0
    p = pool.load_pool(str(out), "68")
    assert p.image.shape == (8, 80, 80, 3) and p.landmarks.shape == (8, 68, 2)
    assert np.asarray(p.image).std() > 0 and p.visible.any()     # rendered heads, labelled
    assert ((p.landmarks > -80) & (p.landmarks < 160)).all()     # near the crop, not garbage


@pytest.mark.skipif(bench.default_video() is None, reason="../shared/real/video is not here")
def test_bench_streams_tracks_every_stream(tmp_path):
    res = _run(tmp_path, "bench", "streams", "--streams", "1", "2", "--max-frames", "24", "--warmup", "4", "--passes", "1",
               "--threads", "0")
    one, two = res["results"]
    assert res["frames_with_a_tracked_face"] > res["warmup_frames"] + 5    # the clip's first 20 frames
    assert (one["streams"], two["streams"]) == (1, 2) and one["frames_per_s_vs_first"] == 1.0
    # Every round after the warm-up is timed, one frame per stream.
    rounds = res["frames_with_a_tracked_face"] - res["warmup_frames"]
    assert one["rounds"] == two["rounds"] == rounds and two["frames"] == 2 * rounds
    assert one["frames_per_s"] > 0 and two["all_tracked_rounds"] > 0
