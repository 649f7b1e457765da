"""Optimizer state per parameter for every optimizer of the book, against the formula; step time of lib.optim
relative to torch.optim where torch has the method, measured in the same run.

Memory: the bytes of the tensors each optimizer holds in ``optimizer.state`` after one step (float32), on the
digits MLP (64-32-10 with biases) and on one wide 1024 x 1024 layer, next to the formula for an n x m matrix
(SGD 0, momentum/Adagrad/RMSprop/Muon/Lion nm, Adam/AdamW/NAdam/RAdam 2nm, Adafactor n + m, schedule-free AdamW
3nm as written in lib.rules). Time: seconds per ``step()`` of lib.optim and torch.optim (``foreach=False``) on
a 1024 x 1024 layer and a bias (Muon: a 256 x 256 layer, see below), alternated so that both see the same load;
the ratio is lib / torch (median of the per-repeat ratios).

    python benchmarks/optimizer_memory.py [--steps 5] [--repeats 3] [--threads 1]
"""

import argparse

import pandas as pd
import torch

from lib import models
from lib.lessons.after_adam import memory_table, step_time_ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    pd.set_option("display.width", 160)
    mlp = [tuple(p.shape) for p in models.mlp([64, 32, 10]).parameters()]
    columns = ["formula", "parameters", "predicted", "lib.optim", "torch.optim", "bytes per parameter (lib)",
               "bytes per parameter (torch)"]
    for title, shapes in (("digits MLP 64-32-10", mlp), ("wide layer 1024 x 1024", [(1024, 1024)])):
        print(f"\nstate bytes after one step, {title} (float32):")
        print(memory_table(shapes)[columns].to_string())
    print("\nseconds per step, lib.optim vs torch.optim (foreach=False), 1024 x 1024 layer + 1024 bias:")
    times = step_time_ratios(["SGD + momentum", "Adam", "AdamW", "NAdam", "RAdam", "Adafactor"],
                             [(1024, 1024), (1024,)], steps=args.steps, repeats=args.repeats)
    print(times.to_string(float_format=lambda x: f"{x:.3g}"))
    # Muon orthogonalizes in bfloat16, as torch's does; a CPU without bfloat16 matrix units takes minutes per
    # step of 1024 x 1024 (measured: 111 s for lib, 171 s for torch), so it is timed on a smaller matrix.
    print("\nseconds per step, Muon, 256 x 256 layer:")
    muon = step_time_ratios(["Muon"], [(256, 256)], steps=args.steps, repeats=args.repeats)
    print(muon.to_string(float_format=lambda x: f"{x:.3g}"))

if __name__ == "__main__":
    main()
