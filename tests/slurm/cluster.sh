#!/usr/bin/env bash
# Start or stop a one-node SLURM cluster on localhost (Debian's slurm-wlm and
# munge; no systemd here, so the daemons are started directly and stopped by pid).
#   cluster.sh start DIR    install if needed, write DIR/slurm.conf, start, wait until the node is idle
#   cluster.sh stop DIR     stop the daemons started by 'start DIR'
set -euo pipefail
action=$1
dir=$(realpath -m "$2")
here=$(dirname "$(realpath "$0")")
default_conf=/etc/slurm/slurm.conf
marker="for tests/test_slurm.py only"

stop_pid() {
  if [ -f "$1" ]; then kill "$(cat "$1")" 2>/dev/null || true; rm -f "$1"; fi
}

case "$action" in
start)
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
  sed -e "s|@DIR@|$dir|g" -e "s|@CPUS@|$(nproc)|" -e "s|@MEM@|$mem_mb|" "$here/slurm.conf.in" > "$dir/slurm.conf"
  # srun inside a job reads the default path, not SLURM_CONF: link ours there,
  # unless the machine has a SLURM configuration of its own.
  if [ -e "$default_conf" ] && ! grep -q "$marker" "$default_conf"; then
    echo "$default_conf exists and is not ours; run this on a machine without SLURM" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$default_conf")"
  cp "$dir/slurm.conf" "$default_conf"
  [ -f /etc/munge/munge.key ] || mungekey --create --keyfile /etc/munge/munge.key
  munged --force --socket "$dir/munge/munge.socket" --pid-file "$dir/munged.pid" \
    --log-file "$dir/munged.log" --seed-file "$dir/munge/seed"
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$dir/slurm.conf"
  slurmd -f "$dir/slurm.conf" -N localhost
  for _ in $(seq 60); do
    if sinfo -h -N -o %t 2>/dev/null | grep -qx idle; then echo "slurm cluster up in $dir"; exit 0; fi
    sleep 1
  done
  echo "slurm cluster did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  exit 1
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munged.pid"
  if [ -f "$default_conf" ] && grep -q "$marker" "$default_conf"; then rm -f "$default_conf"; fi
  ;;
*)
  echo "usage: cluster.sh start|stop DIR" >&2
  exit 2
  ;;
esac
