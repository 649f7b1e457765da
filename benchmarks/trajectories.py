"""Benchmark of lib.trajectories.run: 10 000 starts x 200 steps of Adam on Rosenbrock (target <= 0.1 s).

The reference is the obvious alternative, a Python loop over starts running the same rule on one start at a
time. It is timed on a subset of the starts and extrapolated linearly (its cost per start does not depend on
the number of starts); both are measured in this run, on this machine. Run: python benchmarks/trajectories.py
"""

import os
import statistics
import time

import numpy as np

from lib.rules import RULES
from lib.surfaces import SURFACES
from lib.trajectories import run

STARTS, STEPS, ETA, SUBSET, REPEATS = 10_000, 200, 0.01, 50, 7
TARGET_S = 0.1


def per_start_loop(rule, surface, starts, steps, eta, bound=1e6):
    """One start at a time; the same rule, divergence test and result as run()."""
    paths, diverged = [], []
    for start in starts:
        theta = np.array(start, dtype=np.float64)
        state, path, diverged_at = rule.init(theta), [theta], -1
        with np.errstate(all="ignore"):
            for t in range(steps):
                if diverged_at < 0:
                    step, state = rule.update(surface.grad(theta), state, theta, eta=eta)
                    new = theta + step
                    if np.isfinite(new).all() and (np.abs(new) <= bound).all():
                        theta = new
                    else:
                        diverged_at = t + 1
                path.append(theta)
        paths.append(path)
        diverged.append(diverged_at)
    paths = np.array(paths)
    return paths, surface.value(paths), np.array(diverged)


def timed(fn, repeats):
    """Wall-clock and CPU seconds of each call (CPU time is what a shared machine's load does not inflate)."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def main():
    surface, rule = SURFACES["rosenbrock"], RULES["adam"]
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = surface.bounds
    starts = np.stack([rng.uniform(x0, x1, STARTS), rng.uniform(y0, y1, STARTS)], axis=-1)

    result = run("adam", surface, starts, STEPS, eta=ETA)  # warm-up, and the result checked below
    vectorized, vectorized_cpu = timed(lambda: run("adam", surface, starts, STEPS, eta=ETA), REPEATS)
    loop, _ = timed(lambda: per_start_loop(rule, surface, starts[:SUBSET], STEPS, ETA), 3)

    reference = per_start_loop(rule, surface, starts[:SUBSET], STEPS, ETA)
    same = all(np.array_equal(a[:SUBSET], b) for a, b in zip(result, reference, strict=True))

    best, median = min(vectorized), statistics.median(vectorized)
    loop_full = min(loop) * STARTS / SUBSET
    print(f"lib.trajectories.run: Adam on Rosenbrock, {STARTS} starts x {STEPS} steps, float64")
    print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"  vectorized run:    best {best * 1e3:7.1f} ms   median {median * 1e3:7.1f} ms   "
          f"best CPU time {min(vectorized_cpu) * 1e3:.1f} ms   ({REPEATS} runs)")
    print(f"  per-start loop:    {min(loop) * 1e3:7.1f} ms for {SUBSET} starts (best of 3), "
          f"extrapolated x{STARTS // SUBSET} to {loop_full:.1f} s for {STARTS}")
    print(f"  speed-up:          {loop_full / best:.0f}x (extrapolated loop / best vectorized run)")
    print(f"  same paths, losses and divergence steps as the loop on the subset: {same}")
    print(f"  target <= {TARGET_S} s: {'met' if best <= TARGET_S else 'NOT met'} (best run)")


if __name__ == "__main__":
    main()
