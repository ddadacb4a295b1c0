"""Where a training step of the engine spends its time, op by op (PyTorch's profiler).

    python benchmarks/bench_ops.py [--batches 60] [--warmup 20] [--top 25]

Runs `warmup` steps of the reference configuration on the CPU, then profiles `batches` more
inside the engine's own loop, and prints the ops by self CPU time per step, with input shapes.
"""
import argparse
import sys
import time

from torch.profiler import ProfilerActivity, profile

from dae_core.config import TrainConfig
from dae_core.train import fit, new_state, prepare_data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    state = new_state(TrainConfig(device="cpu", epochs=1))
    data = prepare_data(state.config, state.device)
    if args.warmup + args.batches >= -(-len(data.x_train) // state.config.batch_size):
        sys.exit("error: warmup + batches must fit in one epoch (187 batches)")
    steps = fit(state, data, report_every=1)
    for _ in range(args.warmup):
        next(steps)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t = time.perf_counter()
        for _ in range(args.batches):
            next(steps)
        wall = time.perf_counter() - t
    print(f"step: {1000 * wall / args.batches:.2f} ms wall, profiler included")
    rows = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    for e in rows[: args.top]:
        print(f"{e.self_cpu_time_total / 1000 / args.batches:7.3f} ms  {e.count / args.batches:4.1f}x  "
              f"{e.key:<32} {e.input_shapes}")


if __name__ == "__main__":
    main()
