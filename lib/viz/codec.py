r"""The compact JSON of the static rendering, and its inverse.

Items arrive as axes fractions (:func:`lib.viz.geometry.prepare`); the JSON stores them quantized to
:math:`1/Q` of the axis (``Q = 10 000``), delta-encoded, lines simplified by Ramer–Douglas–Peucker within
``SIMPLIFY`` quantization steps, and evenly spaced x stored as a start and a step. :func:`decode` reads a
payload back into what the viewer (``lib/static/explorer.js``) must draw; the browser tests compare the two.

References:
    U. Ramer (1972), An iterative procedure for the polygonal approximation of plane curves, Computer
    Graphics and Image Processing 1(3), 244-256.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from lib.viz.geometry import Prepared

__all__ = ["Q", "SIMPLIFY", "decode", "encode_item", "simplify"]

Q = 10_000  # quantization steps per axis length in the static JSON (0.05 px on an 500 px axis)
SIMPLIFY = 5.0  # tolerance of the line simplification, in quantization steps (0.3 px on a 600 px axis)


def _deltas(q: np.ndarray) -> list[int]:
    return np.diff(q, prepend=0).tolist()


def simplify(points: np.ndarray, tol: float) -> np.ndarray:
    """Ramer–Douglas–Peucker on ``(n, 2)`` points: the mask of the vertices to keep so that no dropped vertex
    is farther than ``tol`` from the kept polyline. Distances are to the *segment* (not its line), so a path
    that doubles back on itself (an oscillation along one direction) keeps its turning points."""
    n = len(points)
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    pts = points.astype(np.float64)
    tol2 = tol * tol
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        d = pts[b] - pts[a]
        rel = pts[a + 1:b] - pts[a]
        length2 = float(d @ d)
        if length2 > 0:
            t = np.minimum(np.maximum(rel @ d / length2, 0.0), 1.0)
            rel = rel - t[:, None] * d
        dist2 = np.einsum("ij,ij->i", rel, rel)
        i = int(dist2.argmax())
        if dist2[i] > tol2:
            k = a + 1 + i
            keep[k] = True
            stack += [(a, k), (k, b)]
    return keep


def _encode_run(run: np.ndarray, thin: bool, max_points: int) -> list:
    x = run[:, 0]
    if len(run) >= 3:
        dx = np.diff(x)
        if np.ptp(dx) <= 1e-9 * max(1.0, abs(float(dx.mean()))):
            stride = max(1, math.ceil(len(run) / max_points))
            y = np.rint(run[::stride, 1] * Q).astype(np.int64)
            return [{"a": round(float(x[0]) * Q, 3), "d": round(float(dx.mean()) * stride * Q, 4)}, _deltas(y)]
    q = np.rint(run * Q).astype(np.int64)
    if thin and len(q) > 2:
        q = q[simplify(q, SIMPLIFY)]
    elif len(q) > 1:  # a vertex with a marker stays, unless it is drawn twice at the same place
        q = q[np.concatenate(([True], (np.diff(q, axis=0) != 0).any(axis=1)))]
    if len(q) > max_points:
        stride = math.ceil(len(q) / max_points)
        q = np.concatenate((q[::stride], q[-1:])) if (len(q) - 1) % stride else q[::stride]
    return [_deltas(q[:, 0]), _deltas(q[:, 1])]


def encode_item(item: Prepared, style_id: int, max_points: int) -> dict:
    if item.kind == "t":
        (u, v), = item.runs
        return {"k": "t", "p": item.panel, "s": style_id, "x": int(round(u * Q)), "y": int(round(v * Q)),
                "v": item.text}
    return {"k": item.kind, "p": item.panel, "s": style_id,
            "r": [_encode_run(run, item.kind == "l" and not item.style["m"], max_points) for run in item.runs]}


def _undelta(d: Sequence[int]) -> np.ndarray:
    return np.cumsum(np.asarray(d, dtype=np.int64))


def decode(payload: Mapping, indices: Sequence[int]) -> list[dict]:
    """The items the static viewer draws for the combination ``indices`` (one value index per control),
    decoded from a :meth:`~lib.viz.explorer.Explorer.payload`: dicts with ``kind``, ``panel``, ``style``
    and, in quantized axes fractions (``Q`` per axis length), ``runs`` (lists of ``(n, 2)`` float arrays) or ``at`` and
    ``text``. The viewer must draw exactly these (see ``tests/browser/test_explorers.py``)."""
    combo = 0
    for i, n in zip(indices, payload["shape"], strict=True):
        if not 0 <= i < n:
            raise ValueError(f"Invalid indices: {list(indices)} for shape {payload['shape']}")
        combo = combo * n + i
    frame = payload["frames"][payload["index"][combo]]
    out = []
    for it in frame["i"]:
        style = payload["styles"][it["s"]]
        if it["k"] == "t":
            out.append({"kind": "t", "panel": it["p"], "style": style, "at": (it["x"], it["y"]), "text": it["v"]})
            continue
        runs = []
        for xs, ys in it["r"]:
            y = _undelta(ys).astype(float)
            x = xs["a"] + xs["d"] * np.arange(len(y)) if isinstance(xs, Mapping) else _undelta(xs).astype(float)
            runs.append(np.column_stack((x, y)))
        out.append({"kind": it["k"], "panel": it["p"], "style": style, "runs": runs})
    return out
