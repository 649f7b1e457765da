"""How large torch 2.13.0 is once installed: the CPU-only wheel (what binder/ installs) against PyPI's default
build, which pulls the CUDA libraries as separate wheels.

    .venv/bin/python tools/torch_size.py [--cpu-wheel /opt/wheels/torch-2.13.0+cpu-cp311-...whl]

Method: the installed size of a wheel is the sum of the uncompressed sizes in its zip directory (what pip
unpacks, the same numbers as the sizes in its RECORD). For the CUDA build, ``pip install --dry-run --report``
against PyPI lists torch and every wheel it pulls for this Python on Linux x86-64; each wheel's zip directory is
read with HTTP range requests (a few hundred kB each, no multi-GB download). The CPU wheel is read from disk: the
one PyTorch's CPU index (https://download.pytorch.org/whl/cpu) serves as ``torch==2.13.0+cpu``. Needs PyPI.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

DEFAULT_CPU_WHEEL = Path("/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl")
# Pure-Python dependencies that the CPU wheel pulls as well: not part of the difference.
SHARED = {"filelock", "typing-extensions", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec",
          "setuptools"}


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file through HTTP range requests."""

    def __init__(self, url: str):
        self.url, self.pos = url, 0
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=60) as response:
            self.size = int(response.headers["Content-Length"])

    def seekable(self):
        return True

    def readable(self):
        return True

    def tell(self):
        return self.pos

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = {io.SEEK_SET: offset, io.SEEK_CUR: self.pos + offset, io.SEEK_END: self.size + offset}[whence]
        return self.pos

    def read(self, n=-1):
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.pos}-{end - 1}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            data = response.read()
        self.pos += len(data)
        return data


def unpacked_size(source) -> int:
    with zipfile.ZipFile(source) as wheel:
        return sum(info.file_size for info in wheel.infolist())


def cuda_build() -> list[tuple[str, int, int]]:
    """(name, download bytes, installed bytes) for torch==2.13.0 from PyPI and everything it pulls."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="")
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                        "--no-cache-dir", "--index-url", "https://pypi.org/simple", "--report", str(report),
                        "torch==2.13.0"], check=True, env=env)
        items = json.loads(report.read_text())["install"]
    rows = []
    for item in items:
        remote = RangeFile(item["download_info"]["url"])
        rows.append((item["metadata"]["name"].lower().replace("_", "-"), remote.size, unpacked_size(remote)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-wheel", type=Path, default=DEFAULT_CPU_WHEEL)
    args = parser.parse_args()
    mb = 1e6
    cpu_download, cpu_installed = args.cpu_wheel.stat().st_size, unpacked_size(args.cpu_wheel)
    rows = cuda_build()
    print(f"{'wheel':32s} {'download MB':>12s} {'installed MB':>13s}")
    for name, download, installed in sorted(rows, key=lambda r: -r[2]):
        print(f"{name:32s} {download / mb:12.0f} {installed / mb:13.0f}")
    gpu = [r for r in rows if r[0] not in SHARED]
    gpu_download, gpu_installed = sum(r[1] for r in gpu), sum(r[2] for r in gpu)
    print(f"\nPyPI torch==2.13.0 with its CUDA wheels ({len(gpu)} wheels): download {gpu_download / mb:.0f} MB, "
          f"installed {gpu_installed / mb:.0f} MB")
    print(f"CPU wheel {args.cpu_wheel.name}: download {cpu_download / mb:.0f} MB, "
          f"installed {cpu_installed / mb:.0f} MB")
    print(f"Installed size: CPU build / CUDA build = {cpu_installed / gpu_installed:.3f}, "
          f"{(gpu_installed - cpu_installed) / mb:.0f} MB less")
    return 0


if __name__ == "__main__":
    sys.exit(main())
