"""Every experiment script still imports and parses its command line (CI's smoke run of
experiments/: an API that moved under a script fails here, in seconds, instead of in a
16-minute `python experiments/run_all.py --quick`, which stays the command for the quick runs)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
# Scripts with a command line (their own parser, realism_probe.parse_variants' or common.start's);
# the figure scripts take no arguments and would run whole, and peers_runner.py runs inside a
# peer's environment.
SCRIPTS = sorted(p.name for p in EXPERIMENTS.glob("*.py") if p.name != "common.py" and "__main__" in p.read_text()
                 and ("ArgumentParser" in p.read_text() or "parse_variants(" in p.read_text()
                      or re.search(r"from common import .*\bstart\b", p.read_text())))


def test_run_all_lists_every_experiment():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import run_all
    finally:
        sys.path.remove(str(EXPERIMENTS))
    assert set(run_all.EXPERIMENTS) <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_experiment_script_imports_and_parses_its_arguments(script):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, script, "--help"], cwd=EXPERIMENTS, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout


CONFIGS = sorted(p.name for p in (EXPERIMENTS / "configs").glob("*.py"))


@pytest.mark.parametrize("config", CONFIGS)
def test_training_config_loads_and_names_files_that_exist(config):
    """A campaign's config is read at its first step, hours into a session: a misspelt key, an
    unknown network or landmark set, or a start file that moved fails here instead."""
    from dlm.landmarks import nets
    from dlm.landmarks.predictor import SHIPPED
    from dlm.train import loop as train
    cfg = train.load_config(EXPERIMENTS / "configs" / config)
    assert cfg.network in nets.NETWORKS, cfg.network
    assert cfg.landmark_set in ("703", "320", "68"), cfg.landmark_set
    assert cfg.pool is None or isinstance(cfg.pool, str) or all(isinstance(p, str) for p in cfg.pool), cfg.pool
    from dlm.io.provenance import cache_dir
    text = (EXPERIMENTS / "configs" / config).read_text()
    for start in (cfg.init_from, cfg.init_backbone):
        if start is None or start in SHIPPED.values() or start in SHIPPED:
            continue
        if Path(start).is_relative_to(cache_dir()) and not Path(start).exists():
            # Made outside the work tree (a run's weights, a pruned start) on the machine that trains: on a
            # clean machine the config must say what makes it (the run it continues or the file's name).
            rel = Path(start).relative_to(cache_dir())
            assert rel.parts[-1] in text or (rel.parts[0] == "runs" and rel.parts[1] in text), start
        else:
            assert Path(start).exists(), start


def test_suite_compiles_sums_compiles_and_cache_loads_by_test_and_program():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import suite_compiles
    finally:
        sys.path.remove(str(EXPERIMENTS))
    rec = lambda test, prog, s, saved=None, stage="xla", worker="gw0": dict(  # noqa: E731
        test=test, program=prog, seconds=s, saved=saved, stage=stage, worker=worker)
    out = suite_compiles.summarise([rec("a", "jit(f)", 10.0), rec("a", "jit(f)", 0.5, saved=9.0, worker="gw1"),
                                    rec("b", "jit(g)", 2.0), rec("b", "jit(g)", 1.5, stage="trace")], top=5)
    assert (out["compiles"], out["cache_hits"], out["programs_distinct"]) == (2, 1, 2)
    assert out["xla_s_total"] == 12.5 and out["trace_lower_s_total"] == 1.5
    assert out["tests"][0] == dict(test="a", xla_s=10.5, trace_lower_s=0.0, compiles=1, cache_hits=1)
    assert out["programs"][0] == dict(program="jit(f)", xla_s=10.5, compiles=1, cache_hits=1, workers=2, tests=1)
    assert out["programs"][1]["xla_s"] == 2.0 and out["tests"][1]["trace_lower_s"] == 1.5


def test_own_roi_gate_pairs_photos_and_requires_as_many_faces_found():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from ship_weights import own_roi_gate
    finally:
        sys.path.remove(str(EXPERIMENTS))
    yaws = {"a": 10.0, "b": 45.0, "c": 75.0, "d": -50.0}
    shipped = {k: (0.06, y) for k, y in yaws.items() if k != "d"}        # misses d
    # Finds d too, a hard face (NME 0.45): unpaired, its 30-60 bin would be 0.25 against 0.06.
    candidate = {k: (0.05, y) for k, y in yaws.items() if k != "d"} | {"d": (0.45, yaws["d"])}
    gate = own_roi_gate(candidate, shipped)
    assert gate["passed"] and gate["paired_photos"] == 3 and gate["only_candidate"] == ["d"]
    assert abs(gate["paired_nme_balanced_candidate"] - 0.05) < 1e-12
    assert abs(gate["paired_nme_balanced_shipped"] - 0.06) < 1e-12
    # The other way round: one face fewer and worse on the pairs.
    assert not own_roi_gate(shipped, candidate)["passed"]
    # Better on the photos both find but one face fewer found: fails.
    fewer = {k: (0.01, y) for k, y in yaws.items() if k in ("a", "b", "c")}
    assert not own_roi_gate(fewer, candidate)["passed"]
    # A "found" face half a face or more away from the labelled one (NME >= 0.5) is not found: the
    # shipped model's wrong hit on d neither outnumbers the candidate nor enters the pairs.
    wrong_hit = shipped | {"d": (0.98, yaws["d"])}
    gate = own_roi_gate(fewer, wrong_hit)
    assert gate["passed"] and gate["found_shipped"] == 3 and gate["returned_shipped"] == 4
    assert gate["gross_shipped"] == ["d"] and gate["paired_photos"] == 3 and gate["only_shipped"] == []
    assert not own_roi_gate(fewer, wrong_hit, gross_nme=1.0)["passed"]   # counted as found: one fewer
    # As many found, worse on the pairs: fails; equal: passes (not above).
    worse = {k: (v[0] + 0.001, v[1]) for k, v in shipped.items()}
    assert not own_roi_gate(worse, shipped)["passed"]
    assert own_roi_gate(dict(shipped), shipped)["passed"]
    # A faster network of the same function (--faster) passes within the tolerance, not beyond it.
    assert own_roi_gate(worse, shipped, tolerance=0.0011)["passed"]
    assert not own_roi_gate(worse, shipped, tolerance=0.0009)["passed"]


def test_weight_soup_is_the_weighted_mean_and_refuses_other_networks(tmp_path):
    """Every array of the soup is the share-weighted mean of the parts' (to float16 rounding: the
    mean of float16 values stored as float16, half a unit in the last place); its manifest holds its
    own sha256 (it loads) and the parts; a part of another shape is refused by name."""
    import numpy as np
    from dlm.landmarks import predictor as lmk
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import weight_soup
    finally:
        sys.path.remove(str(EXPERIMENTS))
    rng = np.random.default_rng(0)
    nets = [dict(params=dict(w=rng.normal(size=(3, 4)), b=rng.normal(size=4)), batch_stats=dict(m=rng.normal(size=4)))
            for _ in range(2)]
    paths = [tmp_path / f"n{i}.npz" for i in range(2)]
    for p, v in zip(paths, nets):
        lmk.save_weights(p, v, config=dict(network="tiny"))
    out = tmp_path / "soup.npz"
    assert weight_soup.main([str(out), str(paths[0]), f"{paths[1]}:3"]) == 0
    got, manifest = lmk.load_weights(out)
    for group, name in (("params", "w"), ("params", "b"), ("batch_stats", "m")):
        a, b = (np.asarray(n[group][name], np.float16).astype(np.float64) for n in nets)
        want = (a + 3 * b) / 4
        np.testing.assert_allclose(got[group][name], want, rtol=2 ** -11, atol=1e-7)
    assert [round(p["share"], 3) for p in manifest["soup"]] == [0.25, 0.75]
    other = tmp_path / "other.npz"
    lmk.save_weights(other, dict(params=dict(w=np.zeros((3, 5)), b=np.zeros(4)), batch_stats=dict(m=np.zeros(4))),
                     config=dict(network="tiny"))
    assert weight_soup.main([str(tmp_path / "bad.npz"), str(paths[0]), str(other)]) == 2
    assert not (tmp_path / "bad.npz").exists()


def test_prune_network_writes_the_smaller_network_with_the_same_kept_weights(tmp_path, capsys):
    """`prune_network.py` on the shipped real-time network: the output loads as the smaller network,
    each kept block's arrays are the source's block renumbered (bit for bit: float16 in, float16
    out), the manifest carries the account on (samples seen) and says what was removed; a removal
    that does not leave the named network's table is one line and exit 2, with nothing written."""
    import numpy as np
    from dlm.landmarks import predictor as lmk
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import prune_network
    finally:
        sys.path.remove(str(EXPERIMENTS))
    src = lmk.WEIGHTS_DIR / "realtime_mnv2050_320.npz"
    out = tmp_path / "d13.npz"
    assert prune_network.main([str(src), str(out), "--network", "mobilenetv2_050_d13", "--remove", "4", "9", "11",
                               "14"]) == 0
    small, manifest = lmk.load_weights(out)
    big, source = lmk.load_weights(src)
    assert manifest["config"]["network"] == "mobilenetv2_050_d13"
    assert manifest["pruned_from"]["removed_blocks"] == [4, 9, 11, 14]
    assert manifest["samples_seen"] == source["samples_seen"]
    kept = [i for i in range(17) if i not in (4, 9, 11, 14)]
    assert sorted(k for k in small["params"] if k.startswith("InvertedResidual_")) == \
        sorted(f"InvertedResidual_{j}" for j in range(13))
    for j, i in enumerate(kept):
        a, b = small["params"][f"InvertedResidual_{j}"], big["params"][f"InvertedResidual_{i}"]
        for layer in b:
            for name in b[layer]:
                np.testing.assert_array_equal(a[layer][name], b[layer][name])
    np.testing.assert_array_equal(small["params"]["LandmarkHead_0"]["Dense_0"]["kernel"],
                                  big["params"]["LandmarkHead_0"]["Dense_0"]["kernel"])
    capsys.readouterr()
    bad = tmp_path / "bad.npz"
    assert prune_network.main([str(src), str(bad), "--network", "mobilenetv2_050_d13", "--remove", "4", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("prune_network: removing blocks [4, 9] leaves") and "\n" not in err
    assert not bad.exists()
    # The channels of the last convolution are judged on training draws: without a pool, one line.
    assert prune_network.main([str(src), str(bad), "--network", "mobilenetv2_050_l640", "--last-channels", "640"]) == 2
    assert "needs --pool" in capsys.readouterr().err and not bad.exists()
    # A narrower last convolution than the source's is not a block removal.
    assert prune_network.main([str(src), str(bad), "--network", "mobilenetv2_050_d13_l640", "--remove", "4", "9", "11",
                               "14"]) == 2
    assert "give --last-channels" in capsys.readouterr().err and not bad.exists()


def test_grow_network_writes_the_larger_network_with_the_same_function(tmp_path, capsys, monkeypatch):
    """`grow_network.py` on the shipped real-time network grown by a block in its last residual stage,
    then by wider expansions in its last block (its old channels bit for bit, the new ones' projection zero):
    the output loads as the larger network, the old blocks' arrays are the source's renumbered (bit
    for bit), the new block's last batch-norm scale is zero, the manifest carries the account on and
    says what was grown (its checked output change 0); a network that is not the source with blocks
    added is one line and exit 2, with nothing written."""
    import functools
    import numpy as np
    from dlm.landmarks import nets, predictor as lmk
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import grow_network
    finally:
        sys.path.remove(str(EXPERIMENTS))
    table = tuple((t, c, n + (c == 160), s) for t, c, n, s in nets.MobileNetV2.blocks)   # block 16 is new
    monkeypatch.setitem(nets.NETWORKS, "test_grown", functools.partial(nets.MobileNetV2, width=0.5, blocks=table))
    src = lmk.WEIGHTS_DIR / "realtime_mnv2050_320.npz"
    out = tmp_path / "grown.npz"
    assert grow_network.main([str(src), str(out), "--network", "test_grown"]) == 0
    big, manifest = lmk.load_weights(out)
    small, source = lmk.load_weights(src)
    assert manifest["config"]["network"] == "test_grown" and manifest["grown_from"]["network"] == "mobilenetv2_050"
    assert manifest["grown_from"]["max_output_change_px"] == 0.0
    assert manifest["samples_seen"] == source["samples_seen"]
    moved = {i: i for i in range(16)}
    moved[16] = 17
    for i, j in moved.items():
        a, b = big["params"][f"InvertedResidual_{j}"], small["params"][f"InvertedResidual_{i}"]
        for layer in b:
            for name in b[layer]:
                np.testing.assert_array_equal(a[layer][name], b[layer][name])
    new = big["params"]["InvertedResidual_16"]
    assert not np.any(new[max(k for k in new if k.startswith("BatchNorm_"))]["scale"])
    # Wider expansions (the 320-channel stage's block: 6 -> 8 times its input) through the same script.
    wide = tuple((8 if c == 320 else t, c, n, s) for t, c, n, s in nets.MobileNetV2.blocks)
    monkeypatch.setitem(nets.NETWORKS, "test_wide", functools.partial(nets.MobileNetV2, width=0.5, blocks=wide))
    assert grow_network.main([str(src), str(tmp_path / "wide.npz"), "--network", "test_wide"]) == 0
    widened, manifest = lmk.load_weights(tmp_path / "wide.npz")
    # Zero terms added to a dot change its summation's blocking: float32 rounding of ~128-px outputs
    # through the network's layers (2.3e-5 px seen), not a change of function.
    assert manifest["grown_from"]["max_output_change_px"] <= 1e-4
    a, b = widened["params"]["InvertedResidual_16"], small["params"]["InvertedResidual_16"]
    assert a["Conv_0"]["kernel"].shape[-1] == 640 and b["Conv_0"]["kernel"].shape[-1] == 480
    np.testing.assert_array_equal(a["Conv_0"]["kernel"][..., :480], b["Conv_0"]["kernel"])
    np.testing.assert_array_equal(a["Conv_1"]["kernel"][:, :, :480], b["Conv_1"]["kernel"])
    assert not np.any(a["Conv_1"]["kernel"][:, :, 480:]) and np.any(a["Conv_0"]["kernel"][..., 480:])
    capsys.readouterr()
    bad = tmp_path / "bad.npz"
    assert grow_network.main([str(src), str(bad), "--network", "mobilenetv2_050_d13"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("grow_network: ") and "with blocks added" in err and "\n" not in err
    assert not bad.exists()


def test_frame_network_ab_refuses_what_the_tracker_cannot_run(tmp_path, capsys):
    """`frame_network_ab.py`: a missing weights file, or a network of another landmark set than the
    tracker's (the offline 703-point one), is one line and exit 2 before anything is timed."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import frame_network_ab
    finally:
        sys.path.remove(str(EXPERIMENTS))
    from dlm.landmarks import predictor as lmk
    out = tmp_path / "ab.json"
    assert frame_network_ab.main([str(tmp_path / "none.npz"), "--json", str(out)]) == 2
    assert capsys.readouterr().err.strip().endswith("no such weights file")
    assert frame_network_ab.main([str(lmk.WEIGHTS_DIR / "offline_703.npz"), "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "landmark set 703" in err and "\n" not in err and not out.exists()


def test_ship_weights_takes_another_architecture_only_when_asked_and_never_another_landmark_set(tmp_path, capsys):
    """A candidate whose architecture or input size differs from the shipped offline network's is one
    line and exit 2 without `--new-network`; one of another landmark set is refused even with it.
    Both before anything is scored or written."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import ship_weights
    finally:
        sys.path.remove(str(EXPERIMENTS))
    import jax
    from dlm.landmarks import nets, predictor as lmk
    shipped = lmk.WEIGHTS_DIR / "offline_703.npz"
    before = shipped.read_bytes()
    for name, num, landmark_set in (("other_arch", 703, "703"), ("other_set", 68, "68")):
        v = nets.init_variables(nets.make_network("tiny", num), jax.random.key(0))
        lmk.save_weights(tmp_path / f"{name}.npz", v, dict(network="tiny", num_landmarks=num, size=64,
                                                            landmark_set=landmark_set, loss="gnll"))
    capsys.readouterr()
    assert ship_weights.main([str(tmp_path / "other_arch.npz"), "--name", "offline", "--dev", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "only with --new-network" in err and "\n" not in err
    assert ship_weights.main([str(tmp_path / "other_set.npz"), "--name", "offline", "--dev", str(tmp_path),
                              "--new-network"]) == 2
    assert "its landmark_set, num_landmarks differ" in capsys.readouterr().err
    assert shipped.read_bytes() == before


def test_ship_faster_takes_only_a_tracker_record_timing_this_file_as_faster(tmp_path):
    """`ship_weights.py --faster`: the speed record must be frame_network_ab.py --tracker's, time this
    very file (its sha256 now) and find it faster than the shipped network in enough paired rounds (a
    one-sided sign test); anything else is refused with the reason."""
    import json
    import shutil
    from dlm.landmarks import predictor as lmk
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from ship_weights import faster_record
    finally:
        sys.path.remove(str(EXPERIMENTS))
    w = tmp_path / "cand.npz"
    shutil.copyfile(lmk.WEIGHTS_DIR / "realtime_mnv2050_320.npz", w)

    def record(ratio=0.9, tracker=True, sha=None, name=str(w), faster_rounds=7):
        rounds = [2.0 * ratio if i < faster_rounds else 2.1 for i in range(8)]
        rec = dict(experiment="frame_network_ab", config=dict(tracker=tracker), results=dict(
            cpu="AMD EPYC", sha256={"shipped": "x", name: sha or lmk.sha256(w)},
            networks={"shipped": dict(median_ms=2.0, ratio_to_shipped=1.0, round_medians_ms=[2.0] * 8),
                      name: dict(median_ms=2.0 * ratio, ratio_to_shipped=ratio, round_medians_ms=rounds)}))
        path = tmp_path / f"rec{len(list(tmp_path.glob('rec*.json')))}.json"
        path.write_text(json.dumps(rec))
        return str(path)

    got = faster_record(record(), str(w))     # 7 of 8 rounds: p = 9 / 256
    assert got["ratio_to_shipped"] == 0.9 and got["shipped_median_ms"] == 2.0 and got["rounds_faster"] == 7
    assert abs(got["sign_test_p"] - 9 / 256) < 1e-12
    for bad, why in ((record(ratio=1.02), "not shown faster"), (record(faster_rounds=6), "6 of 8 paired rounds"), (record(tracker=False), "--tracker record"),
                     (record(sha="0" * 64), "another file"), (record(name=str(tmp_path / "other.npz")), "does not time")):
        with pytest.raises(ValueError, match=why):
            faster_record(bad, str(w))


def test_probe_table_has_a_row_per_arm_grouped_by_file(tmp_path, monkeypatch):
    """experiments/campaigns.py's probe table (docs/results.md): every line of every probe*.jsonl a row,
    files in name order, the config named when it exists, the dev figure to three decimals and the yaw
    bins when the line has them."""
    import json
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import campaigns
    finally:
        sys.path.remove(str(EXPERIMENTS))
    line = dict(date="2026-12-07T14:22:13+00:00", pool="pools/p13", pool_num=48000, samples_session=96000,
                synthetic_nme=0.0411, dev_nme_balanced=0.062068, dev_nme_inner51=0.0436, dev_failure_rate_10=0.05,
                git_revision="e9971a504034bd885ecded")
    (tmp_path / "probe9.jsonl").write_text(json.dumps(dict(line, name="probe64_control")) + "\n" + json.dumps(
        dict(line, name="no_such_config", dev_nme_balanced=0.0625,
             dev_nme_yaw_bins={"0-30": 0.0472, "30-60": 0.0574, "60-90": 0.0829})) + "\n")
    (tmp_path / "probe10.jsonl").write_text(json.dumps(dict(line, name="probe65_control")) + "\n")
    (tmp_path / "campaign_x.jsonl").write_text(json.dumps(dict(line, name="not_a_probe")) + "\n")
    monkeypatch.setattr(campaigns, "RESULTS", tmp_path)
    rows = [r for r in campaigns.write_probes().read_text().splitlines() if r.startswith("| probe")][1:]
    assert [r.split(" | ")[:2] for r in rows] == [["| probe10", "`probe65_control.py`"], ["| probe9", "`probe64_control.py`"],
                                                   ["| probe9", "no_such_config"]]
    assert "| 6.207% | - |" in rows[1] and "| 6.250% | 4.72 / 5.74 / 8.29 |" in rows[2]
    assert "pool_x" not in "".join(rows) and "not_a_probe" not in "".join(rows)


def test_paired_probe_differences_are_per_photo_and_the_interval_holds_a_constant_shift():
    """B = A + 0.01 on every photo: B - A is 0.01 exactly in every bootstrap draw and B is worse on
    every photo; B = A with one photo changed: the balanced difference is that photo's change over
    its bin's size and the three-bin mean, and the interval reaches it only from zero's side."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import paired_probe
    finally:
        sys.path.remove(str(EXPERIMENTS))
    rng = np.random.default_rng(0)
    yaws = [5.0, 10.0, 20.0, 40.0, 50.0, 70.0, 80.0, 85.0]
    a = [dict(image=f"p{i}", yaw_deg=y * (-1) ** i, nme=float(rng.uniform(0.03, 0.09)), nme_inner51=0.04)
         for i, y in enumerate(yaws)]
    b = [dict(r, nme=r["nme"] + 0.01) for r in a][::-1]            # another order: paired by name
    r = paired_probe.paired(a, b, resamples=200, seed=1)
    assert r["b_minus_a_balanced"] == pytest.approx(0.01, abs=1e-12)
    assert r["b_minus_a_ci95"] == pytest.approx([0.01, 0.01], abs=1e-12)
    assert (r["photos_b_worse"], r["photos_b_better"], r["photos_equal"]) == (8, 0, 0)
    one = [dict(r_, nme=r_["nme"] - (0.03 if r_["image"] == "p3" else 0.0)) for r_ in a]   # p3: 30-60, 2 photos
    r = paired_probe.paired(a, one, resamples=400, seed=1)
    assert r["b_minus_a_balanced"] == pytest.approx(-0.03 / 2 / 3, abs=1e-12)
    lo, hi = r["b_minus_a_ci95"]
    assert lo < r["b_minus_a_balanced"] < hi == pytest.approx(0.0, abs=1e-12)
    assert (r["photos_b_worse"], r["photos_b_better"], r["photos_equal"]) == (0, 1, 7)
    with pytest.raises(ValueError, match="different photos"):
        paired_probe.paired(a, one[1:])
    # Own face finding may miss a face in one arm: common=True compares on the photos both scored.
    r = paired_probe.paired(a, one[1:], resamples=200, common=True)
    assert (r["num_photos"], r["a_num_scored"], r["b_num_scored"]) == (7, 8, 7)
