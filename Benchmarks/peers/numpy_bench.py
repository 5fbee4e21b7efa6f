#!/usr/bin/env python3
"""numpy sgemm on the shapes of `neurite-bench gemm`, one JSON line per case and thread count:
{"bench":"gemm","case","m","n","k","transA","transB","threads","gflops","ms","lib":"numpy","blas"}

Each thread count runs in its own process (OMP/MKL/OPENBLAS_NUM_THREADS set before numpy loads).
Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (see README.md):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Benchmarks/peers/numpy_bench.py --threads 1,2
"""
import argparse
import sys

import peercommon as pc


def main():
    p = pc.base_parser(__doc__.splitlines()[0])
    p.add_argument("--one-thread-count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one_thread_count is None:
        return pc.run_per_thread_count(__file__, args.threads, sys.argv[1:])
    t = args.one_thread_count
    pc.limit_threads(t)
    import numpy as np
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
        threadpool_limits(t)
        blas = ",".join(sorted({f"{i['internal_api']} {i.get('version')}" for i in threadpool_info() if i["user_api"] == "blas"}))
    except ImportError:
        blas = "unknown (pip install threadpoolctl)"
    pc.header(f"numpy_bench | numpy {np.__version__} | BLAS {blas} | threads {t} | repeat {args.repeat}, warmup {args.warmup}")
    rng = np.random.default_rng(1)
    for label, m, n, k, ta, tb in pc.gemm_cases(args.sizes, not args.no_mlp):
        a = (rng.random((k, m) if ta else (m, k), dtype=np.float32) * 2 - 1)
        b = (rng.random((n, k) if tb else (k, n), dtype=np.float32) * 2 - 1)
        opa, opb = (a.T if ta else a), (b.T if tb else b)   # views: BLAS gets the transpose flag
        c = np.empty((m, n), dtype=np.float32)
        np.matmul(opa, opb, out=c)
        ref = opa.astype(np.float64) @ opb.astype(np.float64)
        err = float(np.max(np.abs(c - ref) / np.maximum(1, np.abs(ref))))
        if not err <= 1e-4 * k ** 0.5:
            print(f"numpy_bench: verification failed: {label} threads {t}: relative error {err}", file=sys.stderr)
            return 1
        s = pc.measure(lambda: np.matmul(opa, opb, out=c), args.warmup, args.repeat)
        pc.emit({"bench": "gemm", "case": label, "m": m, "n": n, "k": k, "transA": ta, "transB": tb, "threads": t,
                 "gflops": 2.0 * m * n * k / s * 1e-9, "ms": s * 1e3, "lib": "numpy", "blas": blas})
    return 0


if __name__ == "__main__":
    sys.exit(main())
