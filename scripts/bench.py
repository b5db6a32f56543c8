#!/usr/bin/env python3
"""Training speed of the guide's four networks: bnx's backends against PyTorch and Keras.

Every sample is one fresh process that trains `warm-up + steps` steps on the bundled MNIST and
times the last `steps`. Samples are interleaved: each round runs every framework once per
network and batch size, in an order rotated from round to round, so a slow spell of the
machine lands on all of them. The table shows the median of the rounds.

Run it through scripts/bench.sh, which builds bnx and installs the reference frameworks.
Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "scripts", "reference")
BNX_BACKENDS = ("flex", "ndarray", "wgpu", "cuda")
LABELS = {"pytorch": "PyTorch", "pytorch-cuda": "PyTorch CUDA", "keras": "Keras"}

# Timed steps per sample, sized so a sample takes a few seconds on a 2-core CPU.
STEPS = {("mlp", 32): 1000, ("mlp", 128): 400, ("cnn", 32): 100, ("cnn", 128): 30}
# ndarray trains the CNN ~20x slower than flex: fewer steps keep its samples short.
SLOW = {"ndarray": 10}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="samples per cell (median reported)")
    p.add_argument("--batches", default="32,128", help="batch sizes, comma-separated")
    p.add_argument("--models", default="mlp,cnn")
    p.add_argument("--frameworks", default="flex,ndarray,pytorch,keras",
                   help="bnx backends (flex, ndarray, wgpu, cuda) and pytorch, pytorch-cuda, keras")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="compute threads for every framework")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every step count")
    p.add_argument("--bnx", default=os.path.join(ROOT, "target", "release", "bnx"))
    p.add_argument("--python", default=sys.executable, help="interpreter with torch and keras")
    p.add_argument("--markdown", help="write the table here too")
    p.add_argument("--samples", help="append every sample as a JSON line here")
    return p.parse_args()


def steps_for(framework, model, batch, scale):
    steps = STEPS[(model, batch)]
    if model == "cnn":
        steps //= SLOW.get(framework, 1)
    steps = max(10, round(steps * scale))
    return steps, max(3, steps // 10)


def command(args, framework, model, bn, batch):
    steps, warmup = steps_for(framework, model, batch, args.steps_scale)
    if framework in BNX_BACKENDS:
        return [args.bnx, "bench", "--json", "--quiet", "--model", model,
                "--variant", "bn" if bn else "no-bn", "--backends", framework,
                "--batch-size", str(batch), "--steps", str(steps), "--warmup", str(warmup)]
    script = {"pytorch": "torch_bench.py", "pytorch-cuda": "torch_bench.py",
              "keras": "keras_bench.py"}[framework]
    cmd = [args.python, os.path.join(REFERENCE, script), "--model", model,
           "--batch-size", str(batch), "--steps", str(steps), "--warmup", str(warmup),
           "--threads", str(args.threads)]
    if framework == "pytorch-cuda":
        cmd += ["--device", "cuda"]
    return cmd + (["--bn"] if bn else [])


def run(cmd, env):
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if done.returncode != 0 or not lines:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    args = parse_args()
    frameworks = args.frameworks.split(",")
    models = args.models.split(",")
    batches = [int(b) for b in args.batches.split(",")]
    cells = [(m, bn, b) for m in models for bn in (False, True) for b in batches]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    # With every core allowed, bnx uses its own thread policy (one thread for small steps, see
    # src/runtime/threads.rs), as a user's run does; fewer threads are forced on it.
    bnx_env = dict(env)
    if args.threads >= (os.cpu_count() or 1):
        del bnx_env["RAYON_NUM_THREADS"]
    samples = {}  # (framework, model, bn, batch) -> [samples/s]
    threads = {}  # (framework, model, bn, batch) -> threads bnx computed on
    flops = {}  # (framework, model, bn, batch) -> [(GFLOP/s, share of peak, peak)], bnx only
    devices, versions = {}, {}
    for r in range(args.rounds):
        for i, (model, bn, batch) in enumerate(cells):
            shift = (r + i) % len(frameworks)
            for framework in frameworks[shift:] + frameworks[:shift]:
                out = run(command(args, framework, model, bn, batch),
                          bnx_env if framework in BNX_BACKENDS else env)
                sps = out["result"]["samples_per_second"]
                if out.get("threads"):
                    threads[(framework, model, bn, batch)] = out["threads"]
                if "gflops" in out:
                    flops.setdefault((framework, model, bn, batch), []).append(
                        (out["gflops"], out.get("peak_share"), out.get("peak")))
                samples.setdefault((framework, model, bn, batch), []).append(sps)
                devices.setdefault(framework, out.get("device"))
                versions.setdefault(framework, out.get("version"))
                name = f"{model}{'+bn' if bn else ''}"
                print(f"round {r + 1}/{args.rounds}  {name:<7} batch {batch:<4} {framework:<8}"
                      f" {sps:9.0f} samples/s", file=sys.stderr, flush=True)
                if args.samples:
                    with open(args.samples, "a") as f:
                        f.write(json.dumps({"round": r + 1, "framework": framework, **out}) + "\n")
    table = render(args, frameworks, cells, samples, threads, devices, versions, flops)
    print(table)
    if args.markdown:
        tmp = args.markdown + ".tmp"
        with open(tmp, "w") as f:
            f.write(table)
        os.replace(tmp, args.markdown)


def render(args, frameworks, cells, samples, threads, devices, versions, flops):
    def median(key):
        return statistics.median(samples[key])

    bnx = [f for f in frameworks if f in BNX_BACKENDS]

    # Each bnx backend against the faster of its peers on the same kind of device, per cell.
    def peers(f):
        wanted = ("pytorch-cuda",) if f in ("wgpu", "cuda") else ("pytorch", "keras")
        return [p for p in wanted if p in frameworks]

    def fastest_peer(f, model, bn, batch):
        return max(peers(f), key=lambda p: median((p, model, bn, batch)))

    ratios = [f for f in bnx if peers(f)]
    head = ["network", "batch"] + [f"{LABELS.get(f, f)} s/epoch" for f in frameworks]
    head += [f"{f} / faster of {' and '.join(LABELS[p] for p in peers(f))}" for f in ratios]
    measured = [f for f in bnx if any(k[0] == f for k in flops)]
    head += [f"{f} GFLOP/s (% of FMA peak)" for f in measured]
    threaded = [f for f in bnx if any(k[0] == f for k in threads)]
    head += [f"{f} threads" for f in threaded]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for model, bn, batch in cells:
        row = [f"{model.upper()}{'+BN' if bn else ''}", str(batch)]
        for f in frameworks:
            values = [60000 / s for s in samples[(f, model, bn, batch)]]
            row.append(f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})")
        for f in ratios:
            peer = fastest_peer(f, model, bn, batch)
            ratio = median((peer, model, bn, batch)) / median((f, model, bn, batch))
            row.append(f"{ratio:.2f} ({LABELS[peer]})")
        for f in measured:
            gflops, shares, _ = zip(*flops[(f, model, bn, batch)])
            share = "" if None in shares else f" ({100 * statistics.median(shares):.0f} %)"
            row.append(f"{statistics.median(gflops):.1f}{share}")
        row += [str(threads.get((f, model, bn, batch), "")) for f in threaded]
        lines.append("| " + " | ".join(row) + " |")
    used = ", ".join(
        f"{LABELS.get(f, 'bnx ' + f)} {versions[f]} on {devices[f] or cpu_model()}"
        for f in frameworks)
    peaks = {}  # (threads, instructions) -> [GFLOP/s]
    for f in measured:
        for peak in peak_samples(flops, f):
            peaks.setdefault((peak["threads"], peak["instructions"]), []).append(peak["gflops"])
    peak_text = "; ".join(
        f"{t} thread{'s' if t > 1 else ''}: {statistics.median(g):.0f} GFLOP/s ({isa})"
        for (t, isa), g in sorted(peaks.items()))
    return "\n".join([
        f"Training speed, projected seconds per 60,000-sample epoch (training only): median of "
        f"{args.rounds} interleaved samples (min–max in brackets). "
        f"Ratios are bnx's epoch time over the faster peer's on the same kind of device, per "
        f"cell (the peer named): below 1 is faster.",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, at most {args.threads} compute threads for "
        f"every framework (bnx's CPU backends: as many as its thread policy gives the network, in "
        f"the threads column); {datetime.date.today().isoformat()}.",
        f"Frameworks: {used}.",
        f"Command: `{os.environ.get('BNX_BENCH_COMMAND') or 'scripts/bench.py ' + ' '.join(sys.argv[1:])}`.",
        "",
        "GFLOP/s counts the convolutions' and dense layers' arithmetic of a training step (forward, "
        "weight gradient, and input gradient but the first layer's; a multiply-add is two), over "
        "the step's whole time. The fp32 FMA peak is measured by `bnx bench` on a pool of the "
        "same threads, median over its samples"
        + (f": {peak_text}." if peak_text else "."),
        "",
        *lines,
        "",
    ])


def peak_samples(flops, framework):
    return [p for k, v in flops.items() if k[0] == framework for p in (x[2] for x in v) if p]


if __name__ == "__main__":
    main()
