"""Stacked training of C copies vs training them one at a time, each stacked backend measured in the same run.

Trains copies of the digits MLP (64-32-10, tanh, float32) with Adam, each copy its own seed (initial parameters
and data order) and learning rate, for ``--epochs`` epochs with mini-batches of ``--batch-size``:

* one at a time with ``lib.train.train`` (the pure ``lib.rules`` update) on the first ``--single`` copies,
* one at a time with ``lib.train.train`` driving ``torch.optim.Adam`` (the usual PyTorch loop), same copies,
* all ``--copies`` at once with ``lib.train.train_stacked`` and each ``backend``: ``vmap`` (``torch.func.vmap``
  of ``functional_call``, the path before issue 23), ``autograd`` (stacked weights, ``torch.baddbmm`` forward,
  autograd backward) and ``bmm`` (the same forward, hand-written backward: ``lib.models.StackedMLP``; the
  Adam step fused in place over the whole stack), and ``bmm-unfused`` (``bmm`` with the step returned as a new
  array and then added, the update of the path before issue 23),

and prints the wall-clock and CPU (process) times per copy-update, the speed-up of each stacked backend over
one-at-a-time per copy-update, and the largest difference between a copy's stacked and single mini-batch
losses. One-at-a-time costs the same per copy-update whatever the number of copies, so it is timed once on
``--single`` copies and compared with every ``--copies``. ``--cnn`` uses ``lib.models.small_cnn`` (``vmap``
only). Each variant runs ``--repeats`` times and the best time is kept; on a shared machine the CPU time with
one torch thread is the steadier figure (the work done, whatever else runs). Run:
``python benchmarks/stacked_training.py [--copies 16 64] [--threads 1] [--cnn]``.
"""

import argparse
import os

import numpy as np
import torch
from _common import best_of, digits_workload

from lib import rules, train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--single", type=int, default=16, help="copies trained one at a time")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["vmap", "autograd", "bmm-unfused", "bmm"])
    parser.add_argument("--cnn", action="store_true", help="the small CNN on 8x8 images instead of the MLP")
    args = parser.parse_args()
    os.environ.setdefault("LIB_PROGRESS", "0")
    torch.set_num_threads(args.threads)
    backends = ["vmap"] if args.cnn else args.backends

    digits, model_fn = digits_workload(args.cnn)
    n_max = max(*args.copies, args.single)
    seeds = list(range(n_max))
    etas = np.geomspace(1e-3, 3e-2, n_max)
    common = {"epochs": args.epochs, "batch_size": args.batch_size, "threads": args.threads, "progress": False}

    def one_at_a_time_rule():
        return [train.train(model_fn(s), "adam", digits, hparams={"eta": float(eta)}, seed=s, **common)
                for s, eta in zip(seeds[:args.single], etas[:args.single], strict=True)]

    def one_at_a_time_torch():
        runs = []
        for s, eta in zip(seeds[:args.single], etas[:args.single], strict=True):
            model = model_fn(s)
            runs.append(train.train(model, torch.optim.Adam(model.parameters(), lr=float(eta)), digits, seed=s,
                                    **common))
        return runs

    adam = rules.RULES["adam"]
    # the same rule behind a wrapper without an ``inplace`` argument: train_stacked then applies the returned step
    # (a new full-size array, then theta.add_) instead of the fused in-place update
    unfused = adam._replace(update=lambda g, state, theta, **hp: adam.update(g, state, theta, **hp))

    def stacked(n, backend):
        rule = unfused if backend == "bmm-unfused" else adam
        backend = "bmm" if backend == "bmm-unfused" else backend
        return lambda: train.train_stacked(model_fn, seeds[:n], rule, digits, hparams={"eta": etas[:n]},
                                           backend=backend, **common)

    t_rule, c_rule, singles = best_of(args.repeats, one_at_a_time_rule)
    t_torch, c_torch, _ = best_of(args.repeats, one_at_a_time_torch)
    updates = singles[0].steps
    single_updates = args.single * updates
    name = "small_cnn" if args.cnn else "mlp 64-32-10"
    print(f"{name}, Adam, {args.epochs} epochs x {singles[0].updates_per_epoch} updates (batch {args.batch_size}) "
          f"+ {len(singles[0].eval_step)} full evaluations, float32, torch threads={args.threads}, "
          f"os.cpu_count()={os.cpu_count()}, best of {args.repeats}")
    print(f"  {'':46s} {'wall s':>8s} {'CPU s':>8s} {'us/copy-update':>15s} {'speed-up wall (CPU)':>20s}")
    for label, wall, cpu in (
        (f"one at a time x{args.single}, lib.train + lib.rules", t_rule, c_rule),
        (f"one at a time x{args.single}, lib.train + torch.optim", t_torch, c_torch),
    ):
        print(f"  {label:46s} {wall:8.3f} {cpu:8.3f} {cpu / single_updates * 1e6:15.0f}")
    per_single_wall, per_single_cpu = t_rule / single_updates, c_rule / single_updates
    for n in args.copies:
        for backend in backends:
            wall, cpu, history = best_of(args.repeats, stacked(n, backend))
            per_wall, per_cpu = wall / (n * updates), cpu / (n * updates)
            shared = min(n, args.single)
            diff = max(np.max(np.abs(history.copy(c).loss - singles[c].loss)) for c in range(shared))
            label = f"stacked x{n}, backend={backend}"
            print(f"  {label:46s} {wall:8.3f} {cpu:8.3f} {per_cpu * 1e6:15.0f} "
                  f"{per_single_wall / per_wall:10.1f}x ({per_single_cpu / per_cpu:4.1f}x)   "
                  f"max |stacked - single| loss {diff:.1e}")
    print("  speed-ups are per copy-update against one at a time with lib.rules; us/copy-update is CPU time")


if __name__ == "__main__":
    main()
