# shellcheck shell=bash
# scripts/incus/lib.sh - what every part of scripts/incus-lane shares: its settings, messages,
# exit codes, the lock, and talking to incusd over its unix socket. Sourced; defines only.
# shellcheck disable=SC2034 # the settings are used by the other parts
prog=incus-lane
prefix=${PIKACI_INCUS_PREFIX:-pikaci-}
run_dir=${PIKACI_INCUS_RUN_DIR:-/run/pikaci-incus-lane}
var_dir=${PIKACI_INCUS_VAR_DIR:-/var/lib/pikaci-incus-lane}
cache_dir=${PIKACI_INCUS_CACHE_DIR:-/var/cache/pikaci-incus-lane}
log_dir=$var_dir/log
incus_dir=${INCUS_DIR:-/var/lib/incus}
socket=$incus_dir/unix.socket
incus_log=/var/log/incus/incus.log
lxcfs_dir=/var/lib/lxcfs
guest_suite=bookworm
# What the slim rootfs keeps (with their dependencies); bump slim_version when this changes.
slim_keep="base-files base-passwd bash coreutils dash debianutils dpkg findutils grep libc-bin
	libjansson4 mawk sed util-linux"
slim_version=1
guest_lib=/usr/local/lib/pikaci/pikaci-incus-run
guest_link=/run/current-system/sw/bin/pikaci-incus-run
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
fail() {
	say "error: $*"
	exit 1
}
# cannot_run WHY: Incus cannot run on this machine; one line, exit 77.
cannot_run() {
	printf '%s: cannot run Incus here: %s\n' "$prog" "$*" >&2
	exit 77
}
show_log() {
	[ -s "$1" ] || return 0
	say "last lines of $1:"
	tail -n 15 "$1" | sed 's/^/    /' >&2
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- talking to incusd over its unix socket --------------------------------------------------

# api METHOD PATH [CURL ARGS...]: the response body on stdout.
api() {
	local method=$1 path=$2
	shift 2
	curl -sS --unix-socket "$socket" --max-time 60 -X "$method" "$@" "http://incus$path"
}
# api_code PATH: the HTTP status of a GET.
api_code() {
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$socket" --max-time 10 "http://incus$1" ||
		true
}
incus_answers() {
	[ -S "$socket" ] &&
		curl -sf --unix-socket "$socket" --max-time 5 http://incus/1.0 2>/dev/null |
		grep -Eq '"type": ?"sync"'
}
# json_string KEY: the first "KEY":"value" of the JSON on stdin (flat values only).
json_string() {
	grep -o "\"$1\": \\{0,1\\}\"[^\"]*\"" | head -n 1 | sed 's/.*:[[:space:]]*"\(.*\)"$/\1/'
}
incus_initialised() {
	[ "$(api_code /1.0/storage-pools/default)" = 200 ] &&
		[ "$(incus profile device get default root type 2>/dev/null)" = disk ]
}

lock() {
	mkdir -p "$var_dir" "$log_dir"
	exec 9>"$var_dir/lock"
	flock -w 900 9 || fail "another incus-lane holds $var_dir/lock"
}

