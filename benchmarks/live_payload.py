"""Bytes sent to the browser per move of a live explorer's control (what a reader on Binder waits for).

Every control of the surface explorers is moved through all its values; each move's ``image.value`` (the PNG the
live explorer sends) is measured, against the reference encoding measured in the same run: the same canvas as
an unfiltered RGB PNG (what the live explorers sent before). Target: at most about 40 kB per move.
"""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np

import lib.viz as viz

TARGET_KB = 40


def rgb_png(canvas) -> bytes:
    """The reference: the canvas as an 8-bit RGB PNG, no scanline filter, zlib level 1."""
    rgba = np.asarray(canvas.buffer_rgba())
    h, w, _ = rgba.shape
    raw = np.zeros((h, 3 * w + 1), dtype=np.uint8)
    raw[:, 1:] = rgba[..., :3].reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + chunk(b"IEND", b""))


def measure(explorer) -> dict[str, float]:
    live = viz.LiveExplorer(explorer)
    sent, reference, seconds = [], [], []
    for control in live.controls.values():
        if control.disabled:
            continue
        for _, value in control.options:
            start = time.process_time()
            control.value = value
            seconds.append(time.process_time() - start)
            sent.append(len(live.image.value))
            reference.append(len(rgb_png(live.canvas)))
    return {"moves": len(sent), "max_kB": max(sent) / 1e3, "mean_kB": float(np.mean(sent)) / 1e3,
            "ref_max_kB": max(reference) / 1e3, "ratio": float(np.mean(sent) / np.mean(reference)),
            "cpu_ms": 1e3 * float(np.median(seconds))}


def main() -> None:
    explorers = {"optimizer_explorer (defaults)": viz.optimizer_explorer(),
                 "quadratic_explorer (defaults)": viz.quadratic_explorer()}
    print(f"{'explorer':32s} {'moves':>5s} {'max kB':>7s} {'mean kB':>8s} {'RGB max kB':>10s} "
          f"{'sent/RGB':>8s} {'CPU ms/move':>11s}")
    worst = 0.0
    for name, explorer in explorers.items():
        m = measure(explorer)
        worst = max(worst, m["max_kB"])
        print(f"{name:32s} {m['moves']:5d} {m['max_kB']:7.1f} {m['mean_kB']:8.1f} {m['ref_max_kB']:10.1f} "
              f"{m['ratio']:8.2f} {m['cpu_ms']:11.1f}")
    print(f"largest move: {worst:.1f} kB ({'within' if worst <= TARGET_KB else 'above'} the {TARGET_KB} kB target)")


if __name__ == "__main__":
    main()
