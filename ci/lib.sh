# shellcheck shell=sh
# ci/lib.sh - shared by the lane scripts; sourced, not run. Every lane prints how long it took
# when it ends, whatever ends it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
lane_name=${0##*/}
lane_started=$(date +%s)

# lane_duration SECONDS: "4 min 05 s" (or "42 s").
lane_duration() {
	if [ "$1" -ge 60 ]; then
		printf '%d min %02d s' $(($1 / 60)) $(($1 % 60))
	else
		printf '%d s' "$1"
	fi
}

lane_took() {
	echo "== $lane_name: took $(lane_duration $(($(date +%s) - lane_started)))"
}
trap lane_took EXIT

# lane_setup DIR [MESON OPTION...]: configure DIR once, reconfigure when options change.
lane_setup() {
	dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

# lane_summary NAME LOG: print the lane's own total line; returns non-zero on failures.
lane_summary() {
	printf '== %s: ' "$1"
	scripts/count-results "$2"
}
