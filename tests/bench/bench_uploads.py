"""Upload scanning budgets (docs/architecture.md): signatures + type + hash >= 100 MB/s per core; with the PII
detectors >= 30 MB/s on text; peak memory <= 256 MB scanning a 1 GB object, streamed.

The objects are generated lazily by a fake streaming body, so nothing of their size is ever held; the
memory figure is the peak RSS of a fresh subprocess that imports the scanner and streams 1 GB.

Before / after: the same objects (this checkout's block builders) through the scanner of an older
checkout (bench_logs' ``BASE``, its own ``throughput``) and of this one, each in a process of its own, in
turns, ``SCAN_ROUNDS`` times; each figure is the best of ``SCAN_REPS`` scans, the noise each side's
spread over the rounds. ``STEP`` (``AUP_BENCH_SCAN_STEP``, default ``.bench/step-scan``), when it exists,
is measured in the same turns: the scanner as the restructure left it, before the detection issues
changed what a scan reads and hashes.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "layers" / "aup"), str(ROOT)]

MB = 1024 * 1024
SCAN_ROUNDS = 3
SCAN_REPS = 2
SCAN_SIZES = {"binary": 256 * MB, "text": 64 * MB}  # per scan: ~0.7 s and ~2 s on this machine
STEP = Path(os.environ.get("AUP_BENCH_SCAN_STEP", ROOT / ".bench" / "step-scan"))

# Runs in the checkout under test (cwd, its own ``throughput`` and scanner) over this checkout's blocks
# (argv[1]): the best MB/s of argv[2] scans of each kind.
_SCAN_DRIVER = r"""
import importlib.util, json, os, sys
sys.path[:0] = [os.path.join(os.getcwd(), "layers", "aup"), os.getcwd()]
from tests.bench import bench_uploads as tree
spec = importlib.util.spec_from_file_location("bench_uploads_now", sys.argv[1])
now = importlib.util.module_from_spec(spec)
path = list(sys.path)
spec.loader.exec_module(now)
sys.path[:] = path  # the module puts this checkout first: the tree's own code must stay first
blocks = {"binary": (now.binary_block(), "image.png"), "text": (now.text_block(), "report.txt")}
best = {}
for kind, (block, name) in blocks.items():
    best[kind] = max(tree.throughput(now.SCAN_SIZES[kind], block, name)[0] for _ in range(int(sys.argv[2])))
print("RESULT " + json.dumps(best))
"""


class LazyObject(io.RawIOBase):
    """A seekable body of ``size`` bytes that repeats ``block``: the whole object never exists."""

    def __init__(self, size: int, block: bytes) -> None:
        self.size, self.block, self.pos = size, block, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: 0, 1: self.pos, 2: self.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.size - self.pos)
        if n <= 0:
            return 0
        start = self.pos % len(self.block)
        out = memoryview(buffer)
        filled = 0
        while filled < n:
            piece = self.block[start : start + n - filled]
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            start = 0
        self.pos += n
        return n


def binary_block() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + random.Random(5).randbytes(4 * MB - 8)


def text_block() -> bytes:
    """Business text: prose with, every few lines, an e-mail, a phone number, an order or invoice number."""
    rng = random.Random(9)
    words = [
        "the",
        "delivery",
        "of",
        "our",
        "quarterly",
        "report",
        "shows",
        "revenue",
        "growth",
        "across",
        "all",
        "regions",
        "while",
        "costs",
        "stayed",
        "flat",
        "and",
        "the",
        "team",
        "expects",
        "further",
        "improvement",
        "next",
        "quarter",
        "after",
        "the",
        "migration",
        "completes",
    ]
    lines, size = [], 0
    while size < 4 * MB:
        i = len(lines)
        line = " ".join(rng.choice(words) for _ in range(14))
        if i % 4 == 0:
            line += f" contact{i % 50}@example.com"
        if i % 6 == 0:
            line += f" call +1 415-555-{i % 10000:04d}"
        if i % 5 == 0:
            line += f" order {rng.randrange(10**15, 10**16)} invoice {rng.randrange(10**8)}"
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def dense_csv_block() -> bytes:
    """Worst case: every line an order id of 16 digits, an e-mail and a phone number."""
    rng = random.Random(9)
    lines, size = ["order_id,customer,contact,amount,note"], 0
    while size < 4 * MB:
        i = len(lines)
        line = (
            f"{rng.randrange(10**15, 10**16)},Client {i},contact{i % 50}@example.com,{rng.randrange(1, 9999)}.00,"
            f"call +1 415-555-{i % 10000:04d} re invoice {rng.randrange(10**8)}"
        )
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def gzip_of_text_block() -> bytes:
    """A gzip of business text, repeated: the LazyObject serves concatenated gzip members."""
    import gzip

    return gzip.compress(text_block()[: 2 * MB], compresslevel=6, mtime=0)


def engine() -> Any:
    from aup.detectors.uploads.scanner import ScanEngine
    from aup.detectors.uploads.signatures import compile_rules
    from aup.policy import load_default_policy

    policy = load_default_policy()
    return ScanEngine(policy.upload_scanning, compile_rules(), tuple(policy.protected_trademarks))


def throughput(size: int, block: bytes, name: str) -> tuple[float, Any]:
    e = engine()
    body = io.BufferedReader(LazyObject(size, block), buffer_size=MB)
    started = time.perf_counter()
    result = e.scan(body, name)
    elapsed = time.perf_counter() - started
    return size / MB / elapsed, result


def peak_memory_child() -> None:
    import resource

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, result = throughput(1024 * MB, binary_block(), "big.png")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "peak_mb": peak / 1024,
                "before_mb": base / 1024,
                "status": result.status.value,
                "bytes": result.bytes_read,
            }
        )
    )


def generated_rules(root: Path, n: int = 5000, files: int = 50) -> None:
    """``n`` community-style rules in ``files`` files, nested two folders deep, one common file included
    by the others and referenced across files, using the externals."""
    rng = random.Random(11)
    (root / "common").mkdir(parents=True, exist_ok=True)
    (root / "common" / "base.yar").write_text(
        'rule Base_Marker { strings: $m = "BASE-MARKER-0" condition: $m }\n'
    )
    per = n // files
    for f in range(files):
        folder = root / f"family{f % 5}" / f"sub{f % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = ['include "../../common/base.yar"'] if f % 2 == 0 else []
        for i in range(per):
            k = f * per + i
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))
            cond = "$a or $b" if k % 3 else '($a or $b) and extension == "php"'
            lines.append(
                f'rule Gen_{k} {{ meta: author = "bench" strings: $a = "{word}{k}" '
                f"$b = {{ {' '.join(f'{rng.randrange(256):02x}' for _ in range(8))} }} condition: {cond} }}"
            )
        if f % 2 == 0:
            lines.append(f"rule Ref_{f} {{ condition: Base_Marker and filename matches /\\.txt$/ }}")
        (folder / f"rules{f}.yar").write_text("\n".join(lines) + "\n")


def cold_start_child(root: str, cache: str) -> None:
    started = time.perf_counter()
    from aup.detectors.uploads.signatures import load_rules

    imported = time.perf_counter()
    rules = load_rules(root, cache_dir=cache)
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "load_s": done - imported,
                "cached": rules.cached,
                "files": rules.files,
                "rejected": len(rules.rejected),
            }
        )
    )


def scan_before_after(base: Path, step: Path | None, rounds: int = SCAN_ROUNDS) -> list[str]:
    """Scan MB/s of ``base``'s scanner (and ``step``'s) and this checkout's on the same objects, in
    turns; prints the table and returns the figures that dropped beyond the noise."""
    from tests.bench.bench_logs import in_tree, spread

    trees = {"before": base, **({"step": step} if step else {}), "after": ROOT}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    for _ in range(rounds):
        for label, root in trees.items():
            runs[label].append(in_tree(root, _SCAN_DRIVER, str(Path(__file__).resolve()), str(SCAN_REPS)))
    print(
        f"   scan before ({base}){f' / step ({step})' if step else ''} / after (this checkout), "
        f"{rounds} rounds in turns, best of {SCAN_REPS} scans each, MB/s:"
    )
    missed = []
    for kind, label in (("binary", "signatures + type + hash"), ("text", "with the PII detectors")):
        med = {t: statistics.median(r[kind] for r in runs[t]) for t in trees}
        noise = {t: spread([r[kind] for r in runs[t]]) for t in trees}
        cols = " | ".join(f"{t} {med[t]:,.0f} ({noise[t]:.0%})" for t in trees)
        ratios = ", ".join(f"{t}/before {med[t] / med['before']:.2f}" for t in trees if t != "before")
        print(f"   {label:<25} | {cols} | {ratios}   (noise in brackets: spread over the rounds)")
        worst = max(noise["before"], noise["after"])
        if med["after"] / med["before"] < 1 - worst:
            missed.append(
                f"scan {kind}: {med['after'] / med['before']:.2f}x of before, beyond the noise {worst:.0%}"
            )
    return missed


def main() -> list[str]:
    missed: list[str] = []
    from tests.bench.bench_logs import BASE

    if (BASE / "functions").is_dir():
        missed += scan_before_after(BASE, STEP if (STEP / "functions").is_dir() else None)
    else:
        print(f"   scan before/after skipped: no older checkout in {BASE} (make bench-trees)")
    rate, result = throughput(512 * MB, binary_block(), "image.png")
    assert result.status.value == "complete"
    ok = rate >= 100
    print(
        f"   signatures + type + hash (binary, 512 MB): {rate:.0f} MB/s (budget >= 100) {'ok' if ok else 'OVER'}"
    )
    if not ok:
        missed.append(f"signatures+type+hash {rate:.0f} MB/s < 100")

    rate, result = throughput(128 * MB, text_block(), "report.txt")
    assert result.top.text is not None and result.top.text.emails > 0
    ok = rate >= 30
    print(
        f"   with PII detectors (business text, 128 MB): {rate:.0f} MB/s (budget >= 30) {'ok' if ok else 'OVER'}"
    )
    if not ok:
        missed.append(f"PII text {rate:.0f} MB/s < 30")
    rate, _ = throughput(64 * MB, dense_csv_block(), "orders.csv")
    print(f"   with PII detectors (dense CSV: 3 candidates a line, 64 MB): {rate:.0f} MB/s (informational)")
    member = gzip_of_text_block()
    size = len(member) * (16 * MB // len(member))  # whole gzip members only
    rate, result = throughput(size, member, "report.txt.gz")
    assert result.status.value == "complete", result.note
    inflated = result.inflated_bytes / MB
    print(
        f"   text inside gzip ({size / MB:.0f} MB read, {inflated:.0f} MB decompressed and PII-scanned): "
        f"{rate * inflated / (size / MB):.0f} MB/s of text (informational)"
    )

    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'aup'}:{ROOT}"}
    out = subprocess.run(
        [sys.executable, "-c", "from tests.bench.bench_uploads import peak_memory_child as m; m()"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    mem_figures = figures
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "rules", Path(tmp) / "cache"
        generated_rules(root)
        for label in ("compiled", "cached"):
            code = (
                "from tests.bench.bench_uploads import cold_start_child as c; "
                f"c({str(root)!r}, {str(cache)!r})"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
            ).stdout
            f = json.loads(out.strip().splitlines()[-1])
            print(
                f"   YARA cold start, 5,000 generated rules in 51 nested files ({label}): "
                f"{f['load_s'] * 1000:.0f} ms (+ {f['import_s'] * 1000:.0f} ms import; "
                f"{f['files']} top-level files, {f['rejected']} rejected) (informational)"
            )
    figures = mem_figures
    ok = figures["peak_mb"] <= 256 and figures["bytes"] == 1024 * MB
    print(
        f"   peak memory scanning 1 GB streamed: {figures['peak_mb']:.0f} MB RSS "
        f"(after imports {figures['before_mb']:.0f} MB) (budget <= 256) {'ok' if ok else 'OVER'}"
    )
    if not ok:
        missed.append(f"peak memory {figures['peak_mb']:.0f} MB > 256")
    return missed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
