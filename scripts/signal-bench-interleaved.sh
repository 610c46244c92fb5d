#!/bin/bash
# signal-bench-interleaved.sh OLD NEW [PAIRS]: the three figures of
# BENCHMARKS.md's "Signalling goals" table, measured alternately against two
# videochat server binaries in the same session, so that both see the same
# machine noise:
#   idle-19k  RSS per idle peer with 19,000 peers   (bench signal --peers 19000 --rate 1 --duration 2s --probes 200)
#   rep-1k    relay p99 with 1,000 peers at 30k/s   (bench signal --peers 1000 --sweep 30000 --duration 10s --probes -1)
#   join-10k  join p99 with 10,000 peers connected  (bench signal --peers 10000 --rate 1 --duration 2s --probes 500)
# Each pair runs every figure once per binary, in the order OLD NEW on odd
# pairs and NEW OLD on even ones (ABBA), PAIRS pairs (default 3). One load
# generator drives both servers: $GEN (default NEW) with --server-bin, so the
# generator is the same code for both; it needs a videochat that has
# --server-bin. JSON reports go to $OUT (default a new temporary directory);
# the table printed at the end has every run's value and load average, the
# median per binary and NEW/OLD (at most 1.10 = within 10 %), then the
# rep-1k runs in detail (a p99 far above the quiet machine's few ms with a
# server CPU well below its 0.6 core means the server was starved of CPU;
# server CPU per relayed message depends much less on that).
# TABLE_ONLY=1 with OUT set prints the tables of an earlier run again.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 OLD NEW [PAIRS]" >&2
  exit 2
fi
OLD=$1 NEW=$2 PAIRS=${3:-3}
GEN=${GEN:-$NEW}
OUT=${OUT:-$(mktemp -d /tmp/signal-interleaved.XXXXXX)}
mkdir -p "$OUT"
if ! "$GEN" bench signal --help 2>/dev/null | grep -q -- --server-bin; then
  echo "$GEN has no 'bench signal --server-bin': set GEN to a videochat that has it" >&2
  exit 2
fi

# figure name → bench arguments and the jq path of its value.
declare -A ARGS=(
  [idle-19k]="--peers 19000 --room-size 5 --rate 1 --duration 2s --probes 200"
  [rep-1k]="--peers 1000 --room-size 5 --sweep 30000 --duration 10s --probes -1"
  [join-10k]="--peers 10000 --room-size 5 --rate 1 --duration 2s --probes 500"
)
declare -A VALUE=(
  [idle-19k]='.idle.bytesPerPeer'
  [rep-1k]='.load[0].latency.p99'
  [join-10k]='.join.probe.p99'
)
declare -A UNIT=([idle-19k]="B/peer" [rep-1k]="ms" [join-10k]="ms")
declare -A SCALE=([idle-19k]=1 [rep-1k]=100 [join-10k]=1000) # rounding: 1/SCALE
FIGS=${FIGS:-"idle-19k rep-1k join-10k"} # a subset: FIGS=rep-1k

run() { # run FIG WHICH PAIR
  local fig=$1 which=$2 pair=$3 bin
  if [ "$which" = old ]; then bin=$OLD; else bin=$NEW; fi
  local f="$OUT/$fig-$which-$pair.json"
  # shellcheck disable=SC2086
  if ! "$GEN" bench signal --server-bin "$bin" ${ARGS[$fig]} --json >"$f" 2>"$OUT/$fig-$which-$pair.err"; then
    echo "$(date -u +%H:%M:%S) $fig $which #$pair FAILED (see $OUT/$fig-$which-$pair.err)" >&2
    return 0
  fi
  echo "$(date -u +%H:%M:%S) $fig $which #$pair: $(jq -r "${VALUE[$fig]}" "$f") ${UNIT[$fig]} load $(jq -r .setup.loadAvg "$f")" >&2
}

echo "$(date -u '+%Y-%m-%d %H:%M:%S') UTC: OLD=$OLD NEW=$NEW GEN=$GEN pairs=$PAIRS out=$OUT" >&2
[ "${TABLE_ONLY:-}" = 1 ] || for pair in $(seq 1 "$PAIRS"); do
  for fig in $FIGS; do
    if [ $((pair % 2)) = 1 ]; then
      run "$fig" old "$pair"; run "$fig" new "$pair"
    else
      run "$fig" new "$pair"; run "$fig" old "$pair"
    fi
  done
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
values() { # values FIG WHICH: one value per line
  for f in "$OUT/$1-$2-"*.json; do [ -s "$f" ] && jq -r "${VALUE[$1]}" "$f"; done
}
cells() { # cells FIG WHICH: "value (load)" of every run, in pair order
  local s="" f
  for pair in $(seq 1 "$PAIRS"); do
    f="$OUT/$1-$2-$pair.json"
    if [ -s "$f" ]; then
      s="$s$(jq -r "(${VALUE[$1]} * ${SCALE[$1]} | round / ${SCALE[$1]} | tostring) + \" (\" + (.setup.loadAvg | split(\" \")[0]) + \")\"" "$f"), "
    else
      s="${s}failed, "
    fi
  done
  echo "${s%, }"
}

echo
echo "Interleaved, ended $(date -u -r "$(ls -t "$OUT"/*.json | head -1)" '+%Y-%m-%d %H:%M') UTC, $PAIRS pairs (ABBA); each run: value (1-min load average at its start)"
echo
echo "| figure | unit | old runs | new runs | old median | new median | new/old | within 10 % |"
echo "|---|---|---|---|---|---|---|---|"
for fig in $FIGS; do
  mo=$(values "$fig" old | median); mn=$(values "$fig" new | median)
  ratio=$(awk -v o="$mo" -v n="$mn" 'BEGIN {if (o > 0) printf "%.3f", n / o; else print "nan"}')
  ok=$(awk -v r="$ratio" 'BEGIN {print (r != "nan" && r <= 1.10) ? "yes" : "no"}')
  rnd() { awk -v v="$1" -v s="${SCALE[$fig]}" 'BEGIN {if (v == "nan") print v; else printf "%.10g", int(v * s + 0.5) / s}'; }
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$fig" "${UNIT[$fig]}" "$(cells "$fig" old)" "$(cells "$fig" new)" "$(rnd "$mo")" "$(rnd "$mn")" "$ratio" "$ok"
done

echo
echo "| rep-1k run | relayed msg/s | behind | p50 ms | p99 ms | server CPU | server µs/msg | generator CPU | load |"
echo "|---|---|---|---|---|---|---|---|---|"
for pair in $(seq 1 "$PAIRS"); do
  for which in old new; do
    f="$OUT/rep-1k-$which-$pair.json"
    [ -s "$f" ] || continue
    jq -r --arg run "$which #$pair" '.load[0] as $l | "| \($run) | \($l.relayedRate | round) | \($l.behind) | \($l.latency.p50 * 100 | round / 100) | \($l.latency.p99 * 100 | round / 100) | \(($l.serverCpu // 0) * 100 | round / 100) | \(if $l.relayedRate > 0 then (($l.serverCpu // 0) * 1e7 / $l.relayedRate | round / 10) else "–" end) | \($l.generatorCpu * 100 | round / 100) | \(.setup.loadAvg | split(" ")[0]) |"' "$f"
  done
done
