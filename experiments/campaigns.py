"""Tables and curves of the training campaigns from their committed records.

    python experiments/campaigns.py        # also run by run_all.py --docs-only

experiments/results/campaign_NAME.jsonl holds one line per training session (`dlm train ...
--campaign-log`); this writes campaign_NAME.md (a row per session) and campaign_NAME.png: the
real dev-set balanced NME against the samples the chain has seen (the CPU hours each session
spent are in the table; sessions on an accelerator name it and its minutes instead), the figure
that decides whether a campaign is worth its compute (issue 31).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


def _pool(r) -> str:
    """The session's pool folder(s) by name, with the renders drawn from."""
    pool = r.get("pool")
    if not pool:
        return "-"
    names = " + ".join(Path(p).name for p in ([pool] if isinstance(pool, str) else pool))
    return names if r.get("pool_num") is None else f"{names} ({r['pool_num']:,})"


def write_campaign(path: Path) -> tuple[Path, Path | None]:
    from dlm.io.files import write_text
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    name = path.stem
    rows = ["| date | machine | pool (renders) | samples (session / total) | CPU h (session / total) | img/s | "
            "synthetic NME | dev balanced | dev inner 51 | dev failures > 10% | ROI auto found / balanced | git |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in lines:
        auto = ("-" if r.get("dev_roi_auto_found") is None
                else f"{100 * r['dev_roi_auto_found']:.1f}% / {_pct(r.get('dev_roi_auto_nme_balanced'))}")
        machine = (f"{r['cpu']} ({r['cores']} cores)" if not r.get("device")
                   else f"{r['device']} ({60 * r['device_hours_session']:.1f} min)")
        rows.append(f"| {r['date'][:10]} | {machine} | {_pool(r)} | {r['samples_session']:,} / "
                    f"{r['samples_total']:,} | {r['cpu_hours_session']:.2f} / {r['cpu_hours_total']:.2f} | "
                    f"{r['images_per_s']:.1f} | {_pct(r['synthetic_nme'])} | {_pct(r['dev_nme_balanced'])} | "
                    f"{_pct(r['dev_nme_inner51'])} | {_pct(r['dev_failure_rate_10'])} | {auto} | "
                    f"{r['git_revision'][:7]} |")
    md = RESULTS / f"{name}.md"
    write_text(md, f"One row per training session, from `experiments/results/{path.name}` (`dlm train CONFIG "
               f"--minutes N --campaign-log {path.relative_to(HERE.parent)}`). Dev: `../shared/real/aflw2000_dev` "
               "(200 AFLW2000-3D photos, ground-truth crop; balanced = mean of the three yaw bins).\n\n"
               + "\n".join(rows) + "\n")
    png = None
    # Against samples seen, not CPU hours: sessions on an accelerator add samples without CPU hours.
    pts = [(r["samples_total"] / 1e6, r["dev_nme_balanced"]) for r in lines if r.get("dev_nme_balanced") is not None]
    if pts:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=120)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o-", label="dev set, balanced")
        # The synthetic test set beside it: dev falling in step with it says more of the same
        # training still pays; dev flat while it falls would say the domain gap limits.
        for key, label, style in (("dev_nme_inner51", "dev set, inner 51", "s--"),
                                  ("synthetic_nme", "synthetic test set", "^:")):
            xs = [(r["samples_total"] / 1e6, r[key]) for r in lines if r.get(key) is not None]
            ax.plot([x[0] for x in xs], [100 * x[1] for x in xs], style, label=label)
        ax.set_xlabel("samples seen, whole chain (millions)")
        ax.set_ylabel("NME (%)")
        ax.legend(fontsize=8)
        ax.set_title(name.replace("_", " "))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        png = RESULTS / f"{name}.png"
        tmp = png.with_name(png.stem + ".tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(png)
    return md, png


def _bins(r) -> str:
    bins = r.get("dev_nme_yaw_bins")
    return "-" if not bins else " / ".join(f"{100 * bins[k]:.2f}" for k in ("0-30", "30-60", "60-90"))


def write_probes() -> Path:
    """probes.md: every probe arm (experiments/results/probe*.jsonl, one file per session's probe,
    one line per arm), grouped by file so that an arm reads against its paired control beside it.
    The config named by each row says what the arm changed and what it started from."""
    from dlm.io.files import write_text
    rows = ["| probe file | arm (config) | date | pool (renders) | samples | synthetic NME | dev balanced | "
            "dev by yaw 0-30 / 30-60 / 60-90 (%) | dev inner 51 | dev failures > 10% | git |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("probe*.jsonl")):
        for x in path.read_text().splitlines():
            if not x.strip():
                continue
            r = json.loads(x)
            config = HERE / "configs" / f"{r['name']}.py"
            arm = f"`{config.name}`" if config.exists() else r["name"]
            rows.append(f"| {path.stem} | {arm} | {r['date'][:16].replace('T', ' ')} | {_pool(r)} | "
                        f"{r['samples_session']:,} | {_pct(r['synthetic_nme'])} | {100 * r['dev_nme_balanced']:.3f}% | "
                        f"{_bins(r)} | {_pct(r['dev_nme_inner51'])} | {_pct(r['dev_failure_rate_10'])} | "
                        f"{r['git_revision'][:7]} |")
    md = RESULTS / "probes.md"
    write_text(md, "Short paired fine-tunes that test one change each (a render feature, a crop kind, an input size), "
               "one row per arm from `experiments/results/probe*.jsonl` (`dlm train experiments/configs/ARM.py "
               "--minutes N --campaign-log experiments/results/probeNN.jsonl`); the arms of one file share their "
               "start and draws unless their configs say otherwise. Dev: `../shared/real/aflw2000_dev` (200 "
               "AFLW2000-3D photos, ground-truth crop; balanced = mean of the three yaw bins; yaw bins recorded "
               "from session 65 on, session 64's read from its runs' manifests).\n\n" + "\n".join(rows) + "\n")
    return md


def write_all() -> list[Path]:
    return [write_campaign(p)[0] for p in sorted(RESULTS.glob("campaign_*.jsonl"))] + [write_probes()]


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    for p in write_all():
        print(p)
