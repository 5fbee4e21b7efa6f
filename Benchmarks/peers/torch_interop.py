#!/usr/bin/env python3
"""Neurite checkpoints in PyTorch and PyTorch weights in Neurite.

  to-torch CHECKPOINT        builds the nn.Sequential of a Neurite checkpoint's layer list, loads its
                             model.* tensors with load_state_dict(strict=True) and prints its Fashion-MNIST
                             test accuracy (which must equal `neurite evaluate --checkpoint CHECKPOINT`).
  from-torch --model M -o F  builds the nn.Sequential of a named model or layer list, trains it on
                             Fashion-MNIST (SGD lr 0.05, batch 64, seeded; --epochs 0 keeps the initial
                             weights) and saves its state_dict with safetensors.torch.save_file in
                             each --dtype (f32, f16, bf16, f64), printing the test accuracy of the
                             weights as saved, ready for
                             `neurite import F --model M --data fashion-mnist -o OUT`.

One JSON line per run on stdout: {"direction","model","test_accuracy","correct","examples",...}.
Layer i of the layer list is module i of the nn.Sequential, so the state_dict names agree
("3.weight", "1.running_mean"); a Neurite checkpoint stores them as "model.3.weight".
Example:
    .venv-peers/bin/python Benchmarks/peers/torch_interop.py --threads 2 from-torch --model lenet --epochs 1 -o lenet.safetensors
    neurite import lenet.safetensors --model lenet --data fashion-mnist -o lenet-neurite.safetensors
    neurite evaluate --checkpoint lenet-neurite.safetensors
    .venv-peers/bin/python Benchmarks/peers/torch_interop.py to-torch lenet-neurite.safetensors
"""
import argparse
import json
import sys

from torch_bench import load_idx

# The named models of Sources/Neurite/Models/Models.swift with 10 outputs (`neurite summary --model NAME`
# prints the same lists); any other layer list works as it is.
NAMED = {
    "mlp": ([784], "dense:256,relu,dense:128,relu,dense:10"),
    "linear": ([784], "dense:10"),
    "lenet": ([1, 28, 28], "conv:6:5:pad=2,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:120,relu,dense:84,relu,dense:10"),
    "alexnet-small": ([1, 28, 28], "conv:16:5:pad=2,relu,maxpool:3:stride=2,lrn,conv:32:3:pad=1,relu,maxpool:3:stride=2,lrn,"
                      "conv:64:3:pad=1,relu,conv:64:3:pad=1,relu,conv:64:3:pad=1,relu,maxpool:3:stride=2,flatten,"
                      "dense:256,relu,dropout:0.5,dense:128,relu,dropout:0.5,dense:10"),
}


def pair(text):
    """Neurite's sizes: "5" or "3x5"; paddings "P" or "HxW" (torch has no 4-sided padding)."""
    parts = [int(p) for p in text.split("x")]
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 4 and parts[0] == parts[1] and parts[2] == parts[3]:
        return parts[0], parts[2]
    raise SystemExit(f"torch_interop: padding {text!r} differs top/bottom or left/right; torch's layers cannot express it")


def layer_args(item, positional_names):
    """'conv:6:5:pad=2' -> ('conv', {'filters': '6', 'kernel': '5', 'pad': '2'})."""
    keyword, *rest = item.split(":")
    args, position = {}, 0
    for r in rest:
        if "=" in r:
            k, v = r.split("=", 1)
            args[k] = v
        else:
            if position >= len(positional_names):
                raise SystemExit(f"torch_interop: too many arguments in {item!r}")
            args[positional_names[position]] = r
            position += 1
    return keyword, args


POSITIONAL = {"dense": ["units"], "conv": ["filters", "kernel"], "maxpool": ["size"], "avgpool": ["size"],
              "lrn": ["size"], "dropout": ["rate"], "leakyrelu": ["slope"], "elu": ["alpha"]}


def torch_sequential(torch, spec, input_shape):
    """The nn.Sequential of a Neurite layer list over examples of `input_shape`, one module per layer."""
    nn = torch.nn
    shape = list(input_shape)
    modules = []
    for item in spec.split(","):
        if item.split(":")[0] not in list(POSITIONAL) + ["batchnorm", "flatten", "relu", "sigmoid", "tanh", "softmax"]:
            raise SystemExit(f"torch_interop: layer {item!r} has no PyTorch module here (maxout has none in torch.nn)")
        keyword, a = layer_args(item, POSITIONAL.get(item.split(":")[0], []))
        if keyword == "dense":
            m = nn.Linear(shape[0], int(a["units"]))
        elif keyword == "conv":
            m = nn.Conv2d(shape[0], int(a["filters"]), pair(a["kernel"]), stride=pair(a.get("stride", "1")),
                          padding=pair(a.get("pad", "0")))
        elif keyword == "maxpool":
            m = nn.MaxPool2d(pair(a["size"]), stride=pair(a.get("stride", a["size"])), padding=pair(a.get("pad", "0")))
        elif keyword == "avgpool":
            m = nn.AvgPool2d(pair(a["size"]), stride=pair(a.get("stride", a["size"])))
        elif keyword == "lrn":
            m = nn.LocalResponseNorm(int(a.get("size", 5)), alpha=float(a.get("alpha", 1e-4)),
                                     beta=float(a.get("beta", 0.75)), k=float(a.get("k", 2)))
        elif keyword == "batchnorm":
            kind = nn.BatchNorm1d if len(shape) == 1 else nn.BatchNorm2d
            m = kind(shape[0], eps=float(a.get("eps", 1e-5)), momentum=float(a.get("momentum", 0.1)))
        elif keyword == "dropout":
            m = nn.Dropout(float(a["rate"]))
        elif keyword == "flatten":
            m = nn.Flatten()
        elif keyword in ("relu", "sigmoid", "tanh"):
            m = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[keyword]()
        elif keyword == "leakyrelu":
            m = nn.LeakyReLU(float(a.get("slope", 0.1)))
        elif keyword == "elu":
            m = nn.ELU(float(a.get("alpha", 1)))
        else:  # softmax
            m = nn.Softmax(dim=1)
        modules.append(m)
        with torch.no_grad():
            m.eval()
            shape = list(m(torch.zeros([1] + shape)).shape[1:])
    return nn.Sequential(*modules)


def test_set(torch, input_shape):
    """Fashion-MNIST's 10 000 test images (pixels / 255, as Neurite) shaped as the model's examples."""
    x = torch.from_numpy(load_idx("t10k-images-idx3-ubyte.gz", True)).reshape([-1] + list(input_shape))
    return x, torch.from_numpy(load_idx("t10k-labels-idx1-ubyte.gz", False))


def accuracy(torch, net, x, y):
    """Correct predictions (argmax; a single output is a logit, positive = class 1), as Neurite decides."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            out = net(x[i:i + 1000])
            pred = out.argmax(1) if out.shape[1] > 1 else (out[:, 0] > 0).long()
            correct += int((pred == y[i:i + 1000]).sum())
    return correct


def to_torch(torch, args):
    from safetensors import safe_open
    from safetensors.torch import load_file
    with safe_open(args.checkpoint, "pt") as f:
        meta = f.metadata() or {}
    if "architecture" not in meta:
        raise SystemExit(f"torch_interop: {args.checkpoint} has no architecture metadata (not a Neurite checkpoint)")
    arch = json.loads(meta["architecture"])
    spec = ",".join(arch["layers"])
    net = torch_sequential(torch, spec, arch["input_shape"])
    tensors = load_file(args.checkpoint)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    net.load_state_dict(state, strict=True)   # any missing, unexpected or misshapen tensor raises
    x, y = test_set(torch, arch["input_shape"])
    correct = accuracy(torch, net, x, y)
    print(json.dumps({"direction": "neurite-to-torch", "model": spec, "test_accuracy": correct / len(x),
                      "correct": correct, "examples": len(x), "training_state_tensors": len(tensors) - len(state)}))


def from_torch(torch, args):
    from safetensors.torch import save_file
    input_shape, spec = NAMED.get(args.model, (None, args.model))
    if args.input_shape:
        input_shape = [int(s) for s in args.input_shape.split(",")]
    if input_shape is None:
        raise SystemExit("torch_interop: a layer list needs --input-shape (784 or 1,28,28 for Fashion-MNIST)")
    torch.manual_seed(args.seed)
    net = torch_sequential(torch, spec, input_shape)
    if args.epochs > 0:
        x = torch.from_numpy(load_idx("train-images-idx3-ubyte.gz", True)).reshape([-1] + input_shape)
        y = torch.from_numpy(load_idx("train-labels-idx1-ubyte.gz", False))
        if args.limit:
            x, y = x[:args.limit], y[:args.limit]
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        loss_fn = torch.nn.CrossEntropyLoss()
        order = torch.Generator().manual_seed(args.seed)
        for _ in range(args.epochs):
            net.train()
            perm = torch.randperm(len(x), generator=order)
            for i in range(0, len(x), 64):
                idx = perm[i:i + 64]
                opt.zero_grad(set_to_none=True)
                loss_fn(net(x[idx]), y[idx]).backward()
                opt.step()
    dtypes = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "f64": torch.float64}
    trained = {k: v.clone() for k, v in net.state_dict().items()}
    tx, ty = test_set(torch, input_shape)
    for name in args.dtype:
        path = args.output if len(args.dtype) == 1 else args.output.replace(".safetensors", "") + f"-{name}.safetensors"
        # Integer buffers (num_batches_tracked) stay I64, as a state_dict holds them.
        state = {k: (v.to(dtypes[name]) if v.is_floating_point() else v).contiguous() for k, v in trained.items()}
        save_file(state, path)
        # What Neurite will compute: the same model with the weights rounded through the dtype.
        net.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})
        correct = accuracy(torch, net, tx, ty)
        print(json.dumps({"direction": "torch-to-neurite", "model": args.model, "dtype": name, "epochs": args.epochs,
                          "test_accuracy": correct / len(tx), "correct": correct, "examples": len(tx), "file": path}))


def dtype_list(text):
    names = [t for t in text.split(",") if t]
    for n in names:
        if n not in ("f32", "f16", "bf16", "f64"):
            raise argparse.ArgumentTypeError(f"--dtype wants f32, f16, bf16 or f64 (comma-separated), got {n!r}")
    return names


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-torch", help="load a Neurite checkpoint into torch and evaluate it")
    a.add_argument("checkpoint")
    b = sub.add_parser("from-torch", help="train a torch model and save its state_dict for `neurite import`")
    b.add_argument("--model", required=True, help="mlp, linear, lenet, alexnet-small or a layer list")
    b.add_argument("--input-shape", help="example shape for a layer list, e.g. 784 or 1,28,28")
    b.add_argument("-o", "--output", required=True, help="the safetensors file to write")
    b.add_argument("--dtype", type=dtype_list, default=["f32"],
                   help="f32, f16, bf16 or f64; several (comma-separated) write one file each, OUTPUT-<dtype>.safetensors")
    b.add_argument("--epochs", type=int, default=1)
    b.add_argument("--limit", type=int, help="training examples (default all 60 000)")
    b.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    (to_torch if args.command == "to-torch" else from_torch)(torch, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
