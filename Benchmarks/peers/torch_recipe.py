#!/usr/bin/env python3
"""PyTorch peer of Neurite's Fashion-MNIST CNN recipe: the same layer list (built by
torch_interop.torch_sequential), AdamW with decoupled weight decay (biases and norm scales excluded,
as Neurite), a cosine schedule down to 1 % of the rate, batch 64, and the same augmentation (random
crop of the 2-pixel zero-padded image, horizontal flip), a 10 % validation split; prints one JSON line
with test and validation accuracy and wall time.
Example: .venv-peers/bin/python Benchmarks/peers/torch_recipe.py --model cnn-bn --epochs 12 --threads 2
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CNN_BN = ("conv:32:3:pad=1,batchnorm,relu,maxpool:2,conv:64:3:pad=1,batchnorm,relu,maxpool:2,"
          "conv:128:3:pad=1,batchnorm,relu,maxpool:2,flatten,dense:256,batchnorm,relu,dropout:0.3,dense:10")


def augment(torch, x, pad, g):
    """Random crop of the zero-padded batch and a horizontal flip with probability ½, per example."""
    n = x.shape[0]
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    flip = torch.rand(n, generator=g) < 0.5
    out = torch.empty_like(x)
    h, w = x.shape[2], x.shape[3]
    for i in range(n):
        img = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = img.flip(2) if flip[i] else img
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn-bn", help="cnn-bn or a layer list over [1, 28, 28]")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    import torch_interop as ti
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = CNN_BN if args.model == "cnn-bn" else args.model
    x = torch.from_numpy(ti.load_idx("train-images-idx3-ubyte.gz", True)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(ti.load_idx("train-labels-idx1-ubyte.gz", False))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    val, tr = perm[:len(x) // 10], perm[len(x) // 10:]
    net = ti.torch_sequential(torch, spec, [1, 28, 28])
    decay = [p for n, p in net.named_parameters() if n.endswith("weight") and p.dim() > 1]
    rest = [p for n, p in net.named_parameters() if not (n.endswith("weight") and p.dim() > 1)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay}, {"params": rest, "weight_decay": 0}],
                            lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(e / args.epochs, 1))))
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(args.seed + 1)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = tr[torch.randperm(len(tr), generator=g)]
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(augment(torch, x[idx], 2, g)), y[idx]).backward()
            opt.step()
        sched.step()
        v = ti.accuracy(torch, net, x[val], y[val]) / len(val)
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "val_accuracy": v, "seconds": time.perf_counter() - start}),
              file=sys.stderr)
    seconds = time.perf_counter() - start
    tx, ty = ti.test_set(torch, [1, 28, 28])
    print(json.dumps({"bench": "recipe", "model": args.model, "epochs": args.epochs, "seed": args.seed,
                      "val_accuracy": ti.accuracy(torch, net, x[val], y[val]) / len(val),
                      "test_accuracy": ti.accuracy(torch, net, tx, ty) / len(tx), "seconds": seconds,
                      "threads": args.threads, "lib": "torch"}))


if __name__ == "__main__":
    main()
