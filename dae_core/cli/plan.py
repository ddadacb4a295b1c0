"""What `dae train` trains and where it saves it, whether it trains in this process (cli.train) or
as a Ray job (cli.serve): the recipe from the flags or from the checkpoint it resumes, the file it
writes, and the closing report."""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from dae_core import checkpoint as ckpt_io
from dae_core.config import TrainConfig, preset
from dae_core.errors import ConfigError, DaeError
from dae_core.paths import CHECKPOINT_DIR
from dae_core.state import TrainState
from dae_core.words import count


def _config_from_args(args) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
            if getattr(args, f.name) is not None}


def planned_run(args) -> tuple[TrainState, int, Path]:
    """(the state to train, how many epochs, the file to save it to) of `train`'s flags: a new model
    of the preset and flags, or the --resume checkpoint's, whose recipe the flags may not change."""
    from dae_core.train import new_state

    given = _config_from_args(args)
    if args.resume:
        ckpt = ckpt_io.load(args.resume)
        fixed = {k: v for k, v in given.items() if k not in ("epochs", "device")}
        changed = [k for k, v in fixed.items() if getattr(ckpt.config, k) != v]
        if changed or args.preset:
            raise ConfigError(f"cannot change {', '.join(changed) or 'the preset'} when resuming; "
                              f"only --epochs and --device apply")
        state = ckpt_io.to_state(ckpt, given.get("device"))
        epochs = given.get("epochs", ckpt.config.epochs)
        TrainConfig(epochs=epochs)  # validates the number of extra epochs
        resumed = Path(args.resume)  # left as it is, unless it is also --out and --overwrite is given
        out = Path(args.out) if args.out else free_path(resumed.with_name(f"{resumed.stem}-more.pt"))
    else:
        state = new_state(preset(args.preset or "reference", **given))
        epochs = state.config.epochs
        out = Path(args.out) if args.out else free_path(
            CHECKPOINT_DIR / "runs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.pt")
    if not args.out:
        print(f"saving to {out}", file=sys.stderr)
    return state, epochs, out


def free_path(path: Path) -> Path:
    """`path` if no file has that name, else the first free one of path-2, path-3, ..."""
    candidate, n = path, 2
    while candidate.exists():
        candidate, n = path.with_name(f"{path.stem}-{n}{path.suffix}"), n + 1
    return candidate


def report(args, state: TrainState, out: Path, stopped) -> tuple[dict, str]:
    """(what --json prints, the plain report) of a finished `train`; a diverged run is an error."""
    if stopped is not None and stopped.reason == "diverged":
        raise DaeError(f"training diverged: {stopped.message}")
    result = {"checkpoint": str(out), "config": state.config.to_dict(), "history": state.history}
    last = state.history[-1] if state.history else {}
    kept = f" ({args.resume} is unchanged)" if args.resume and not args.out else ""
    return (result, f"saved {out}{kept} after {count(len(state.history), 'epoch')}; "
                    f"val MSE {last.get('val_loss', float('nan')):.5f}")
