"""A campaign's record: one line per training session, appended to a JSON-lines file that is
committed (experiments/results/campaign_<name>.jsonl), so progress outlives the machine.

    dlm train CONFIG --minutes 90 --campaign-log experiments/results/campaign_realtime_320.jsonl

The line is read from what the session left in its workdir: weights.json (the exported weights'
manifest: synthetic and real-photo scores, samples and CPU hours over the whole chain of runs)
and session.json (this session's steps, samples, seconds and images/s).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

from dlm.io.files import atomic_path
from dlm.io.provenance import cpu_name, git_revision


def campaign_line(workdir, roi_auto: dict | None = None, real: dict | None = None) -> dict:
    """The record of the session that last ran in `workdir`.  roi_auto: an `eval_aflw2000(...,
    roi="auto")` result on the dev set, reported as found rate and balanced NME.  real: the dev
    set's `aflw2000.summary` (with its "dir") when the session could not score it itself (a run on
    an accelerator machine, where the photos do not travel); by default the manifest's.
    A session on an accelerator is recorded with its device and device hours, not CPU hours."""
    workdir = Path(workdir)
    manifest = json.loads((workdir / "weights.json").read_text())
    session = json.loads((workdir / "session.json").read_text())
    metrics = manifest.get("metrics", {})
    test, real = metrics.get("test") or {}, real if real is not None else (metrics.get("real") or {})
    device = ((manifest.get("chain") or [{}])[-1].get("device") or "cpu")
    on_cpu = device.lower() == "cpu"
    hours = session["train_seconds"] / 3600
    line = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                cpu=cpu_name() if on_cpu else None, device=None if on_cpu else device, cores=session["cores"],
                git_revision=git_revision(),
                name=manifest.get("train_config", {}).get("name"),
                # What the session trained on: a campaign may move to a more realistic pool.
                pool=manifest.get("train_config", {}).get("pool"), pool_num=(manifest.get("pool") or {}).get("num"),
                augment=manifest.get("train_config", {}).get("augment"),
                steps_session=session["end_step"] - session["start_step"], chain_step=session["chain_step"],
                campaign_steps=session["campaign_steps"],
                samples_session=session["samples"], samples_total=manifest.get("samples_seen"),
                cpu_hours_session=round(hours * session["cores"], 4) if on_cpu else 0.0,
                device_hours_session=None if on_cpu else round(hours, 4),
                cpu_hours_total=manifest.get("cpu_hours"), images_per_s=session["images_per_s"],
                lr_end=session["lr"], synthetic_nme=test.get("nme"),
                dev_dir=real.get("dir"), dev_nme_balanced=real.get("nme_balanced"),
                dev_nme_inner51=real.get("nme_inner51"), dev_failure_rate_10=real.get("failure_rate_10"),
                dev_num_images=real.get("num_images"),
                # By yaw (0-30 / 30-60 / 60-90 degrees): a probe may trade profiles for frontal faces.
                dev_nme_yaw_bins=real.get("yaw_bins"), weights_sha256=manifest.get("sha256"))
    if roi_auto is not None:
        # From 2026-12-04 14:30 the own-ROI figure finds faces as dlm reconstruct does: the face
        # detector's boxes first (before: the landmark network's full search alone).
        line.update(dev_roi_auto_found=roi_auto["detection_rate"], dev_roi_auto_nme_balanced=roi_auto["nme_balanced"],
                    dev_roi_auto_detector=roi_auto.get("detector"))
    return line


def append_line(path, line: dict) -> None:
    """Append one JSON line; the file is rewritten whole through a temporary file (atomic)."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(old + json.dumps(line, sort_keys=True) + "\n")
