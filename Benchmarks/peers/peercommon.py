"""Shared by the peer benchmarks: thread lists, the gemm cases of `neurite-bench gemm`, timing, JSON.

Imports nothing heavy: the thread-count variables must be set before numpy or torch is imported.
"""
import argparse
import json
import os
import sys
import time


def thread_list(text):
    """'1,2' -> [1, 2]; every item a positive integer (the same rule as neurite-bench --threads)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise argparse.ArgumentTypeError(
                f"--threads wants positive integers separated by commas (e.g. 1,2), got {item!r} in {text!r}")
        out.append(int(item))
    return sorted(set(out))


def base_parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--threads", type=thread_list, default=[1, 2], help="comma-separated thread counts (default 1,2)")
    p.add_argument("--repeat", type=int, default=10, help="timed samples per case (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before the samples")
    p.add_argument("--sizes", default=None, help="square gemm sizes (default 64,128,256,512,1024,2048)")
    p.add_argument("--no-mlp", action="store_true", help="leave out the MLP 784-256-128-10 gemm shapes")
    return p


def limit_threads(n):
    """Before importing numpy/torch: every BLAS/OpenMP runtime they may load reads one of these."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


def gemm_cases(sizes=None, mlp=True):
    """(label, m, n, k, transA, transB) exactly as `neurite-bench gemm` (GemmBench.swift) lists them."""
    squares = [int(s) for s in (sizes or "64,128,256,512,1024,2048").split(",") if s]
    out = [(f"square {s}", s, s, s, False, False) for s in squares]
    if mlp and sizes is None:
        for b in (64, 256):
            for fan_in, fan_out in ((784, 256), (256, 128), (128, 10)):
                tag = f"mlp{fan_in}-{fan_out}/b{b}"
                out.append((f"{tag} fwd", b, fan_out, fan_in, False, True))   # Y = X·Wᵀ
                out.append((f"{tag} dW", fan_out, fan_in, b, True, False))    # dW = dYᵀ·X
                out.append((f"{tag} dX", b, fan_in, fan_out, False, False))   # dX = dY·W
    return out


def measure(body, warmup, samples, min_sample_s=0.002):
    """Median seconds per call, as Timing.swift's measure: warm up, then samples lasting >= 2 ms each."""
    for _ in range(warmup):
        body()
    t0 = time.perf_counter()
    body()
    once = time.perf_counter() - t0
    inner = 1 if once >= min_sample_s else min(100_000, int(min_sample_s / max(once, 1e-9)) + 1)
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(inner):
            body()
        times.append((time.perf_counter() - t0) / inner)
    times.sort()
    mid = len(times) // 2
    return times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2


def emit(record):
    print(json.dumps(record, separators=(",", ":")), flush=True)


def header(line):
    print(line, file=sys.stderr, flush=True)


def run_per_thread_count(script, threads, argv):
    """Runs `script` once per thread count, each in its own process: a BLAS thread pool is sized
    when the library loads, so changing it in-process is not trustworthy."""
    import subprocess
    rc = 0
    for t in threads:
        rc |= subprocess.call([sys.executable, script, "--one-thread-count", str(t)] + argv)
    return rc
