"""The bundled MNIST (assets/mnist, gzipped IDX) as float32 arrays in [0, 1], as bnx reads it,
and the command line shared by the reference scripts."""

import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_DIR = os.path.join(ROOT, "assets", "mnist")


def _read_idx(path, magic):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    found, count = struct.unpack(">II", data[:8])
    if found != magic:
        sys.exit(f"{path}: magic {found}, expected {magic}")
    if magic == 2051:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, count * rows * cols, 16).reshape(count, rows, cols)
    return np.frombuffer(data, np.uint8, count, 8)


def load(data_dir=DEFAULT_DIR):
    """(x_train, y_train, x_test, y_test): images [n, 28, 28] float32 / 255, labels int64."""

    def pick(stem):
        for name in (stem + ".gz", stem):
            path = os.path.join(data_dir, name)
            if os.path.exists(path):
                return path
        sys.exit(f"{data_dir}: no {stem}[.gz]")

    x_train = _read_idx(pick("train-images-idx3-ubyte"), 2051).astype(np.float32) / 255.0
    y_train = _read_idx(pick("train-labels-idx1-ubyte"), 2049).astype(np.int64)
    x_test = _read_idx(pick("t10k-images-idx3-ubyte"), 2051).astype(np.float32) / 255.0
    y_test = _read_idx(pick("t10k-labels-idx1-ubyte"), 2049).astype(np.int64)
    return x_train, y_train, x_test, y_test


def parse_args(framework, devices=("cpu",)):
    parser = argparse.ArgumentParser(
        description=f"The Keras guide's networks in {framework}: time training steps, or train epochs."
    )
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--bn", action="store_true", help="Dense/Conv -> BatchNorm -> ReLU")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps before them")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="compute threads")
    parser.add_argument("--epochs", type=int, default=0,
                        help="instead of timing, train this many epochs and print accuracies")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", default=DEFAULT_DIR)
    parser.add_argument("--device", choices=devices, default=devices[0])
    return parser.parse_args()


def report_timing(framework, version, args, seconds, device=None):
    """One JSON line, the same fields as `bnx bench --json` reports."""
    samples_per_second = args.steps * args.batch_size / seconds
    print(json.dumps({
        "framework": framework,
        "version": version,
        "device": device,
        "model": args.model,
        "bn": args.bn,
        "threads": args.threads,
        "result": {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "seconds": seconds,
            "samples_per_second": samples_per_second,
            "milliseconds_per_step": 1000.0 * seconds / args.steps,
            "projected_epoch_seconds": 60000 / samples_per_second,
        },
    }), flush=True)
