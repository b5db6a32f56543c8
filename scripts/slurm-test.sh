#!/usr/bin/env bash
# Brings up a single-node Slurm cluster on this machine (Debian's slurm-wlm and munge; controller
# and node daemon on localhost, a generated slurm.conf), submits `bnx study lr --budget tiny` as
# a two-task job array with scripts/slurm/study.sbatch, then the dependent report job, checks that
# the report equals an unsharded run's, and tears the cluster down. Needs root (it installs the
# packages if they are missing and starts daemons) and no other Slurm on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
[ "$(id -u)" = 0 ] || { echo "run as root: it starts munged, slurmctld and slurmd" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bnx/target}"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurm-wlm and munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
fi
# scripts/test.sh hands over the binary its `cargo test` built; run alone, this builds it.
if [ -z "${BNX_BIN:-}" ]; then
    cargo build --release -q
fi
bnx="${BNX_BIN:-$CARGO_TARGET_DIR/release/bnx}"

work=$(mktemp -d /tmp/bnx-slurm.XXXXXX)
chmod 755 "$work"
teardown() {
    scancel --quiet --full --user=root 2>/dev/null || true
    [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null || true
    [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null || true
    [ -f "$work/munged.pid" ] && kill "$(cat "$work/munged.pid")" 2>/dev/null || true
    sleep 1
    rm -rf "$work"
}
trap teardown EXIT

# munge: a fresh key and a daemon of our own, talking through a socket in $work.
mkdir -p "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$work/munge"
chmod 700 "$work/munge"
chmod 400 "$work/munge/munge.key"
# The socket's folder must be open to everyone (the job's processes talk to munged).
mkdir -p "$work/munge-run"
chown munge:munge "$work/munge-run"
chmod 755 "$work/munge-run"
socket="$work/munge-run/munge.socket"
runuser -u munge -- munged --key-file="$work/munge/munge.key" --socket="$socket" \
    --pid-file="$work/munge-run/munged.pid" --log-file="$work/munge/munged.log" \
    --seed-file="$work/munge/munged.seed"
cp "$work/munge-run/munged.pid" "$work/munged.pid"

# slurm.conf for one node named after this host, with the plugins a container allows.
host=$(hostname)
cpus=$(nproc)
mkdir -p "$work/spool/ctld" "$work/spool/d" "$work/log"
cat > "$work/slurm.conf" <<CONF
ClusterName=bnx-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/spool/ctld
SlurmdSpoolDir=$work/spool/d
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 1
done
if ! sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "the Slurm node did not come up within a minute; its logs:" >&2
    cat "$work"/log/*.log >&2 || true
    exit 1
fi
sinfo

# Tiny real data: the first 2,000 training and 500 test images of the bundled MNIST.
python3 - "$work/data" <<'PY'
import gzip, pathlib, sys
out = pathlib.Path(sys.argv[1]); out.mkdir()
for name, header, size, count in [("train-images-idx3-ubyte", 16, 784, 2000), ("train-labels-idx1-ubyte", 8, 1, 2000),
                                  ("t10k-images-idx3-ubyte", 16, 784, 500), ("t10k-labels-idx1-ubyte", 8, 1, 500)]:
    data = gzip.open(f"assets/mnist/{name}.gz").read()
    head = bytearray(data[:header]); head[4:8] = count.to_bytes(4, "big")
    (out / name).write_bytes(bytes(head) + data[header:header + size * count])
PY
study=(lr --budget tiny --seeds 2 --data-dir "$work/data")

echo "unsharded: bnx study ${study[*]}"
"$bnx" study "${study[@]}" --out "$work/whole" --jobs 1 --quiet >/dev/null

cd "$work"
export BNX="$bnx"
array=$(sbatch --parsable --array=1-2 "$root/scripts/slurm/study.sbatch" "${study[@]}" --out "$work/sharded")
echo "submitted array job $array (2 tasks)"
# --wait blocks until the report job ends; the timeout keeps a stuck cluster from hanging CI.
timeout 600 sbatch --parsable --wait --dependency="afterok:$array" --output=bnx-study-report-%j.out \
    "$root/scripts/slurm/study.sbatch" \
    "${study[@]}" --out "$work/sharded" >/dev/null
echo "report job done; the jobs' output:"
for log in bnx-study-*.out; do echo "== $log"; grep -v '^$' "$log"; done

cmp "$work/whole/lr/summary.json" "$work/sharded/lr/summary.json"
cmp "$work/whole/REPORT.md" "$work/sharded/REPORT.md"
runs=$(find "$work/sharded/lr" -name run.json | wc -l)
echo "OK: the 2-task array ($runs runs) and its report equal the unsharded study (summary.json, REPORT.md)"
