"""A weight-space average ("model soup", Wortsman et al. 2022) of networks fine-tuned from one start.

    python experiments/weight_soup.py ~/.cache/dlm/soups/campaigns.npz \\
        ~/.cache/dlm/runs/realtime_real10s_320/weights.npz ~/.cache/dlm/runs/realtime_real10n_320/weights.npz \\
        ~/.cache/dlm/runs/realtime_lenses_320/weights.npz
    python experiments/glasses_subsets.py ~/.cache/dlm/soups/campaigns.npz

Fine-tunes of one network on different renders land near each other; their mean can score better than
each (the noise of each run's draws averages out) or show that they circle one point.  Every array,
batch statistics included, is the weighted mean of the parts' (float64, stored as float16 as every
shipped network is); the manifest is the first part's with the soup's sha256 and its parts.  The parts
must be the same network (same arrays and shapes) and should share a start (`parent.json`'s chain):
an average of unrelated networks is noise.  Score the soup as any weights file (`glasses_subsets.py`,
`ship_weights.py`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def soup(out: Path, parts: list[tuple[Path, float]]) -> dict:
    """Write the weighted mean of parts' weights to out (.npz and .json); returns its manifest."""
    import numpy as np
    from dlm.io.files import write_json, write_npz_deterministic
    from dlm.landmarks import predictor as lmk
    total = sum(w for _, w in parts)
    if total <= 0 or any(w < 0 for _, w in parts):
        raise ValueError("part weights must be >= 0 with a positive sum")
    arrays = []
    for path, _ in parts:
        lmk.load_weights(path)      # the manifest's checks: present, sha256, arrays as listed
        with np.load(path, allow_pickle=False) as z:
            arrays.append({k: z[k] for k in z.files})
    keys = set(arrays[0])
    for (path, _), a in zip(parts, arrays):
        if set(a) != keys or any(a[k].shape != arrays[0][k].shape for k in keys):
            raise ValueError(f"{path}: not the same network as {parts[0][0]} (arrays differ)")
    mean = {k: (sum(a[k].astype(np.float64) * w for a, (_, w) in zip(arrays, parts)) / total).astype(np.float16)
            for k in sorted(keys)}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_npz_deterministic(out, mean)
    manifest = json.loads(parts[0][0].with_suffix(".json").read_text())
    manifest.update(sha256=lmk.sha256(out), weights_file=out.name,
                    soup=[dict(weights=str(p), sha256=lmk.sha256(p), share=w / total) for p, w in parts])
    write_json(out.with_suffix(".json"), manifest)
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="the soup's weights file (.npz; its manifest goes next to it)")
    ap.add_argument("parts", nargs="+", help="weights files, each optionally PATH:SHARE (default share 1)")
    args = ap.parse_args(argv)
    from dlm.landmarks.predictor import WeightsError
    parts = []
    for spec in args.parts:
        path, sep, share = spec.rpartition(":")
        if not sep:
            path, share = spec, "1"
        try:
            parts.append((Path(path).expanduser(), float(share)))
        except ValueError:
            print(f"weight_soup: {spec}: the share after ':' must be a number", file=sys.stderr)
            return 2
    out = Path(args.out).expanduser()
    if out.suffix != ".npz" or any(p == out for p, _ in parts):
        print(f"weight_soup: {out}: the soup must be a new .npz file", file=sys.stderr)
        return 2
    try:
        m = soup(out, parts)
    except (ValueError, WeightsError) as e:
        print(f"weight_soup: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(parts)} parts, sha256 {m['sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
