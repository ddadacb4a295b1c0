"""Training in Ray, seen from the app: what the server itself spends while a run trains, and how
quick the pages stay while several sessions train and the rest keep using the app.

    .venv/bin/python benchmarks/bench_ray.py [--mode cpu|load|both] [--window 15]
        [--sessions 20] [--runs 4] [--epochs 3] [--subset 2500] [--think 1.0] [--acting N]

cpu:  a fresh server, one tab on the Train page, the Quick recipe training (a run of --cpu-epochs
      epochs, stopped once measured). Over --window seconds: CPU cores used by the Streamlit
      server process alone (the live view's once-a-second redraw included) and by the Ray
      worker holding the run; then the same with that tab on the home page (no live view), which
      isolates what watching a run costs. Expected: server < 0.3 core.
load: a fresh server with DAE_MAX_RUNS=2 and the server-side latent sliders (DAE_EXPLORER=off),
      --sessions browser sessions (each its own context of one Chromium). --runs of them start
      a run of --epochs epochs on --subset digits at the same moment; the others move a latent
      slider on Generate and go between pages, each action timed from the input to the new
      content. Checks: just after the runs are submitted exactly DAE_MAX_RUNS train and the rest
      show their place in the queue; every run finishes, is saved, and its checkpoint holds
      exactly --epochs epochs; each run had its own training process (distinct `dae_core train`
      processes = --runs). Expected: page and slider p95 < 1 s while the runs queue and train.
      The runs are the server's first unless --warm-ray, which first trains a one-epoch run so
      that Ray and its queue already run (a server that has trained before).
      All the browsers share this machine with the server, and a Chromium tab drawing a page
      costs more CPU than the server spends on it: 16 sessions acting at once saturate 2 cores
      with rendering alone, runs or not. --acting 1 lets the sessions act in turn (all 20 stay
      open and connected, the runs train throughout), which stands for a class whose browsers
      each have a machine of their own; `cpu_while_runs` shows where the cores went.

Prints one JSON object. Everything (server, Ray, Chromium) shares this machine's cores, so on a
2-core machine the latencies include the browsers' own rendering; numbers vary from run to run.
"""
import argparse
import json

from dae_harness.browser import missing

from ray_cpu_mode import run_cpu
from ray_load_mode import run_load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=("cpu", "load", "both"), default="both")
    p.add_argument("--window", type=float, default=15.0,
                   help="seconds of each CPU window (cpu), of actions before the runs start (load)")
    p.add_argument("--cpu-epochs", type=int, default=30,
                   help="cpu: epochs of the Quick run (it is stopped once measured)")
    p.add_argument("--sessions", type=int, default=20, help="load: browser sessions in all")
    p.add_argument("--runs", type=int, default=4, help="load: how many of them start a run")
    p.add_argument("--max-runs", type=int, default=2, help="load: DAE_MAX_RUNS of the server")
    p.add_argument("--epochs", type=int, default=3, help="load: epochs of each run")
    p.add_argument("--subset", type=int, default=2500, help="load: training digits of each run")
    p.add_argument("--think", type=float, default=1.0,
                   help="load: mean seconds a session waits between actions (0.5x-1.5x)")
    p.add_argument("--acting", type=int, default=0,
                   help="load: how many of the other sessions act at the same moment (default all); "
                        "1 takes turns, as if each browser had a machine of its own")
    p.add_argument("--warm-ray", action="store_true",
                   help="load: finish a tiny run first, so that Ray and its queue already run when the runs start")
    p.add_argument("--action-timeout", type=float, default=30.0, help="load: seconds before an action counts as failed")
    p.add_argument("--run-timeout", type=float, default=900.0, help="load: seconds for all runs to finish")
    args = p.parse_args()
    if missing():
        raise SystemExit(f"cannot run: {missing()}")
    if not 0 < args.runs < args.sessions:
        raise SystemExit("--runs must be at least 1 and fewer than --sessions")
    result = {}
    if args.mode in ("cpu", "both"):
        result["cpu"] = run_cpu(args.window, args.cpu_epochs)
    if args.mode in ("load", "both"):
        result["load"] = run_load(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
