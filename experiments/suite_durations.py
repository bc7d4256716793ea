"""The slowest tests of a measured run, as the table tests/conftest.py schedules by (issue 30).

    rm -rf /tmp/coldjax
    DLM_CACHE_DIR=/tmp/coldjax python -m pytest -n 3 -rs --durations=40 | tee /tmp/cold.log
    python experiments/suite_durations.py /tmp/cold.log --out tests/durations.json

pytest-xdist hands tests to its workers in collection order: a slow test collected late runs at the
end while the other workers idle.  tests/conftest.py runs the tests named in tests/durations.json
first, longest first.  This reads the `--durations` block of a pytest log (setup, call and teardown
lines), adds up each test's setup and call, keeps those of at least --min seconds and writes them
with the log's summary line, the git revision and the machine.  Take the durations from a cold run
(empty compilation cache): that is the run the order matters for.
"""
from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LINE = re.compile(r"^\s*([0-9.]+)s\s+(setup|call|teardown)\s+(\S+)\s*$")
SUMMARY = re.compile(r"=+ .*(passed|failed).* in [0-9.]+s.* =+|^[0-9]+ passed.* in [0-9.]+s")


def parse(text: str) -> tuple[dict, str | None]:
    """{node id: setup + call seconds} from pytest's --durations lines, and the run's summary line."""
    seconds = collections.defaultdict(float)
    summary = None
    for line in text.splitlines():
        m = LINE.match(line)
        if m and m.group(2) != "teardown":
            seconds[m.group(3)] += float(m.group(1))
        elif SUMMARY.search(line.strip()):
            summary = line.strip().strip("= ")
    return dict(seconds), summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", help="the output of a pytest run with --durations=N")
    ap.add_argument("--min", type=float, default=10.0, help="keep tests of at least this many seconds (default 10)")
    ap.add_argument("--out", default="tests/durations.json", help="where to write the table")
    args = ap.parse_args(argv)
    path = Path(args.log)
    if not path.is_file():
        print(f"suite_durations: {path}: no such file", file=sys.stderr)
        return 2
    seconds, summary = parse(path.read_text(errors="replace"))
    if not seconds:
        print(f"suite_durations: {path}: no --durations lines (run pytest with --durations=N)", file=sys.stderr)
        return 2
    from dlm.io.files import write_json
    from dlm.io.provenance import cpu_name, git_revision
    kept = {k: round(v, 2) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1]) if v >= args.min}
    write_json(args.out, dict(
        what="setup + call seconds of the slowest tests in a cold run; tests/conftest.py runs them first, longest first",
        command="DLM_CACHE_DIR=<empty folder> python -m pytest -n 3 -rs --durations=40, then "
                "python experiments/suite_durations.py LOG --out tests/durations.json",
        summary=summary, git_revision=git_revision(), cpu=cpu_name(), seconds=kept))
    print(f"{len(kept)} tests of at least {args.min:g} s ({sum(kept.values()):.0f} s in all) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
