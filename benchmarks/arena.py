"""The optimizer arena of the Adam chapter trained three ways, timed in the same run.

The arena is 7 optimizers (GD, momentum, Nesterov, Adagrad, RMSProp, Adam, AdamW) x ``--etas`` learning rates
x ``--seeds`` seeds on the digits MLP (64-32-10; ``--cnn``: ``lib.models.small_cnn`` on the 8x8 images), each
copy trained for ``--epochs`` epochs with mini-batches of ``--batch-size`` on the training part left after the
validation split, exactly as ``lib.arena.arena`` does it:

* one copy at a time with ``lib.train.train`` (the pure ``lib.rules`` update; one Python training loop per copy),
* one stacked run per optimizer (``lib.arena.arena(..., together=False)``: ``lib.train.train_stacked`` over
  learning rates x seeds),
* one stacked run for the whole arena (``lib.arena.arena(..., together=True)``: the seven rules combined by
  ``lib.arena.combine``).

It prints the wall-clock and CPU (process) times of each, the speed-ups against one-at-a-time, and the largest
difference between a copy's validation loss in the stacked runs and in its own run (they compute the same
thing). Each variant runs ``--repeats`` times and the best time is kept; on a shared machine the CPU time is the
steadier figure. Run: ``python benchmarks/arena.py [--cnn] [--epochs 5] [--threads 1]``.
"""

import argparse
import os

import numpy as np
import torch
from _common import best_of, digits_workload

from lib import arena, train

CONTENDERS = [
    arena.Contender("GD", "gd"),
    arena.Contender("Momentum", "momentum", {"beta": 0.9}),
    arena.Contender("Nesterov", "nesterov", {"beta": 0.9}),
    arena.Contender("Adagrad", "adagrad"),
    arena.Contender("RMSProp", "rmsprop"),
    arena.Contender("Adam", "adam"),
    arena.Contender("AdamW", "adamw"),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--etas", type=int, default=8, help="learning rates 10^-3, 10^-2.5, ... (half decades)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cnn", action="store_true", help="the small CNN on 8x8 images instead of the MLP")
    args = parser.parse_args()
    os.environ.setdefault("LIB_PROGRESS", "0")
    torch.set_num_threads(args.threads)

    digits, model_fn = digits_workload(args.cnn)

    etas = 10.0 ** (-3.0 + 0.5 * np.arange(args.etas))
    seeds = list(range(args.seeds))
    common = {"epochs": args.epochs, "batch_size": args.batch_size, "max_loss": 10.0, "threads": args.threads,
              "progress": False, "eval_every": args.epochs}
    fit, _ = arena.holdout(digits, 0.2, 0)

    def one_at_a_time():
        out = {}
        for c in CONTENDERS:
            for eta in etas:
                for s in seeds:
                    h = train.train(model_fn(s), c.rule, fit, hparams={**c.hparams, "eta": float(eta)}, seed=s,
                                    **common)
                    out[c.label, float(eta), s] = h.test_loss[-1] if not h.diverged else np.nan
        return out

    def per_optimizer():
        return arena.arena(model_fn, digits, CONTENDERS, etas, seeds, together=False, **common)

    def together():
        return arena.arena(model_fn, digits, CONTENDERS, etas, seeds, together=True, **common)

    together()  # untimed: the first stacked run of a process pays one-time costs (allocator, lazy imports)
    t_all, c_all, r_all = best_of(args.repeats, together)
    t_per, c_per, r_per = best_of(args.repeats, per_optimizer)
    t_one, c_one, singles = best_of(args.repeats, one_at_a_time)

    single = np.array([singles[row.optimizer, row.eta, row.seed] for row in r_all.copies.itertuples()])
    diff_all = np.abs(r_all.copies.val_loss.to_numpy() - single)
    diff_per = np.abs(r_per.copies.val_loss.to_numpy() - single)
    n_copies = len(r_all.copies)
    name = "small_cnn" if args.cnn else "mlp 64-32-10"
    print(f"arena: {len(CONTENDERS)} optimizers x {len(etas)} learning rates x {len(seeds)} seeds = {n_copies} "
          f"copies of {name}, {args.epochs} epochs, batch {args.batch_size}, float32, torch threads={args.threads}, "
          f"os.cpu_count()={os.cpu_count()}, best of {args.repeats}")
    print(f"  {'':50s} {'wall s':>8s} {'CPU s':>8s} {'speed-up wall (CPU)':>20s}")
    for label, wall, cpu in (
        ("one copy at a time (lib.train.train)", t_one, c_one),
        ("one stacked run per optimizer", t_per, c_per),
        ("one stacked run for the arena (lib.arena.combine)", t_all, c_all),
    ):
        print(f"  {label:50s} {wall:8.2f} {cpu:8.2f} {t_one / wall:10.1f}x ({c_one / cpu:4.1f}x)")
    at_best = r_all.copies.merge(r_all.table[["optimizer", "eta"]], on=["optimizer", "eta"], how="left",
                                 indicator=True)["_merge"].eq("both").to_numpy()
    print(f"  |stacked - single| final validation loss, float32: median over all copies {np.nanmedian(diff_all):.1e} "
          f"(per optimizer {np.nanmedian(diff_per):.1e}), largest at the chosen learning rates "
          f"{np.nanmax(diff_all[at_best]):.1e} ({int(at_best.sum())} copies), "
          f"largest overall {np.nanmax(diff_all):.1e}")
    print("  (float32 rounding differs between the vmapped and the single forward pass; runs at unstable learning "
          "rates amplify it. In float64 the stacked path equals the single runs: tests/test_train.py, "
          "tests/test_arena.py)")


if __name__ == "__main__":
    main()
