# ci/lib.sh - shared by the lane scripts; sourced, not run.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

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
