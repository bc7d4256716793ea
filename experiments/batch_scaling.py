"""Batch fitting scaling curve: fits/s and compile seconds by batch size and by device count.

Reproduce (2-core CPU: about 10 minutes, --quick about 2):
    python experiments/batch_scaling.py
    python experiments/batch_scaling.py --quick

Runs `dlm bench batch --devices D` (the CPU split into D XLA devices with
--xla_force_host_platform_device_count, each run its own process) for every device count, the
real-time fitter at batch 1 .. 4096 and the offline fitter at 1 and 8.  On one CPU the forced
devices share the same cores: the curve measures what sharding costs and that every layout
finishes (it deadlocked at 16 faces per device before the LM's Gauss-Jordan solver), not a
speed-up; on a GPU host the same command with the real devices is the measurement that counts.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, markdown_table, record, start, write_table

ROOT = Path(__file__).resolve().parent.parent


def get_config(quick: bool = False) -> dict:
    return dict(devices=[1, 4] if quick else [1, 2, 4], sizes=[1, 64] if quick else [1, 8, 64, 512, 4096],
                offline_sizes=[1] if quick else [1, 8], repeats=1 if quick else 3)


def _bench(devices: int, config: dict) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "bench.json"
        cmd = [sys.executable, "-m", "dlm", "bench", "batch", "--devices", str(devices), "--sizes",
               *map(str, config["sizes"]), "--offline-sizes", *map(str, config["offline_sizes"]),
               "--repeats", str(config["repeats"]), "--json", str(out)]
        print("==", " ".join(cmd[2:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        return json.loads(out.read_text())


def main(argv=None):
    config, name, started = start(__doc__, get_config, "batch_scaling", argv)[1:]
    results = {}
    for d in config["devices"]:
        r = _bench(d, config)
        results[str(d)] = dict(devices=r["devices"], environment=r["environment"], **r["results"])
    rec = record(name, config, results, RESULTS / f"{name}.json", started)
    rows = [[fitter, row["batch_size"], d, round(row["fits_per_s"], 1), round(row["compile_s"], 1),
             round(row["median_s"] * 1e3, 1)]
            for d, r in results.items() for fitter in ("realtime", "offline") for row in r.get(fitter, [])]
    table = markdown_table(["fitter", "batch", "devices", "fits/s", "compile (s)", "median call (ms)"], rows)
    cpu = next(iter(results.values()))["environment"].get("cpu", "this CPU")
    write_table(name, f"Batch fitting by batch size and forced host device count on {cpu} (one process per "
                f"device count; the devices share the CPU's cores)", rec, table)
    print(table)


if __name__ == "__main__":
    main()
