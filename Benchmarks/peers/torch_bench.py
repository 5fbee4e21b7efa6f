#!/usr/bin/env python3
"""PyTorch peer of neurite-bench: sgemm on the shapes of `neurite-bench gemm`, and Fashion-MNIST
training with the plain recipe of design.md §5 (pixels / 255, SGD lr 0.05, batch 64, seeded).

One JSON line per case and thread count (the header goes to stderr):
  {"bench":"gemm","case","m","n","k","transA","transB","threads","gflops","ms","lib":"torch"}
  {"bench":"train","model":"mlp"|"lenet","threads","batch":64,"samples_per_s","epoch_s",
   "final_loss","test_accuracy","epochs","lib":"torch"}

Each thread count runs in its own process (OMP/MKL/OPENBLAS_NUM_THREADS set before torch loads,
then torch.set_num_threads). Example:
    .venv-peers/bin/python Benchmarks/peers/torch_bench.py --threads 1,2 --bench gemm,train --model mlp,lenet
"""
import argparse
import gzip
import os
import sys
import time

import peercommon as pc

DATA = "/usr/share/datasets/fashion-mnist"


def load_idx(name, is_images):
    """IDX (gzip): 16-byte header for images, 8 for labels; big-endian dims we already know."""
    import numpy as np
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    if is_images:
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64)


def model(name, dropout=0.0):
    import torch.nn as nn
    if name == "mlp":
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), *drop, nn.Linear(256, 128), nn.ReLU(), *drop,
                             nn.Linear(128, 10))
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    raise SystemExit(f"torch_bench: unknown model {name!r} (want mlp or lenet)")


def train(torch, name, threads, epochs, batch, limit, recipe="plain"):
    import numpy as np
    x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz", True))
    y = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz", False))
    if limit:
        x, y = x[:limit], y[:limit]
    tx = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz", True))
    ty = torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz", False))
    torch.manual_seed(1)
    main = recipe == "main"   # make run's recipe: Adam 1e-3, cosine over the run, dropout 0.1
    net = model(name, 0.1 if main else 0.0)
    opt = torch.optim.Adam(net.parameters(), lr=0.001) if main else torch.optim.SGD(net.parameters(), lr=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=1e-5) if main else None
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(1)
    seconds, last_loss = [], float("nan")
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        total, count = 0.0, 0
        net.train()
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):   # the last, partial batch included
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        seconds.append(time.perf_counter() - t0)
        last_loss = total / count
        if sched:
            sched.step()
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum()) for i in range(0, len(tx), 1000))
    epoch_s = sum(seconds) / len(seconds)
    pc.emit({"bench": "train", "model": name, "recipe": recipe, "threads": threads, "batch": batch,
             "samples_per_s": len(x) / epoch_s, "epoch_samples_per_s": [len(x) / s for s in seconds],
             "epoch_s": epoch_s, "final_loss": last_loss, "test_accuracy": correct / len(tx), "epochs": epochs,
             "lib": "torch"})


def gemm(torch, args, t):
    g = torch.Generator().manual_seed(1)
    for label, m, n, k, ta, tb in pc.gemm_cases(args.sizes, not args.no_mlp):
        a = torch.rand((k, m) if ta else (m, k), generator=g) * 2 - 1
        b = torch.rand((n, k) if tb else (k, n), generator=g) * 2 - 1
        opa, opb = (a.t() if ta else a), (b.t() if tb else b)   # views: BLAS gets the transpose flag
        c = torch.empty(m, n)
        torch.mm(opa, opb, out=c)
        ref = opa.double() @ opb.double()
        err = float(((c.double() - ref).abs() / ref.abs().clamp(min=1)).max())
        if not err <= 1e-4 * k ** 0.5:
            print(f"torch_bench: verification failed: {label} threads {t}: relative error {err}", file=sys.stderr)
            return 1
        s = pc.measure(lambda: torch.mm(opa, opb, out=c), args.warmup, args.repeat)
        pc.emit({"bench": "gemm", "case": label, "m": m, "n": n, "k": k, "transA": ta, "transB": tb, "threads": t,
                 "gflops": 2.0 * m * n * k / s * 1e-9, "ms": s * 1e3, "lib": "torch"})
    return 0


def main():
    p = pc.base_parser(__doc__.splitlines()[0])
    p.add_argument("--bench", default="gemm,train", help="comma-separated: gemm, train (default both)")
    p.add_argument("--model", default="mlp,lenet", help="train: comma-separated models, mlp and/or lenet")
    p.add_argument("--epochs", type=int, default=1, help="train: epochs per run")
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=64, help="train: mini-batch size")
    p.add_argument("--limit", type=int, default=None, help="train: training examples (default all 60 000)")
    p.add_argument("--recipe", default="plain", choices=["plain", "main"],
                   help="train: plain (SGD lr 0.05) or main (make run's: Adam 1e-3, cosine, dropout 0.1)")
    p.add_argument("--one-thread-count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    benches = [b for b in args.bench.split(",") if b]
    for b in benches:
        if b not in ("gemm", "train"):
            p.error(f"--bench: unknown benchmark {b!r} (want gemm, train)")
    if args.one_thread_count is None:
        return pc.run_per_thread_count(__file__, args.threads, sys.argv[1:])
    t = args.one_thread_count
    pc.limit_threads(t)
    import torch
    torch.set_num_threads(t)
    pc.header(f"torch_bench | torch {torch.__version__} | threads {torch.get_num_threads()} | "
              f"MKL {torch.backends.mkl.is_available()} | oneDNN {torch.backends.mkldnn.is_available()} | "
              f"repeat {args.repeat}, warmup {args.warmup}")
    rc = 0
    if "gemm" in benches:
        rc |= gemm(torch, args, t)
    if "train" in benches:
        for name in [m for m in args.model.split(",") if m]:
            train(torch, name, t, args.epochs, args.batch, args.limit, args.recipe)
    return rc


if __name__ == "__main__":
    sys.exit(main())
