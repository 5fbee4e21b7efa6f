#!/usr/bin/env python3
"""PyTorch DDP peer of Benchmarks/mpi_scaling.sh: the plain recipe (SGD lr 0.05, per-rank batch 32,
global batch 64) on Fashion-MNIST with 2 processes on this machine (gloo backend, DistributedSampler,
1 thread each), one JSON line per model:
  {"bench":"ddp","model","ranks","threads_per_rank","samples_per_s","epoch_s","test_accuracy","lib":"torch-ddp"}
Example: .venv-peers/bin/python Benchmarks/peers/torch_ddp_bench.py --model mlp,lenet --epochs 1
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench as tb   # the data loader and the models, so both benchmarks train the same thing


def run(rank, world, name, epochs, batch, port, out):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x = torch.from_numpy(tb.load_idx("train-images-idx3-ubyte.gz", True))
    y = torch.from_numpy(tb.load_idx("train-labels-idx1-ubyte.gz", False))
    torch.manual_seed(1)
    net = torch.nn.parallel.DistributedDataParallel(tb.model(name))
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss_fn = torch.nn.CrossEntropyLoss()
    sampler = torch.utils.data.distributed.DistributedSampler(range(len(x)), num_replicas=world, rank=rank, seed=1)
    seconds = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        idx_all = torch.tensor(list(iter(sampler)))
        dist.barrier()
        t0 = time.perf_counter()
        for i in range(0, len(idx_all), batch):
            idx = idx_all[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        dist.barrier()
        seconds.append(time.perf_counter() - t0)
    if rank == 0:
        tx = torch.from_numpy(tb.load_idx("t10k-images-idx3-ubyte.gz", True))
        ty = torch.from_numpy(tb.load_idx("t10k-labels-idx1-ubyte.gz", False))
        with torch.no_grad():
            correct = sum(int((net.module(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum()) for i in range(0, len(tx), 1000))
        epoch_s = sum(seconds) / len(seconds)
        with open(out, "w") as f:
            json.dump({"bench": "ddp", "model": name, "ranks": world, "threads_per_rank": 1, "samples_per_s": len(x) / epoch_s,
                       "epoch_s": epoch_s, "test_accuracy": correct / len(tx), "lib": "torch-ddp"}, f)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp,lenet")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=32, help="per-rank batch")
    p.add_argument("--ranks", type=int, default=2)
    args = p.parse_args()
    import torch.multiprocessing as mp
    import tempfile
    for i, name in enumerate(m for m in args.model.split(",") if m):
        out = tempfile.mktemp(suffix=".json")
        mp.spawn(run, args=(args.ranks, name, args.epochs, args.batch, 29500 + i, out), nprocs=args.ranks)
        print(open(out).read())
        os.remove(out)


if __name__ == "__main__":
    main()
