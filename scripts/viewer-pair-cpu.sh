#!/bin/bash
# viewer-pair-cpu.sh: the CPU of two native window viewers measured side by side.
#
# Usage: scripts/viewer-pair-cpu.sh ROUNDS "COMMAND X" "COMMAND Y"
#   e.g. scripts/viewer-pair-cpu.sh 12 /tmp/old "env GODEBUG=schedtrace=0 /tmp/new"
#
# One server and two live senders (--video test --audio test, 640×480@30) run
# from the first word of COMMAND X. Each round starts two viewers in the same
# room (join --view window on one Xvfb, --video none --audio none, no sound
# device), one run with COMMAND X and one with COMMAND Y, in alternating start
# order; after 12 s it takes the user+system CPU of each viewer over the same
# 15 s, with the frames each decoded a second (from --stats-json, ± 4), and
# the load average at the start and end. Both viewers decode the same streams
# under the same machine load at the same time, which makes small differences
# visible on a shared machine where BenchmarkViewCPU's alternated runs drown
# them (BENCHMARKS.md, remote video view, fifth follow-up). Each viewer also
# holds a (media-less) connection to the other, as the bench's viewer holds one
# to the Chromium page. Needs Xvfb and python3.
set -u
R=$1; CX=$2; CY=$3
BASE=${CX%% *}
D=$(mktemp -d /tmp/viewer-pair.XXXXXX)
PORT=$((20000 + RANDOM % 20000)); DISP=:$((100 + RANDOM % 400))
Xvfb $DISP -screen 0 2600x760x24 -nolisten tcp >/dev/null 2>&1 & XP=$!
$BASE serve --addr 127.0.0.1:$PORT >$D/serve.log 2>&1 & SP=$!
sleep 1
S="--server http://127.0.0.1:$PORT --room cpu --ice-interface lo --mdns=false"
$BASE join $S --name s1 --video test --audio test --view none >/dev/null 2>$D/s1.err </dev/null & P1=$!
$BASE join $S --name s2 --video test --audio test --view none >/dev/null 2>$D/s2.err </dev/null & P2=$!
trap 'kill $P1 $P2 $SP $XP 2>/dev/null; rm -rf $D' EXIT
sleep 3
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
frames() { tail -1 $1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["view"]["total"]["frames_decoded"])' 2>/dev/null || echo 0; }
declare -A cmd pid t0 t1 f0 f1
cmd[X]=$CX; cmd[Y]=$CY
for i in $(seq 1 $R); do
	if [ $((i % 2)) = 1 ]; then order="X Y"; else order="Y X"; fi
	for m in $order; do
		DISPLAY=$DISP ${cmd[$m]} join $S --name v$m --video none --audio none --speaker none --view window --stats-json $D/st.$m >/dev/null 2>$D/v$m.err </dev/null &
		pid[$m]=$!
	done
	sleep 12
	l0=$(cut -d' ' -f1 /proc/loadavg)
	for m in X Y; do t0[$m]=$(ticks ${pid[$m]}); f0[$m]=$(frames $D/st.$m); done
	s0=$(date +%s.%N); sleep 15; s1=$(date +%s.%N)
	for m in X Y; do t1[$m]=$(ticks ${pid[$m]}); f1[$m]=$(frames $D/st.$m); done
	l1=$(cut -d' ' -f1 /proc/loadavg)
	line="$(date -u +%H:%M:%S) round $i ($order) load $l0,$l1 |"
	for m in X Y; do
		line="$line $m $(python3 -c "print('%.4f cores %.1f fps' % ((${t1[$m]}-${t0[$m]})/100/($s1-$s0), (${f1[$m]}-${f0[$m]})/($s1-$s0)))") |"
	done
	echo "$line"
	for m in X Y; do kill ${pid[$m]}; done
	wait ${pid[X]} ${pid[Y]} 2>/dev/null
	rm -f $D/st.*
	sleep 1
done
