"""Plots drawn from the result files alone (experiments/results/NAME.json -> NAME.png), for the
experiments whose figure needs nothing but their recorded results.  Each script draws its plot
at the end of a run; `python experiments/plots.py NAME ...` redraws from the committed JSON.

(now_synth, video_synth, landmark_count and cnn_study draw cumulative error curves from the raw
distances instead, inside their scripts.)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

# The same folder as common.RESULTS, named here so that common (which draws through this module)
# and plots do not import each other.
RESULTS = Path(__file__).resolve().parent / "results"


def _figure(width=5.5, height=3.5, cols=1):
    """(pyplot, figure, axes) of a figure with `cols` plots side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, cols, figsize=(width, height), dpi=120)
    return plt, fig, axs


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def _bars(ax, labels, series: dict, xlabel: str):
    """Horizontal grouped bars: one group per label, one bar per series (None: no bar)."""
    n = len(series)
    y = np.arange(len(labels))
    h = 0.8 / max(n, 1)
    for k, (name, values) in enumerate(series.items()):
        v = np.array([np.nan if x is None else x for x in values], float)
        ax.barh(y + (k - (n - 1) / 2) * h, v, h, label=name)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if n > 1:
        ax.legend(fontsize=8)


def ablate_fit(res: dict, title: str):
    plt, fig, ax = _figure()
    names = list(res)
    _bars(ax, names, {"median": [res[k]["median_mm"] for k in names], "mean": [res[k]["mean_mm"] for k in names]},
          "NoW distance (mm)")
    ax.set_title(title, fontsize=9)
    return plt, fig


def tune_weights(res: dict, title: str):
    plt, fig, (a, b) = _figure(8, 3.2, cols=2)
    h = res["history"]
    steps = [r["step"] for r in h]
    a.plot(steps, [r["loss_mm2"] for r in h], "o-")
    a.set_xlabel("Adam step")
    a.set_ylabel("training loss (mm^2)")
    a.grid(alpha=0.3)
    for k in h[0]["weights"]:
        b.plot(steps, [r["weights"][k] for r in h], "o-", label=k)
    b.set_xlabel("Adam step")
    b.set_ylabel("prior weight")
    b.set_yscale("log")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    return plt, fig


def timing(res: dict, title: str):
    plt, fig, ax = _figure()
    runs = {k: v for k, v in res.items() if k.startswith("realtime_") and isinstance(v, dict)}
    parts = ["roi", "cnn", "fit", "cnn_and_fit", "per_frame"]
    med = lambda r, p: r[p]["median_ms"] if r.get(p) else None  # noqa: E731
    _bars(ax, ["crop + ROI", "CNN", "fit", "CNN + fit (fused)", "whole frame"],
          {k.replace("realtime_", "").replace("_", " "): [med(r, p) for p in parts] for k, r in runs.items()},
          "median ms per tracked frame (one thread)")
    ax.set_title(title, fontsize=9)
    return plt, fig


def peers(res: dict, title: str):
    plt, fig, ax = _figure()
    sets = [s for s in ("aflw2000", "synthetic") if isinstance(res.get(s), dict)]
    methods = sorted({m for s in sets for m in res[s]})
    _bars(ax, methods, {s: [100 * res[s][m]["nme_balanced"] if m in res[s] and res[s][m].get("nme_balanced")
                            is not None else None for m in methods] for s in sets},
          "68-point NME, balanced over yaw (%)")
    ax.set_title(title, fontsize=9)
    return plt, fig


def gnll_vs_l2(res: dict, title: str):
    plt, fig, ax = _figure(5.5, 4.5)
    regions = sorted(res["gnll"]["synthetic_test"]["nme_by_region"])
    _bars(ax, regions, {loss: [100 * r["synthetic_test"]["nme_by_region"][g] for g in regions]
                        for loss, r in res.items()}, "synthetic test NME (%)")
    ax.set_title(title, fontsize=9)
    return plt, fig


def batch_scaling(res: dict, title: str):
    plt, fig, axs = _figure(8.0, 3.5, cols=2)
    for ax, key, label in ((axs[0], "fits_per_s", "fits / s"), (axs[1], "compile_s", "compile (s)")):
        for d, r in res.items():
            for fitter, style in (("realtime", "-o"), ("offline", "--s")):
                rows = r.get(fitter, [])
                if rows:
                    ax.plot([x["batch_size"] for x in rows], [x[key] for x in rows], style, label=f"{fitter}, {d} dev")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axs[0].set_yscale("log")
    axs[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return plt, fig


DRAW = dict(batch_scaling=(batch_scaling, "Batch fitting: fits/s and compile time by batch size and device count"),
            ablate_fit=(ablate_fit, "Fitting ablations (NoW-like, single photos)"),
            tune_weights=(tune_weights, "Prior weights learned through the fit"),
            timing=(timing, "Real-time path, per tracked frame"),
            peers=(peers, "Peers: 68-point NME"),
            gnll_vs_l2=(gnll_vs_l2, "GNLL vs L2, NME per region"))


def draw(name: str) -> Path | None:
    """Draw results/NAME.png from results/NAME.json (NAME may end in _quick); None if NAME has no
    plot here or no result file."""
    kind = name[:-len("_quick")] if name.endswith("_quick") else name
    src = RESULTS / f"{name}.json"
    if kind not in DRAW or not src.exists():
        return None
    fn, title = DRAW[kind]
    plt, fig = fn(json.loads(src.read_text())["results"], title + (" (quick run)" if kind != name else ""))
    return _save(plt, fig, RESULTS / f"{name}.png")


if __name__ == "__main__":
    for n in sys.argv[1:] or list(DRAW):
        print(draw(n))
