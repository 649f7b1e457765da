"""Stacked (torch.func vmap) training of C copies vs training them one at a time, measured in the same run.

Trains ``--copies`` copies of the digits MLP (64-32-10, tanh, float32) with Adam, each copy its own seed (initial
parameters and data order) and learning rate, for ``--epochs`` epochs with mini-batches of ``--batch-size``:

* one at a time with ``lib.train.train`` (the pure ``lib.rules`` update),
* one at a time with ``lib.train.train`` driving ``torch.optim.Adam`` (the usual PyTorch loop),
* all at once with ``lib.train.train_stacked``,

and prints the wall-clock and CPU (process) times, the speed-up ratios and the largest difference between a
copy's stacked and single results. ``--cnn`` does the same for ``lib.models.small_cnn`` on the 8x8 images. Each
variant runs ``--repeats`` times and the best time is kept; on a shared machine the CPU time is the steadier
figure (with one torch thread it is the work done, whatever else runs). Run:
``python benchmarks/stacked_training.py [--copies 16] [--threads 1] [--cnn]``.
"""

import argparse
import os

import numpy as np
import torch
from _common import best_of, digits_workload

from lib import train


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cnn", action="store_true", help="the small CNN on 8x8 images instead of the MLP")
    args = parser.parse_args()
    os.environ.setdefault("LIB_PROGRESS", "0")

    digits, model_fn = digits_workload(args.cnn)

    seeds = list(range(args.copies))
    etas = np.geomspace(1e-3, 3e-2, args.copies)
    common = {"epochs": args.epochs, "batch_size": args.batch_size, "threads": args.threads, "progress": False}

    def one_at_a_time_rule():
        return [train.train(model_fn(s), "adam", digits, hparams={"eta": float(eta)}, seed=s, **common)
                for s, eta in zip(seeds, etas, strict=True)]

    def one_at_a_time_torch():
        runs = []
        for s, eta in zip(seeds, etas, strict=True):
            model = model_fn(s)
            runs.append(train.train(model, torch.optim.Adam(model.parameters(), lr=float(eta)), digits, seed=s,
                                    **common))
        return runs

    def stacked():
        return train.train_stacked(model_fn, seeds, "adam", digits, hparams={"eta": etas}, **common)

    t_stacked, c_stacked, history = best_of(args.repeats, stacked)
    t_rule, c_rule, singles = best_of(args.repeats, one_at_a_time_rule)
    t_torch, c_torch, _ = best_of(args.repeats, one_at_a_time_torch)
    difference = max(np.max(np.abs(history.copy(c).loss - singles[c].loss)) for c in range(args.copies))
    copy_updates = args.copies * history.loss.shape[1]
    name = "small_cnn" if args.cnn else "mlp 64-32-10"
    print(f"{args.copies} copies of {name}, Adam, {args.epochs} epochs x {history.updates_per_epoch} updates "
          f"(batch {args.batch_size}) + {len(history.eval_step)} full evaluations, float32, torch threads="
          f"{args.threads}, os.cpu_count()={os.cpu_count()}, best of {args.repeats}")
    print(f"  {'':42s} {'wall s':>8s} {'CPU s':>8s} {'us/copy-update':>15s}")
    for label, wall, cpu in (
        ("one at a time, lib.train + lib.rules", t_rule, c_rule),
        ("one at a time, lib.train + torch.optim", t_torch, c_torch),
        ("stacked (vmap), lib.train.train_stacked", t_stacked, c_stacked),
    ):
        print(f"  {label:42s} {wall:8.3f} {cpu:8.3f} {wall / copy_updates * 1e6:15.0f}")
    print(f"  speed-up of stacked, wall (CPU): {t_rule / t_stacked:.1f}x ({c_rule / c_stacked:.1f}x) vs lib.rules "
          f"one at a time, {t_torch / t_stacked:.1f}x ({c_torch / c_stacked:.1f}x) vs torch.optim one at a time")
    print(f"  largest |stacked - single| mini-batch loss over all copies and updates: {difference:.2e}")

if __name__ == "__main__":
    main()
