#!/usr/bin/env bash
# fuzz.sh runs every fuzz target for a short time, one after the other.
#
#   scripts/fuzz.sh                 each target for 20 s
#   FUZZTIME=2m scripts/fuzz.sh     each target for 2 minutes
#   scripts/fuzz.sh FuzzDecode      only the named target(s)
#
# Seed corpora live in each package's testdata/fuzz/<Target>/. A failing
# input found here is written there too: commit it as a regression seed once
# the bug is fixed. Exits non-zero if any target fails or no longer exists.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}

# package target — listed explicitly; add new targets here.
targets=(
	"./signal/proto FuzzDecode"
	"./signal/token FuzzVerify"
	"./signal/token FuzzIssueVerify"
	"./signal/turn FuzzParseUsername"
	"./signal FuzzFastPathAgrees"
	"./capture FuzzStreamParse"
)

# selected NAME [WANTED...]: true if no names were wanted or NAME is one.
selected() {
	[[ $# -eq 1 ]] && return 0
	local want
	for want in "${@:2}"; do [[ "$want" == "$1" ]] && return 0; done
	return 1
}

failed=()
ran=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	selected "$name" "$@" || continue
	ran=$((ran + 1))
	# go test -fuzz with a pattern that matches nothing passes silently.
	listed=$("$GO" test -list "^${name}\$" "$pkg" 2>&1)
	if ! grep -qx "$name" <<<"$listed"; then
		printf 'fuzz: %s has no %s:\n%s\n' "$pkg" "$name" "$listed" >&2
		failed+=("$pkg $name (missing)")
		continue
	fi
	echo "fuzz: $pkg $name for $FUZZTIME" >&2
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$pkg $name")
	fi
done

if [[ $ran -eq 0 ]]; then
	echo "fuzz: no target matches: $*" >&2
	exit 2
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	printf 'fuzz: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: all $ran targets passed" >&2
