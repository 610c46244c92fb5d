#!/usr/bin/env bash
# deps.sh installs the system packages videochat needs, where it can.
#
#   scripts/deps.sh build   libvpx-dev, pkg-config (VP8), libopus-dev (Opus
#                           decoder), libavcodec-dev (H.264 decoder of the
#                           views), libsdl2-dev libyuv-dev (the window view),
#                           libx11-dev libxext-dev (screen capture)
#   scripts/deps.sh test    the above + chromium, redis-server, ffmpeg (ffprobe),
#                           and the real device stack the tests drive:
#                           pulseaudio (+ utils, sox) for microphone and
#                           speaker, xvfb + imagemagick for screen capture and
#                           the window view, tmux for the terminal view,
#                           libsixel-bin (sixel2png) to decode its sixel images
#
# On Debian/Ubuntu as root it runs apt-get; otherwise it prints the exact
# command to run and fails if something needed is missing.
set -euo pipefail

want=(libvpx-dev pkg-config libopus-dev libsdl2-dev libavcodec-dev libx11-dev libxext-dev)
want+=(libyuv-dev) # the window view's picture scaling on SDL's software renderer (view/window/argb.go)
if [[ "${1:-build}" == test ]]; then
	want+=(chromium redis-server ffmpeg pulseaudio pulseaudio-utils sox xvfb imagemagick tmux libsixel-bin)
	command -v npm >/dev/null || want+=(nodejs npm) # third-party WHIP/WHEP browser clients (scripts/whipjs.sh)
fi
[[ "${1:-build}" == test ]] && want+=(iproute2) # tc, ip: the network-namespace tests (e2e/netns_test.go)

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
	echo "deps: installing ${missing[*]}" >&2
	bash -c "$cmd" >&2
elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then
	echo "deps: installing ${missing[*]} with sudo" >&2
	sudo bash -c "$cmd" >&2
else
	echo "deps: missing ${missing[*]}; install them with:" >&2
	echo "  $cmd" >&2
	exit 1
fi
