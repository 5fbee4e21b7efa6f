#!/usr/bin/env python3
"""PyTorch CPU timings of the layers of `neurite-bench conv`: LeNet-5 and AlexNet convolutions
forward + backward (input gradient, weight and bias gradients), and max-pool 3x3/2, printed as the
same JSON lines ({"bench":"conv","layer","pass","batch","threads","ms","gflops","lib":"torch"}).

    .venv-peers/bin/python Benchmarks/peers/torch_conv_bench.py --threads 1,2 [--layers lenet.conv1,lenet.conv2]

Each thread count runs in its own process (the thread variables must be set before torch loads).
"""
import argparse
import json
import os
import subprocess
import sys
import time

CASES = [  # name, batch, in channels, size, filters, kernel, stride, padding
    ("lenet.conv1", 64, 1, 28, 6, 5, 1, 2),
    ("lenet.conv2", 64, 6, 14, 16, 5, 1, 0),
    ("alexnet.conv1", 16, 3, 227, 96, 11, 4, 0),
    ("alexnet.conv2", 16, 96, 27, 256, 5, 1, 2),
    ("alexnet.conv3", 16, 256, 13, 384, 3, 1, 1),
    ("alexnet.conv4", 16, 384, 13, 384, 3, 1, 1),
    ("alexnet.conv5", 16, 384, 13, 256, 3, 1, 1),
]


def median_seconds(fn, repeat, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def run_one(threads, repeat, warmup, layers):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    for name, b, c, h, k, ks, s, p in CASES:
        if layers and name not in layers:
            continue
        conv = torch.nn.Conv2d(c, k, ks, stride=s, padding=p)
        x = torch.randn(b, c, h, h, requires_grad=True)

        def step():
            y = conv(x)
            y.backward(torch.ones_like(y))
        t = median_seconds(step, repeat, warmup)
        oh = (h + 2 * p - ks) // s + 1
        flops = 3 * 2 * b * k * oh * oh * c * ks * ks
        print(json.dumps({"bench": "conv", "layer": name, "pass": "forward+backward", "batch": b,
                          "threads": threads, "ms": t * 1e3, "gflops": flops / t / 1e9, "lib": "torch"}))
    if layers and "maxpool3x3s2" not in layers:
        return
    x = torch.randn(16, 96, 55, 55)
    pool = torch.nn.MaxPool2d(3, 2)
    t = median_seconds(lambda: pool(x), repeat, warmup)
    print(json.dumps({"bench": "conv", "layer": "maxpool3x3s2", "pass": "forward", "batch": 16,
                      "threads": threads, "ms": t * 1e3, "gflops": None, "lib": "torch"}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--layers", default="",
                   help="comma-separated layer names as neurite-bench conv names them (default: all), "
                        "e.g. lenet.conv1,lenet.conv2,maxpool3x3s2")
    p.add_argument("--one-thread-count", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    layers = [l for l in a.layers.split(",") if l]
    known = [c[0] for c in CASES] + ["maxpool3x3s2"]
    unknown = [l for l in layers if l not in known]
    if unknown:
        p.error(f"--layers: unknown layer {unknown[0]!r}; expected some of {', '.join(known)}")
    if a.one_thread_count:
        run_one(a.one_thread_count, a.repeat, a.warmup, layers)
        return
    for n in [int(t) for t in a.threads.split(",")]:
        env = dict(os.environ, OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n))
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--one-thread-count", str(n), "--repeat", str(a.repeat),
                        "--warmup", str(a.warmup), "--layers", a.layers], env=env, check=True)


if __name__ == "__main__":
    main()
