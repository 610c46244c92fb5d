#!/bin/bash
# whip-forward-cpu.sh BINARY N [WINDOW]: the server's CPU cost of forwarding
# one WHIP publisher (join --whip --video test --audio test) to N native room
# receivers on loopback, next to the publisher's own (encoding) CPU, both as
# utime+stime from /proc over WINDOW seconds (default 20) after 8 s of
# warm-up. Run it alternately with two binaries to compare them under the
# same load (BENCHMARKS.md, "WHIP and WHEP forwarding").
# VIDEO=FILE.y4m encodes that file (looped) instead of the test pattern, for a
# reference whose content costs the encoder more; the forwarding server's
# work is the same kind either way. ARGS adds serve flags (e.g.
# ARGS="--whip-read-batch 10ms").
set -u
B=$1; N=$2; W=${3:-20}
D=$(mktemp -d)
NET="--ice-interface lo --mdns=false --log-level error"
PORT=$((19000 + RANDOM % 900))
URL=http://127.0.0.1:$PORT
# shellcheck disable=SC2086
"$B" serve --addr 127.0.0.1:$PORT --log-level warn --whip --max-peers 16 ${ARGS:-} >"$D/serve.out" 2>"$D/serve.err" &
SP=$!
sleep 1
PIDS=""
for i in $(seq 1 "$N"); do
  "$B" join --server $URL --room r --name rx$i --video none --audio none $NET 2>"$D/rx$i.err" &
  PIDS="$PIDS $!"
done
"$B" join --whip "$URL/whip/r?name=pub" --video "${VIDEO:-test}" --audio test $NET 2>"$D/pub.err" &
PP=$!
sleep 8
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
s0=$(ticks $SP); p0=$(ticks $PP); l0=$(cut -d' ' -f1 /proc/loadavg)
sleep "$W"
s1=$(ticks $SP); p1=$(ticks $PP)
echo "$(basename "$B") ${ARGS:-} video=$(basename "${VIDEO:-test}") N=$N server=$(echo "scale=4;($s1-$s0)/100/$W" | bc) encoder=$(echo "scale=4;($p1-$p0)/100/$W" | bc) ratio=$(echo "scale=3;($s1-$s0)/($p1-$p0)" | bc) load=$l0"
kill -INT $PP $PIDS 2>/dev/null
sleep 2
kill -INT $SP 2>/dev/null
wait
rm -rf "$D"
