"""The Keras guide's four networks in PyTorch, with Keras' defaults: Glorot-uniform weights and
zero biases, BatchNorm momentum 0.99 (PyTorch's 0.01) and epsilon 1e-3, Adam lr 1e-3 and
epsilon 1e-7, softmax cross-entropy. An eager training loop as a PyTorch user writes it.

    python torch_bench.py --model cnn --bn --batch-size 32 --steps 100   # one JSON line
    python torch_bench.py --model mlp --bn --epochs 3                     # accuracies
    python torch_bench.py --model cnn --bn --device cuda                  # on an NVIDIA GPU
"""

import time

import numpy as np
import torch
from torch import nn

import mnist


def block(layer, features, bn, dims):
    norm = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[dims]
    parts = [layer]
    if bn:
        parts.append(norm(features, eps=1e-3, momentum=0.01))
    parts.append(nn.ReLU())
    return parts


def network(model, bn):
    if model == "mlp":
        layers = [nn.Flatten()]
        widths = [784, 128, 64, 32]
        for fan_in, fan_out in zip(widths, widths[1:]):
            layers += block(nn.Linear(fan_in, fan_out), fan_out, bn, 1)
        layers.append(nn.Linear(32, 10))
    else:
        layers = []
        layers += block(nn.Conv2d(1, 32, 3), 32, bn, 2) + [nn.MaxPool2d(2)]
        layers += block(nn.Conv2d(32, 64, 3), 64, bn, 2) + [nn.MaxPool2d(2)]
        layers += [nn.Flatten()] + block(nn.Linear(1600, 64), 64, bn, 1)
        layers.append(nn.Linear(64, 10))
    net = nn.Sequential(*layers)
    for layer in net:
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return net


def main():
    args = mnist.parse_args("PyTorch", devices=("cpu", "cuda"))
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = mnist.load(args.data_dir)
    x_train = torch.from_numpy(x_train).unsqueeze(1).to(device)
    y_train = torch.from_numpy(y_train).to(device)
    net = network(args.model, args.bn).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(args.seed)

    def batches():
        while True:  # reshuffled every epoch, the last partial batch dropped
            order = torch.randperm(len(y_train), generator=generator).to(device)
            for start in range(0, len(order) - args.batch_size + 1, args.batch_size):
                index = order[start:start + args.batch_size]
                yield x_train[index], y_train[index]

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        logits = net(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        return loss.detach(), (logits.argmax(1) == y).sum()

    net.train()
    if args.epochs:
        stream = batches()
        per_epoch = len(y_train) // args.batch_size
        for epoch in range(1, args.epochs + 1):
            net.train()
            started = time.perf_counter()
            loss_sum, hits = 0.0, 0
            for _ in range(per_epoch):
                loss, correct = step(*next(stream))
                loss_sum += loss.item()
                hits += correct.item()
            seconds = time.perf_counter() - started
            net.eval()
            with torch.no_grad():
                logits = net(torch.from_numpy(x_test).unsqueeze(1).to(device))
                val_acc = (logits.argmax(1).cpu().numpy() == y_test).mean()
            print(f"epoch {epoch}: train loss {loss_sum / per_epoch:.4f} "
                  f"acc {hits / (per_epoch * args.batch_size):.4f}  val acc {val_acc:.4f}  {seconds:.1f} s",
                  flush=True)
        return

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    stream = batches()
    for _ in range(args.warmup):
        step(*next(stream))
    sync()
    started = time.perf_counter()
    for _ in range(args.steps):
        step(*next(stream))
    sync()
    name = "pytorch" if device.type == "cpu" else "pytorch-cuda"
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    mnist.report_timing(name, torch.__version__, args, time.perf_counter() - started, where)


if __name__ == "__main__":
    main()
