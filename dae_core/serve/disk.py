"""The runs folder's bound, saving a run under a name, and deleting saved runs.

Unsaved runs that have ended are pruned, oldest first, when the folder passes its bound; a run
still training and every saved checkpoint stay. When saved runs alone fill the bound, Save is
refused with one line until somebody deletes one (`dae runs rm NAME`, or the app).
"""
from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from dae_core.errors import CheckpointError
from dae_core.names import safe_path
from dae_core.serve import runs
from dae_core.serve.runs import Run, RunError

log = logging.getLogger(__name__)
MB = 1024 * 1024


def prune(runs_dir: Path, max_bytes: int, keep: tuple[str, ...] = ()) -> list[str]:
    """Remove ended, unsaved runs oldest first until the folder holds at most max_bytes -> their ids.
    Runs named in `keep`, saved runs, and runs not ended are never removed."""
    total = runs.disk_bytes(runs_dir)
    gone = []
    if total <= max_bytes:
        return gone
    for run in reversed(runs.all_runs(runs_dir)):  # oldest first
        if total <= max_bytes:
            break
        if run.id in keep or run.saved_as() or run.status().get("status") not in runs.ENDED:
            continue
        total -= run.size_bytes()
        runs.remove(run)
        gone.append(run.id)
        log.info("pruned unsaved run %s: the runs folder passed its bound of %.0f MB", run.id, max_bytes / MB)
    return gone


def save(run: Run, name: str, runs_dir: Path, max_bytes: int) -> Path:
    """<runs dir>/<name>.pt from the run's latest epoch, never over an existing name -> its path.
    Refused with one line when the folder is full of saved runs."""
    if not run.has_checkpoint():
        raise RunError("no epoch finished, so there is nothing to save")
    path = safe_path(name, runs_dir)  # refuses unsafe and taken names
    prune(runs_dir, max_bytes, keep=(run.id,))
    if runs.disk_bytes(runs_dir) > max_bytes:
        used = runs.disk_bytes(runs_dir) / MB
        raise RunError(f"the runs folder is full ({used:.0f} of {max_bytes / MB:.0f} MB): "
                       "delete a saved run first")
    try:
        os.link(run.checkpoint_path, path)  # no copy: the run's next epoch replaces latest.pt, not this
    except FileExistsError:
        raise CheckpointError(f"a checkpoint named {path.stem!r} already exists; choose another name") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise RunError(f"cannot save {path.name}: {e.strerror or e}") from None
        from dae_core.files import write_atomic  # no hard links here: a copy, written atomically

        try:
            data = run.checkpoint_path.read_bytes()
            write_atomic(path, lambda f: f.write(data), overwrite=False)
        except FileExistsError:
            raise CheckpointError(f"a checkpoint named {path.stem!r} already exists; choose another name") from None
        except OSError as e:  # a full disk, say: one line, and write_atomic left nothing behind
            raise RunError(f"cannot save {path.name}: {e.strerror or e}") from None
    run.mark_saved(path.stem)
    return path


def delete_saved(runs_dir: Path, name: str) -> Path:
    """Delete the saved run <runs dir>/<name>.pt (and the run folder it was saved from) -> its path."""
    try:
        path = safe_path(name, runs_dir, overwrite=True)
    except CheckpointError as e:
        raise RunError(str(e)) from None
    if not path.exists():
        raise RunError(f"there is no saved run named {path.stem!r}")
    path.unlink()
    for run in runs.all_runs(runs_dir):
        if run.saved_as() == path.stem:
            runs.remove(run)
    return path


def listing(runs_dir: Path) -> list[dict]:
    """One dict per saved checkpoint and per run folder: name, kind, status, epochs, MB."""
    rows = [{"name": p.stem, "kind": "saved", "status": "saved", "epochs": None,
             "mb": round(p.stat().st_size / MB, 2)} for p in runs.saved_checkpoints(runs_dir)]
    for run in runs.all_runs(runs_dir):
        rows.append({"name": run.id, "kind": "run", "status": run.status().get("status", "queued"),
                     "epochs": len(run.history()), "mb": round(run.size_bytes() / MB, 2),
                     "saved_as": run.saved_as()})
    return rows
