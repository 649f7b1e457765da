"""Step time of lib.optim against torch.optim (foreach=False) on a ~1M-parameter MLP, measured in the same run.

For each optimizer configuration, two identical float32 MLPs (784-1024-256-10, 1 068 810 parameters) get the
same fixed random gradients; one is stepped by ``torch.optim`` (``foreach=False``: its per-tensor loop), the
other by ``lib.optim``. Steps alternate between the two, so both see the same machine load. After a warm-up
the script prints, per configuration, the median step time of each and their ratio lib/torch (target <= 1.2),
the ratio of the 10th percentiles (less sensitive to other processes on a shared machine), and the page faults
per step (fresh memory the allocator had to ask the kernel for: the cost of allocating full-size temporaries).

    python benchmarks/optim_step.py [--repeats 300] [--warmup 20] [--threads 1]

One intra-op thread by default, so that the ratio measures the work done and not the thread pool's luck on a
busy machine; ``--threads 0`` keeps torch's default.
"""

import argparse
import resource
import statistics
import time

import torch
from torch import nn

import lib.optim

CONFIGS = [
    ("SGD", {"lr": 1e-3}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
    ("Adagrad", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-3}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9}),
    ("Adam", {"lr": 1e-3}),
    ("Adam", {"lr": 1e-3, "amsgrad": True}),
    ("AdamW", {"lr": 1e-3}),
]


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, 10))


def with_gradients(model: nn.Module) -> list[nn.Parameter]:
    generator = torch.Generator().manual_seed(1)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 1e-2
    return params


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_steps(optimizers, warmup: int, repeats: int) -> tuple[list[list[float]], list[float]]:
    """Seconds of each step of each optimizer, steps alternating, and page faults per step of each."""
    for _ in range(warmup):
        for opt in optimizers:
            opt.step()
    times = [[] for _ in optimizers]
    faults = [0 for _ in optimizers]
    for _ in range(repeats):
        for i, opt in enumerate(optimizers):
            f0, t0 = minor_faults(), time.perf_counter()
            opt.step()
            times[i].append(time.perf_counter() - t0)
            faults[i] += minor_faults() - f0
    return times, [f / repeats for f in faults]


def p10(ts: list[float]) -> float:
    return statistics.quantiles(ts, n=10)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = sum(p.numel() for p in mlp().parameters())
    print(
        f"MLP 784-1024-256-10, {n:,} float32 parameters; torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )
    print(f"{args.repeats} steps each after {args.warmup} warm-up steps, torch.optim and lib.optim alternating\n")
    header = (
        f"{'optimizer':62s} {'torch ms':>8s} {'lib ms':>8s} {'ratio':>6s} {'p10 ratio':>9s} {'faults torch/lib':>17s}"
    )
    print(header)
    ratios, p10_ratios = [], []
    for name, kwargs in CONFIGS:
        reference = getattr(torch.optim, name)(with_gradients(mlp()), foreach=False, **kwargs)
        ours = getattr(lib.optim, name)(with_gradients(mlp()), **kwargs)
        (t_torch, t_lib), (f_torch, f_lib) = time_steps([reference, ours], args.warmup, args.repeats)
        m_torch, m_lib = statistics.median(t_torch), statistics.median(t_lib)
        ratios.append(m_lib / m_torch)
        p10_ratios.append(p10(t_lib) / p10(t_torch))
        label = name + "(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
        print(
            f"{label:62s} {m_torch * 1e3:8.3f} {m_lib * 1e3:8.3f} {ratios[-1]:6.2f} {p10_ratios[-1]:9.2f}"
            f" {f_torch:8.0f}/{f_lib:<8.0f}"
        )
    print(
        f"\nmedian ratios: worst {max(ratios):.2f}, geometric mean {statistics.geometric_mean(ratios):.2f}; "
        f"p10 ratios: worst {max(p10_ratios):.2f}, geometric mean {statistics.geometric_mean(p10_ratios):.2f} "
        "(target <= 1.2)"
    )


if __name__ == "__main__":
    main()
