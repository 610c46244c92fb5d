#!/bin/bash
# whip-forward-pair.sh N WINDOW OLD_BINARY NEW_BINARY: the server's CPU per
# received datagram for two binaries measured at the same time, so that they
# share the machine's load (BENCHMARKS.md, "WHIP and WHEP forwarding",
# second round). Each binary runs its own scenario of whip-forward-cpu.sh
# (serve --whip, N native receivers, one join --whip publisher) on its own
# port; after 8 s, `perf stat` (root or perf_event_paranoid ≤ 1) counts the
# server's task-clock, context switches and the datagrams it received over
# WINDOW seconds. SRC sets the publisher's sources (default: the test pattern
# encoded live); a pre-encoded file keeps the packet rate the same in every
# run, e.g. SRC="--video clip.ivf --audio tone.ogg". ENV_A/ENV_B add
# environment variables to a server (e.g. ENV_B=GOMAXPROCS=1), ARGS_A/ARGS_B
# serve flags (e.g. ARGS_B="--whip-read-batch 10ms"). Datagrams read by
# recvmmsg (serve --whip-read-batch) count one each.
set -u
N=$1; W=$2; A=$3; B=$4
run() { # tag binary env args
  local tag=$1 bin=$2 env=$3 args=$4
  local D; D=$(mktemp -d)
  local NET="--ice-interface lo --mdns=false --log-level error"
  local PORT=$((19000 + RANDOM % 900)); local URL=http://127.0.0.1:$PORT
  # shellcheck disable=SC2086
  env $env "$bin" serve --addr 127.0.0.1:$PORT --log-level warn --whip --max-peers 16 $args >/dev/null 2>"$D/serve.err" &
  local SP=$!
  sleep 1
  local PIDS="" i
  for i in $(seq 1 "$N"); do "$bin" join --server $URL --room r --name rx$i --video none --audio none $NET >/dev/null 2>&1 & PIDS="$PIDS $!"; done
  # shellcheck disable=SC2086
  "$bin" join --whip "$URL/whip/r?name=pub" ${SRC:---video test --audio test} $NET >/dev/null 2>&1 &
  local PP=$!
  sleep 8
  perf stat -x, -p $PP -e task-clock -o "$D/pp.stat" -- sleep "$W" &
  # datagrams: successful recvmsg/recvfrom, plus what each recvmmsg returned
  # (one counter per return value 1..16, internal/rxbatch reads at most 16)
  local mm="" k
  for k in $(seq 1 16); do mm="$mm -e syscalls:sys_exit_recvmmsg --filter ret==$k"; done
  # shellcheck disable=SC2086
  perf stat -x, -p $SP -e task-clock,context-switches \
    -e syscalls:sys_exit_recvmsg --filter "ret > 0" -e syscalls:sys_exit_recvfrom --filter "ret > 0" \
    $mm -o "$D/sp.stat" -- sleep "$W"
  wait $!
  sleep 0.5
  local srv enc cs rx
  srv=$(awk -F, '/task-clock/{print $1}' "$D/sp.stat"); enc=$(awk -F, '/task-clock/{print $1}' "$D/pp.stat")
  cs=$(awk -F, '/context-switches/{print $1}' "$D/sp.stat"); rx=$(awk -F, '/recvmsg|recvfrom/{s+=$1} /recvmmsg/{k++; s+=k*$1; b+=$1} END{print s}' "$D/sp.stat")
  local batches; batches=$(awk -F, '/recvmmsg/{b+=$1} END{print b+0}' "$D/sp.stat")
  echo "$tag $(basename "$bin") $env $args N=$N server=$(echo "scale=4;$srv/1000/$W" | bc) publisher=$(echo "scale=4;$enc/1000/$W" | bc) rx/s=$((rx / W)) cs/rx=$(echo "scale=2;$cs/$rx" | bc) recvmmsg/s=$((batches / W)) us/rx=$(echo "scale=1;$srv*1000/$rx" | bc)"
  kill -INT $PP $PIDS 2>/dev/null; sleep 2; kill -INT $SP 2>/dev/null; wait 2>/dev/null
  rm -rf "$D"
}
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
run old "$A" "${ENV_A:-X=}" "${ARGS_A:-}" &
run new "$B" "${ENV_B:-X=}" "${ARGS_B:-}" &
wait
