"""What every experiment records: config, seed, git revision, platform, results; tables for
docs/results.md.  Experiments import this; the library never does."""
from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


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
    from dlm.bench import git_revision
    from dlm.io import write_json
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
