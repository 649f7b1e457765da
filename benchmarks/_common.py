"""What the benchmarks share: best-of-N timing and the digits workload (MLP or small CNN)."""

import time

from lib import data, models


def best_of(repeats, fn):
    """Best wall-clock and best CPU (process) time of ``repeats`` calls, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu), result


def digits_workload(cnn: bool):
    """The digits data and a seeded model factory: the small CNN on 8x8 images, or the 64-32-10 MLP."""
    if cnn:
        return data.digits().images(), lambda seed: models.small_cnn(seed=seed)
    return data.digits(), lambda seed: models.mlp([64, 32, 10], seed=seed)
