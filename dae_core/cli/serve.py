"""The command line's serving commands: a run's job body (`train --run-dir`), an analysis job
`train --ray`, and the runs folder (`runs list`, `runs rm`)."""
from __future__ import annotations

import sys
import time

from dae_core.errors import DaeError

def cmd_train_run_dir(args) -> tuple[dict, str]:
    """Train the run folder's request there (what a run's Ray job executes)."""
    from dae_core.serve.runs import Run
    from dae_core.serve.jobs import yield_to_the_server
    from dae_core.serve.trainer import train_run

    yield_to_the_server()
    status = train_run(args.run_dir)
    st = Run(args.run_dir).status()
    if status == "failed":
        raise DaeError(f"training failed: {st.get('message', '')}")
    return {"run_dir": str(args.run_dir), **st}, f"{status}: {st.get('message', '')}"


def cmd_train_ray(args) -> tuple[dict, str]:
    """`train --ray`: the run as a Ray job, followed here; its checkpoint is copied to --out."""
    from dae_core import checkpoint as ckpt_io
    from dae_core.cli.plan import planned_run, report
    from dae_core.train import Stopped

    state, epochs, out = planned_run(args)
    run, ended = cmd_train_on_ray(state.config.to_dict(), epochs, args.resume)
    if ended.status == "failed" or (ended.status == "interrupted" and not run.has_checkpoint()):
        raise DaeError(f"training {ended.status}: {ended.message}")
    if run.has_checkpoint():
        ckpt_io.write_file(out, lambda f: f.write(run.checkpoint_path.read_bytes()), doing="save checkpoint to")
    state.history = ended.history
    stopped = None if ended.status == "finished" else Stopped(ended.status, ended.message, len(ended.history))
    return report(args, state, out, stopped)


def cmd_train_on_ray(config: dict, epochs: int, resume_from=None) -> tuple[object, object]:
    """Submit a run as a Ray job and follow it from its folder -> (its folder, the final RunState).
    Ctrl-C stops the run (its finished epochs are kept)."""
    from tqdm import tqdm

    from dae_core.serve import training
    from dae_core.serve.runs import Run

    history = None
    if resume_from is not None:  # a checkpoint file: the run starts from a copy of it
        from dae_core import checkpoint as ckpt_io

        history = ckpt_io.load(resume_from).history
    run = training.start(config, epochs, checkpoint=resume_from, history=history)
    print(f"run {run.id} submitted to {training.where()}; its folder: {run.folder}", file=sys.stderr)
    bar, seen = tqdm(unit="batch", file=sys.stderr, disable=None), 0
    try:
        while (state := training.state(Run(run.folder))).active:
            for b in state.batches[seen:]:
                bar.total = epochs * b.n_batches
                bar.n = (b.epoch - run.first_epoch) * b.n_batches + b.batch
                bar.set_postfix(epoch=b.epoch, loss=f"{b.loss:.4f}", refresh=False)
                bar.refresh()
            seen = len(state.batches)
            time.sleep(0.5)
    except KeyboardInterrupt:
        training.stop(run)
        deadline = time.monotonic() + 60
        while (state := training.state(run)).active and time.monotonic() < deadline:
            time.sleep(0.5)
    bar.close()
    return run, state


def cmd_runs_list(args) -> tuple[dict, str]:
    from dae_core.serve import disk, training

    rows = disk.listing(training.runs_dir())
    lines = [f"{r['name']:<40} {r['status']:<12} {r['epochs'] if r['epochs'] is not None else '':>6} "
             f"{r['mb']:>8.2f} MB" + (f"  saved as {r['saved_as']}" if r.get("saved_as") else "") for r in rows]
    used = disk.runs.disk_bytes(training.runs_dir()) / training.MB
    head = f"{'name':<40} {'status':<12} {'epochs':>6} {'size':>11}"
    foot = f"{used:.1f} of {training.max_bytes() / training.MB:.0f} MB used in {training.runs_dir()}"
    return {"runs": rows, "used_mb": used}, "\n".join([head, *lines, foot])


def cmd_runs_rm(args) -> tuple[dict, str]:
    from dae_core.serve import disk, runs, training

    run = runs.find(training.runs_dir(), args.name)
    if run is not None:
        training.discard(run)
        return {"removed": args.name}, f"removed run {args.name}"
    path = disk.delete_saved(training.runs_dir(), args.name)
    return {"removed": str(path)}, f"removed {path}"


def add_commands(command, sub) -> None:
    """`runs list|rm` on the parser's subcommands."""
    runs_parser = sub.add_parser("runs", help="the runs folder: list runs and saved checkpoints, remove one",
                                 description="The runs folder ($DAE_RUNS_DIR): list, remove.")
    runs_sub = runs_parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    sp = runs_sub.add_parser("list", help="every run and saved checkpoint, with its size")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(fn=cmd_runs_list)
    sp = runs_sub.add_parser("rm", help="remove a saved checkpoint (NAME) or an ended run (its id)")
    sp.add_argument("name", help="a saved run's name, as `runs list` shows it, or a run's id")
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    sp.set_defaults(fn=cmd_runs_rm)
