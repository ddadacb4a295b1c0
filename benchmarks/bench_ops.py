"""Where a training step of the engine spends its time, op by op, measured inside the engine.

    python benchmarks/bench_ops.py [--batches 60] [--top 25]

Every aten op of `batches` training steps (reference configuration, CPU) is timed where it
runs, so the numbers include what a kernel timed alone misses: page faults on fresh buffers,
OpenMP threads waking up, cold caches. Prints milliseconds per step for each op and input shapes.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dae_core.bench import op_times  # noqa: E402
from dae_core.errors import DaeError  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    try:
        r = op_times(args.batches, args.warmup)
    except DaeError as e:
        sys.exit(f"error: {e}")
    print(f"step: {r['wall_ms_per_step']:.2f} ms wall (timer included), {r['ops_ms_per_step']:.2f} ms in ops, "
          f"{r['minor_faults_per_step']:.0f} minor page faults")
    for op in r["ops"][: args.top]:
        print(f"{op['ms_per_step']:7.3f} ms  {op['calls_per_step']:4.1f}x  {op['op']:<28} {op['shapes']}")


if __name__ == "__main__":
    main()
