"""Reads bnx's TensorBoard event files with TensorBoard's own reader and checks every value
against the runs' metrics.json files.

    python scripts/check_tensorboard.py LOGDIR RUN=RESULTS_DIR [RUN=RESULTS_DIR ...] [--steps]

RUN is a run folder under LOGDIR (e.g. mlp/bn); RESULTS_DIR holds that run's metrics.json.
With --steps each run must also hold one loss/train_step point per training step.
Prints 'N passed, M failed' and exits non-zero on any failure.
"""
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAGS = {
    "loss/train": "train_loss",
    "loss/val": "val_loss",
    "accuracy/train": "train_acc",
    "accuracy/val": "val_acc",
}


def f32(value):
    """The value as the event file stores it (a 32-bit float)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def main(argv):
    steps = "--steps" in argv
    args = [a for a in argv if a != "--steps"]
    logdir, runs = args[0], [a.split("=", 1) for a in args[1:]]
    passed = failed = 0

    def check(ok, message):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL:", message)

    for run, results in runs:
        with open(os.path.join(results, "metrics.json")) as f:
            epochs = json.load(f)["epochs"]
        events = EventAccumulator(os.path.join(logdir, run), size_guidance={"scalars": 0})
        events.Reload()
        scalars = events.Tags()["scalars"]
        for tag, key in TAGS.items():
            check(tag in scalars, f"{run}: no {tag} in {scalars}")
            if tag not in scalars:
                continue
            points = events.Scalars(tag)
            check([p.step for p in points] == [e["epoch"] for e in epochs], f"{run} {tag}: steps")
            for point, epoch in zip(points, epochs):
                check(point.value == f32(epoch[key]), f"{run} {tag} epoch {epoch['epoch']}: {point.value} vs {epoch[key]}")
        if steps:
            check("loss/train_step" in scalars, f"{run}: no loss/train_step")
            if "loss/train_step" in scalars:
                points = events.Scalars("loss/train_step")
                check([p.step for p in points] == list(range(1, len(points) + 1)), f"{run}: step numbers")
                check(len(points) % len(epochs) == 0 and len(points) > 0, f"{run}: {len(points)} steps over {len(epochs)} epochs")
    print(f"tensorboard: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
