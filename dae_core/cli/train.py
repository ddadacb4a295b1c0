"""The command line's training commands: train in this process (as a Ray job: cli.serve), refine,
train-split and train-classifier. Each returns (result, text): what --json prints, and the plain
report. None of them replaces an existing file unless asked (--overwrite)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from dae_core import checkpoint as ckpt_io
from dae_core.cli.plan import planned_run, report
from dae_core.config import TrainConfig
from dae_core.errors import DaeError
from dae_core.words import count


def _follow(state, events, epochs: int, on_epoch=None):
    """Draw the engine's events as a progress bar on stderr; returns the Stopped event, if any."""
    from tqdm import tqdm

    from dae_core.train import BatchStats, EpochStats, Stopped

    bar, first, stopped = tqdm(unit="batch", file=sys.stderr, disable=None), state.epochs_done, None
    for event in events:
        if isinstance(event, BatchStats):
            bar.total = epochs * event.n_batches
            bar.n = (event.epoch - first - 1) * event.n_batches + event.batch
            bar.set_postfix(epoch=event.epoch, loss=f"{event.loss:.4f}", refresh=False)
            bar.refresh()
        elif isinstance(event, EpochStats):
            if on_epoch is not None:
                on_epoch(event)
            scores = f"val {event.val_loss:.5f}" + ("" if event.val_accuracy is None
                                                    else f"  accuracy {event.val_accuracy:.4f}")
            bar.write(f"epoch {event.epoch}: train {event.train_loss:.5f}  {scores}  {event.seconds:.2f}s",
                      file=sys.stderr)
        elif isinstance(event, Stopped):
            stopped = event
    bar.close()
    return stopped


def cmd_train(args) -> tuple[dict, str]:
    """`train` in this process (`train --ray` is cli.serve's)."""
    from dae_core.train import fastest_compile_mode, fit, prepare_data

    state, epochs, out = planned_run(args)
    # Saved after every finished epoch, atomically: a killed run keeps its last epoch. (cli.main has
    # refused an existing --out; later epochs replace this run's own file.)
    events = fit(state, prepare_data(state.config, state.device), epochs,
                 compile_mode=fastest_compile_mode(state))
    stopped = _follow(state, events, epochs, lambda e: ckpt_io.save_state(state, out, {"val_mse": e.val_loss}))
    return report(args, state, out, stopped)


def cmd_refine(args) -> tuple[dict, str]:
    from dae_core.refine import RoundStart, refine
    from dae_core.train import prepare_data

    ckpt = ckpt_io.load(args.checkpoint)
    state = ckpt_io.to_state(ckpt)
    data = prepare_data(state.config, state.device)
    methods = tuple(args.methods.split(","))
    for event in refine(state, data, args.k, args.rounds, args.epochs, methods, args.threshold,
                        args.weight, args.augment, args.seed, agreement=args.agreement,
                        invariant=args.invariant):
        if isinstance(event, RoundStart):
            print(f"round {event.round}: {event.method} pseudo-labels, {event.confident:.1%} trusted",
                  file=sys.stderr)
        else:
            print(f"round {event.round} epoch {event.epoch}: recon {event.recon_loss:.5f} "
                  f"val {event.val_loss:.5f} ce {event.ce_loss:.4f} {event.seconds:.1f}s", file=sys.stderr)
    recipe = {"refined_from": Path(args.checkpoint).stem, "refine_rounds": args.rounds,
              "refine_epochs": args.epochs, "refine_methods": args.methods,
              "refine_weight": args.weight, "refine_augment": args.augment,
              "refine_invariant": args.invariant}
    ckpt_io.save(ckpt_io.to_payload(state, {"val_mse": state.history[-1]["val_loss"], **recipe}), args.out,
                 overwrite=args.overwrite)
    return ({"checkpoint": str(args.out), **recipe, "history": state.history},
          f"saved {args.out}; val MSE {state.history[-1]['val_loss']:.5f}")


def cmd_train_classifier(args) -> tuple[dict, str]:
    from dae_core.classifier import classifier_config, save_classifier, train_classifier

    t0 = time.perf_counter()
    state, events = train_classifier(classifier_config(args.epochs, args.seed, args.subset))
    stopped = _follow(state, events, args.epochs)
    if stopped is not None and stopped.reason == "diverged":
        raise DaeError(f"training diverged: {stopped.message}")
    metrics = {"test_accuracy": state.history[-1]["val_accuracy"], "train_seconds": time.perf_counter() - t0,
               "epochs": args.epochs, "seed": args.seed, "train_subset": args.subset}
    out = save_classifier(state.model.eval(), args.out, metrics, state.history, state.config,
                          overwrite=args.overwrite)
    return ({"checkpoint": str(out), **metrics, "history": state.history},
          f"saved {out}; test accuracy {metrics['test_accuracy']:.4f} ({metrics['train_seconds']:.0f}s)")




def cmd_train_split(args) -> tuple[dict, str]:
    """Train the split-code autoencoder from scratch against a teacher's clusters, saving after
    every epoch."""
    from dae_core.data import training_split
    from dae_core.split import SplitConfig
    from dae_core.split_train import cluster_targets, fit_split, new_split_state
    from dae_core.train import prepare_data

    split = SplitConfig(style_dim=args.style_dim, class_weight=args.class_weight, view_augment=args.augment,
                        stroke=args.stroke, plain=args.plain, swap_weight=args.swap_weight)
    cfg = TrainConfig(latent_dim=split.n_classes + split.style_dim, width=args.width, epochs=args.epochs,
                      lr=args.lr, schedule=args.schedule, batch_size=args.batch_size, seed=args.seed,
                      device=args.device, train_subset=args.train_subset)
    t0 = time.perf_counter()
    teacher = ckpt_io.load(args.teacher)
    print(f"clustering {args.teacher}'s codes with {args.teacher_method}...", file=sys.stderr)
    targets, _ = cluster_targets(teacher.model, training_split(cfg).train_images, split.n_classes,
                                 args.teacher_method, args.seed)
    print(f"  {(targets >= 0).mean():.1%} of the training digits trusted ({time.perf_counter() - t0:.0f}s)",
          file=sys.stderr)
    state = new_split_state(cfg, split)
    data = prepare_data(cfg, state.device)
    recipe = {"teacher": Path(args.teacher).stem, "teacher_method": args.teacher_method,
              "trusted": float((targets >= 0).mean())}
    for s in fit_split(state, data, targets, split):
        print(f"epoch {s.epoch}: recon {s.recon_loss:.5f}  class {s.class_loss:.4f}  "
              f"val {s.val_loss:.5f}  {s.seconds:.1f}s", file=sys.stderr)
        metrics = {"val_mse": s.val_loss, "train_seconds": time.perf_counter() - t0, **recipe}
        ckpt_io.save(ckpt_io.to_payload(state, metrics), args.out, overwrite=args.overwrite or s.epoch > 1)
    val = state.history[-1]["val_loss"]
    return ({"checkpoint": str(args.out), "config": cfg.to_dict(), "split": split.to_dict(), **recipe,
             "train_seconds": time.perf_counter() - t0, "history": state.history},
            f"saved {args.out} after {count(cfg.epochs, 'epoch')} ({time.perf_counter() - t0:.0f}s); "
            f"val MSE {val:.5f}")
