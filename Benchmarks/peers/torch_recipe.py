#!/usr/bin/env python3
"""PyTorch peer of Neurite's Fashion-MNIST CNN recipe: the same layer list (built by
torch_interop.torch_sequential), AdamW with decoupled weight decay (biases and norm scales excluded,
as Neurite), a cosine schedule down to 1 % of the rate, batch 64, and the same augmentation (random
crop of the 2-pixel zero-padded image, horizontal flip, optional random erasing), a 10 % validation
split by default (--val-split 0 trains on all 60 000 images); prints one JSON line with test and
validation accuracy and wall time.
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


def augment(torch, x, pad, flip, erase, g):
    """Neurite's augmentation on a batch [n, C, H, W], vectorised (a Python loop per example would
    make PyTorch's wall time about its interpreter): random crop of the zero-padded image (pad 0:
    none), horizontal flip with probability ½, and with probability `erase` a zeroed rectangle of
    2–20 % of the image with aspect ratio log-uniform in [0.3, 3.3]."""
    n, _, h, w = x.shape
    rows = torch.arange(h).expand(n, h)
    cols = torch.arange(w).expand(n, w)
    if pad > 0:
        rows = rows + torch.randint(0, 2 * pad + 1, (n, 1), generator=g)
        cols = cols + torch.randint(0, 2 * pad + 1, (n, 1), generator=g)
    if flip:
        mirrored = torch.rand(n, generator=g) < 0.5
        cols = torch.where(mirrored[:, None], cols.flip(1), cols)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad)) if pad > 0 else x
    batch = torch.arange(n)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()
    if erase > 0:
        chosen = torch.rand(n, generator=g) < erase
        area = h * w * (0.02 + 0.18 * torch.rand(n, generator=g))
        ratio = 0.3 * 11 ** torch.rand(n, generator=g)
        eh = (area * ratio).sqrt().long().clamp(1, h)
        ew = (area / ratio).sqrt().long().clamp(1, w)
        top = (torch.rand(n, generator=g) * (h - eh + 1)).long()
        left = (torch.rand(n, generator=g) * (w - ew + 1)).long()
        r = torch.arange(h)[None, :]
        c = torch.arange(w)[None, :]
        inside_r = (r >= top[:, None]) & (r < (top + eh)[:, None])
        inside_c = (c >= left[:, None]) & (c < (left + ew)[:, None])
        mask = chosen[:, None, None] & inside_r[:, :, None] & inside_c[:, None, :]
        out = out.masked_fill(mask[:, None], 0)
    return out


def parse_augment(text):
    """Neurite's `--augment` text ("crop,flip", "crop=4,flip,erase=0.3") → (pad, flip, erase)."""
    pad, flip, erase = 0, False, 0.0
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if name == "crop":
            pad = int(value or 2)
        elif name == "flip":
            flip = True
        elif name == "erase":
            erase = float(value or 0.5)
        else:
            raise SystemExit(f"--augment: unknown transform {name!r} (crop[=PAD], flip, erase[=P])")
    return pad, flip, erase


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn-bn", help="cnn-bn or a layer list over [1, 28, 28]")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--batch-size", "--batch", dest="batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--augment", default="crop,flip", help="as Neurite's --augment (default crop,flip)")
    p.add_argument("--val-split", type=float, default=0.1,
                   help="fraction held out for validation (default 0.1; 0 trains on all 60 000 images)")
    args = p.parse_args()
    pad, flip, erase = parse_augment(args.augment)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    import torch_interop as ti
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = CNN_BN if args.model == "cnn-bn" else args.model
    x = torch.from_numpy(ti.load_idx("train-images-idx3-ubyte.gz", True)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(ti.load_idx("train-labels-idx1-ubyte.gz", False))
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))
    held = int(len(x) * args.val_split)
    val, tr = perm[:held], perm[held:]
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
            loss_fn(net(augment(torch, x[idx], pad, flip, erase, g)), y[idx]).backward()
            opt.step()
        sched.step()
        v = ti.accuracy(torch, net, x[val], y[val]) / len(val) if held else None
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "val_accuracy": v, "seconds": time.perf_counter() - start}),
              file=sys.stderr)
    seconds = time.perf_counter() - start
    tx, ty = ti.test_set(torch, [1, 28, 28])
    print(json.dumps({"bench": "recipe", "model": args.model, "epochs": args.epochs, "seed": args.seed,
                      "augment": args.augment, "val_split": args.val_split,
                      "val_accuracy": ti.accuracy(torch, net, x[val], y[val]) / len(val) if held else None,
                      "test_accuracy": ti.accuracy(torch, net, tx, ty) / len(tx), "seconds": seconds,
                      "threads": args.threads, "lib": "torch"}))


if __name__ == "__main__":
    main()
