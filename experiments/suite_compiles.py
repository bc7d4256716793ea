"""Where the test suite's time goes (issue 30): compilation by test and by program, from a run with
DLM_COMPILE_REPORT set (tests/conftest.py writes one file per xdist worker).

    rm -rf /tmp/coldjax /tmp/compiles
    DLM_CACHE_DIR=/tmp/coldjax DLM_COMPILE_REPORT=/tmp/compiles python -m pytest -n 3 -rs --durations=15
    python experiments/suite_compiles.py /tmp/compiles --json experiments/results/suite_compiles.json

A cold run (empty compilation cache) shows what each program costs to compile; a program compiled
by more than one worker, or more than once in one worker (after jax.clear_caches or under new
shapes), is the waste a shared fixture or a smaller shape would remove.  XLA time counts the
persistent cache's loads too (a hit is marked: "saved" is the compile time it stood in for).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def summarise(records: list[dict], top: int) -> dict:
    by_test = collections.defaultdict(lambda: dict(xla_s=0.0, trace_lower_s=0.0, compiles=0, cache_hits=0))
    by_program = collections.defaultdict(lambda: dict(xla_s=0.0, compiles=0, cache_hits=0, workers=set(),
                                                      tests=set()))
    for r in records:
        t = by_test[r["test"]]
        if r["stage"] != "xla":
            t["trace_lower_s"] += r["seconds"]
            continue
        p = by_program[r["program"]]
        hit = r["saved"] is not None
        for d in (t, p):
            d["xla_s"] += r["seconds"]
            d["cache_hits" if hit else "compiles"] += 1
        p["workers"].add(r["worker"])
        p["tests"].add(r["test"])
    tests = sorted(by_test.items(), key=lambda kv: -(kv[1]["xla_s"] + kv[1]["trace_lower_s"]))
    programs = sorted(by_program.items(), key=lambda kv: -kv[1]["xla_s"])
    xla = [r for r in records if r["stage"] == "xla"]
    return dict(
        xla_s_total=sum(r["seconds"] for r in xla),
        trace_lower_s_total=sum(r["seconds"] for r in records if r["stage"] != "xla"),
        compiles=sum(r["saved"] is None for r in xla), cache_hits=sum(r["saved"] is not None for r in xla),
        programs_distinct=len(by_program),
        tests=[dict(test=k, **{n: round(v, 2) if isinstance(v, float) else v for n, v in d.items()})
               for k, d in tests[:top]],
        programs=[dict(program=k, xla_s=round(d["xla_s"], 2), compiles=d["compiles"], cache_hits=d["cache_hits"],
                       workers=len(d["workers"]), tests=len(d["tests"])) for k, d in programs[:top]])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="the DLM_COMPILE_REPORT folder of a test run")
    ap.add_argument("--top", type=int, default=20, help="rows per table (default 20)")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args(argv)
    files = sorted(Path(args.folder).glob("*.json"))
    if not files:
        print(f"error: no worker reports (*.json) in {args.folder}", file=sys.stderr)
        return 2
    records = []
    for f in files:
        data = json.loads(f.read_text())
        records += [dict(r, worker=data["worker"]) for r in data["compiles"]]
    out = summarise(records, args.top)
    print(f"XLA compile/load {out['xla_s_total']:.0f} s ({out['compiles']} compiles, {out['cache_hits']} cache "
          f"loads, {out['programs_distinct']} program names); tracing + lowering {out['trace_lower_s_total']:.0f} s")
    print("\nby test (s: XLA, trace+lower; compiles, cache loads)")
    for t in out["tests"]:
        print(f"  {t['xla_s']:7.1f} {t['trace_lower_s']:6.1f} {t['compiles']:5d} {t['cache_hits']:5d}  {t['test']}")
    print("\nby program (s: XLA; compiles, cache loads, workers, tests)")
    for p in out["programs"]:
        print(f"  {p['xla_s']:7.1f} {p['compiles']:5d} {p['cache_hits']:5d} {p['workers']:3d} {p['tests']:4d}  "
              f"{p['program']}")
    if args.json:
        from dlm.io.files import write_json
        from dlm.io.provenance import environment
        write_json(args.json, dict(out, environment=environment(), worker_files=[f.name for f in files]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
