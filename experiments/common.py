"""What every experiment records: config, seed, git revision, platform, results; tables for
docs/results.md.  Experiments import this; the library never does."""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

RESULTS = Path(__file__).resolve().parent / "results"


def one_core(core: int | None = None) -> int:
    """Pin this process to one core (default: the last it may use) with one XLA thread, for timings
    on one core; call before JAX starts (XLA reads its flags then).  Returns the core."""
    if "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    core = core if core is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _command() -> str:
    """The command line as run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(RESULTS.parent.parent)
    except ValueError:
        pass
    return " ".join(["python", str(script)] + sys.argv[1:])


def record(name: str, config: dict, results: dict, out: str | os.PathLike | None = None, started: float | None = None):
    """Write `results` with the experiment's config (seed included), git revision and platform as
    one JSON file (atomically); returns the record.  Default path: experiments/results/NAME.json."""
    import jax
    from dlm.io.provenance import git_revision
    from dlm.io.files import write_json
    rec = dict(experiment=name, config=config, git_revision=git_revision(),
               command=_command(),
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               platform=platform.platform(), cpu_count=os.cpu_count(), jax=jax.__version__,
               devices=[str(d) for d in jax.devices()],
               seconds=None if started is None else round(time.time() - started, 1), results=results)
    path = Path(out) if out else RESULTS / f"{name}.json"
    write_json(path, rec)
    return rec


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub markdown table; floats to 3 significant decimals."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


class Run(NamedTuple):
    args: argparse.Namespace
    config: dict
    name: str          # results name: experiments/results/NAME.{json,md,png}
    started: float     # time.time() at the start, for record()


def start(doc: str, get_config: Callable[[bool], dict], default_name: str, argv=None, overrides=(),
          extra: Callable[[argparse.ArgumentParser], None] | None = None) -> Run:
    """The command line every experiment shares: --quick (get_config(True)), --name (default
    DEFAULT_NAME or DEFAULT_NAME_quick) and one flag per key in `overrides` that replaces that
    config value (typed as the full config's value); `extra(parser)` adds a script's own flags."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the small variant (CI; see the docstring)")
    ap.add_argument("--name", default=None, help=f"results name (default {default_name}, {default_name}_quick)")
    full = get_config(False)
    for k in overrides:
        ap.add_argument(f"--{k.replace('_', '-')}", dest=k, type=type(full[k]), help=f"replace the config's {k}")
    if extra is not None:
        extra(ap)
    args = ap.parse_args(argv)
    started = time.time()
    config = get_config(args.quick)
    for k in overrides:
        if getattr(args, k) is not None:
            config[k] = getattr(args, k)
    return Run(args, config, args.name or (f"{default_name}_quick" if args.quick else default_name), started)


def write_table(name: str, caption: str, rec: dict, *tables: str) -> Path:
    """experiments/results/NAME.md (atomically): the caption, the command and git revision that
    made it (from `rec`, record()'s return), then the markdown tables; and NAME.png where
    experiments/plots.py draws this experiment from its result file."""
    from dlm.io.files import write_text
    from plots import draw
    path = RESULTS / f"{name}.md"
    write_text(path, f"{caption} (`{rec['command']}`, git {rec['git_revision'][:7]})\n\n" + "\n".join(tables))
    draw(name)
    return path


class LabelledPhotos(NamedTuple):
    real: Path       # the folder (../shared/real unless given)
    dev: list        # aflw2000.read_aflw2000's rows of aflw2000_dev: (name, path, gt (68, 2), yaw_deg)
    others: list     # aflw2000.labelled_photos' rows of every other set: (set, name, path, gt)
    images: dict     # path -> (H, W, 3) uint8 RGB, every photo of both


def labelled_photos(script: str, real: str | None = None) -> LabelledPhotos | None:
    """The labelled real photos a probe scores on, read once; None (after one line on stderr naming
    the missing folder, for the caller to exit 2) where `real`/aflw2000_dev is absent."""
    import cv2
    import numpy as np
    from dlm.eval import aflw2000
    from dlm.io.provenance import shared_real_path
    folder = Path(real) if real else Path(shared_real_path(""))
    if not (folder / "aflw2000_dev").is_dir():
        print(f"{script}: {folder / 'aflw2000_dev'}: no such folder (the labelled dev photos)", file=sys.stderr)
        return None
    dev = aflw2000.read_aflw2000(str(folder / "aflw2000_dev"))
    others = [row for row in aflw2000.labelled_photos(str(folder)) if row[0] != "aflw2000_dev"]
    paths = [d[1] for d in dev] + [o[2] for o in others]
    images = {p: np.ascontiguousarray(cv2.imread(p, cv2.IMREAD_COLOR)[..., ::-1]) for p in paths}
    return LabelledPhotos(folder, dev, others, images)


# The columns a photo probe's table gives each variant (`photo_scores`' figures, `photo_score_cells`).
PHOTO_SCORE_HEADER = "dev balanced | dev 0-30 / 30-60 / 60-90 | dev inner 51 | dev failures > 10% | other labelled photos"


def photo_scores(per_image: list, other_nme: list) -> dict:
    """A probe's figures for one variant: the AFLW2000-3D protocol on the dev photos (`per_image`:
    aflw2000.scores' rows) and the mean NME over the other labelled photos."""
    import numpy as np
    from dlm.eval import aflw2000
    s = aflw2000.scores(per_image)
    return dict(nme_balanced=s["nme_balanced"], nme_inner51=s["nme_inner51_mean"], failure_rate_10=s["failure_rate_10"],
                yaw_bins={k: b["nme"] for k, b in s["yaw_bins"].items()},
                others_nme_mean=float(np.mean(other_nme)), others_num=len(other_nme))


def photo_score_cells(r: dict) -> str:
    """`photo_scores`' figures as the table cells PHOTO_SCORE_HEADER names."""
    return (f"{100 * r['nme_balanced']:.2f}% | {' / '.join(f'{100 * b:.2f}' for b in r['yaw_bins'].values())} | "
            f"{100 * r['nme_inner51']:.2f}% | {100 * r['failure_rate_10']:.1f}% | "
            f"{100 * r['others_nme_mean']:.2f}% ({r['others_num']})")
