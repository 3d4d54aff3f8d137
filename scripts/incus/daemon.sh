# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings (and $parts) come from lib.sh and incus-lane
# scripts/incus/daemon.sh - daemon control: incusd and lxcfs started without systemd and
# stopped by their recorded PIDs; `up`, `down` and `status`.
# Sourced by scripts/incus-lane (after lib.sh); defines functions only.

# --- PID records: "PID STARTTIME" so a reused PID is never mistaken for ours ----------------

proc_starttime() {
	[ -r "/proc/$1/stat" ] || return 1
	sed 's/^.*) //' "/proc/$1/stat" | cut -d' ' -f20
}
record_pid() {
	mkdir -p "$run_dir"
	printf '%s %s\n' "$2" "$(proc_starttime "$2")" >"$run_dir/$1.pid"
}
# recorded_pid NAME: prints the PID of NAME if `up` started it and it still runs (a zombie
# does not count: it has exited, only its parent has not reaped it yet).
recorded_pid() {
	local pid start
	[ -f "$run_dir/$1.pid" ] || return 1
	read -r pid start <"$run_dir/$1.pid" || return 1
	[ -n "$pid" ] && [ "$(proc_starttime "$pid" 2>/dev/null)" = "$start" ] || return 1
	[ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" != Z ] || return 1
	printf '%s\n' "$pid"
}
# stop_recorded NAME: TERM, wait up to 30 s, KILL if needed; then forget it.
stop_recorded() {
	local name=$1 pid
	if pid=$(recorded_pid "$name"); then
		say "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do
			recorded_pid "$name" >/dev/null || break
			sleep 0.1
		done
		if recorded_pid "$name" >/dev/null; then
			say "$name (pid $pid) still runs 30 s after SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do
				recorded_pid "$name" >/dev/null || break
				sleep 0.1
			done
		fi
		recorded_pid "$name" >/dev/null && fail "$name (pid $pid) survived SIGKILL"
	fi
	rm -f "$run_dir/$name.pid"
}

# --- up -----------------------------------------------------------------------------------------

find_incusd() {
	local candidate
	for candidate in /usr/libexec/incus/incusd /usr/lib/incus/incusd; do
		[ -x "$candidate" ] && printf '%s\n' "$candidate" && return 0
	done
	return 1
}

# install_incus: incus-base and incus-client from backports, through a private sources list.
is_mounted() {
	awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/self/mounts
}

start_lxcfs() {
	local pid
	command -v lxcfs >/dev/null 2>&1 || return 0
	if is_mounted "$lxcfs_dir"; then
		if stat "$lxcfs_dir/proc/uptime" >/dev/null 2>&1; then
			say "lxcfs already mounted on $lxcfs_dir: left as it is"
			return 0
		fi
		# Its lxcfs is gone (killed with the session that started it): nobody serves it.
		say "removing the dead lxcfs mount on $lxcfs_dir"
		umount "$lxcfs_dir" 2>/dev/null || umount -l "$lxcfs_dir"
	fi
	[ -c /dev/fuse ] || {
		say "no /dev/fuse: going on without lxcfs"
		return 0
	}
	mkdir -p "$lxcfs_dir"
	setsid lxcfs "$lxcfs_dir" </dev/null >>"$log_dir/lxcfs.log" 2>&1 9>&- &
	pid=$!
	record_pid lxcfs "$pid"
	for _ in $(seq 1 50); do
		is_mounted "$lxcfs_dir" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if is_mounted "$lxcfs_dir"; then
		say "lxcfs started (pid $pid)"
	else
		say "lxcfs did not mount $lxcfs_dir: going on without it"
		stop_lxcfs
	fi
}
stop_lxcfs() {
	local had=
	[ -f "$run_dir/lxcfs.pid" ] && had=1
	stop_recorded lxcfs
	# Ours died or was stopped: a FUSE mount left behind answers ENOTCONN to everyone.
	if [ -n "$had" ] && is_mounted "$lxcfs_dir"; then
		umount "$lxcfs_dir" 2>/dev/null || umount -l "$lxcfs_dir" 2>/dev/null || true
	fi
}

# start_incusd INCUSD: start it in its own session and wait until it is ready.
start_incusd() {
	local incusd=$1 group=root pid t0 why detail
	getent group incus-admin >/dev/null && group=incus-admin
	mkdir -p "$(dirname "$incus_log")"
	rm -f "$log_dir/incusd.out" # a new file: never truncate one an older incusd still writes
	t0=$(now)
	# INCUS_SKIP_INSTANCE_TYPES stops the daily download of cloud instance types; the proxy
	# variables send any other HTTP(S) fetch incusd might try to a closed loopback port.
	env INCUS_SKIP_INSTANCE_TYPES=1 \
		HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
		http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy= \
		setsid "$incusd" --group "$group" --logfile="$incus_log" \
		</dev/null >"$log_dir/incusd.out" 2>&1 9>&- &
	pid=$!
	record_pid incusd "$pid"
	say "incusd starting (pid $pid, group $group, log $incus_log)"
	for _ in $(seq 1 60); do
		if "$incusd" waitready --timeout=1 >/dev/null 2>&1; then
			say "incusd ready in $(since "$t0")"
			return 0
		fi
		recorded_pid incusd >/dev/null || break
	done
	why="did not become ready within 60 s"
	if ! recorded_pid incusd >/dev/null; then
		why="exited during startup"
		# Its last words: "Error: ..." on stderr, else the last error in its log.
		detail=$(sed -n 's/^Error: //p' "$log_dir/incusd.out" | tail -n 1)
		[ -n "$detail" ] || detail=$(grep 'level=error' "$log_dir/incusd.out" | tail -n 1)
		[ -z "$detail" ] || why="$why: $detail"
	fi
	show_log "$log_dir/incusd.out"
	stop_recorded incusd
	stop_lxcfs
	cannot_run "incusd $why (log: $incus_log)"
}

initialise_incus() {
	local log=$log_dir/init.log
	: >"$log"
	if [ "$(api_code /1.0/storage-pools/default)" != 200 ]; then
		say "initialising: storage pool 'default' (dir), no network"
		printf 'storage_pools:\n- name: default\n  driver: dir\n' |
			incus admin init --preseed >>"$log" 2>&1 || {
			show_log "$log"
			fail "incus admin init --preseed failed"
		}
	fi
	if [ "$(incus profile device get default root type 2>/dev/null)" != disk ]; then
		say "adding the root disk to the default profile"
		incus profile device add default root disk path=/ pool=default >>"$log" 2>&1 || {
			show_log "$log"
			fail "could not add the root disk to the default profile"
		}
	fi
}

cmd_up() {
	local incusd t0 pid
	[ "$(id -u)" -eq 0 ] || cannot_run "incus-lane up must run as root"
	lock
	t0=$(now)
	if incus_answers; then
		if incus_initialised; then
			if pid=$(recorded_pid incusd); then
				say "incusd already up (pid $pid) and initialised: nothing to do"
			else
				say "incusd already up (not started by incus-lane) and initialised: nothing to do"
			fi
			return 0
		fi
		say "incusd already up but not initialised"
		initialise_incus
		say "up in $(since "$t0")"
		return 0
	fi
	if ! incusd=$(find_incusd) || ! command -v incus >/dev/null 2>&1; then
		install_incus
		incusd=$(find_incusd) || cannot_run "incus-base is installed but has no incusd binary"
	fi
	if pid=$(recorded_pid incusd); then
		# Ours, yet it does not answer: a wedged daemon from an earlier run.
		say "incusd (pid $pid) from an earlier up does not answer: restarting it"
		stop_recorded incusd
	fi
	rm -f "$run_dir/incusd.pid"
	recorded_pid lxcfs >/dev/null || stop_lxcfs
	if ! recorded_pid lxcfs >/dev/null; then
		start_lxcfs
	fi
	start_incusd "$incusd"
	initialise_incus
	say "up in $(since "$t0"); socket $socket"
}

# --- down and status ----------------------------------------------------------------------------

lane_instances() {
	api GET /1.0/instances 2>/dev/null | grep -o '"/1.0/instances/[^"]*"' | tr -d '"' |
		sed 's,^/1.0/instances/,,' | grep "^$prefix" || true
}

cmd_down() {
	local name
	[ "$(id -u)" -eq 0 ] || fail "incus-lane down must run as root"
	lock
	cmd_cluster_down
	if incus_answers; then
		for name in $(lane_instances); do
			say "deleting instance $name"
			incus delete --force "$name" >/dev/null 2>&1 || say "could not delete $name"
		done
	fi
	if [ -f "$run_dir/incusd.pid" ]; then
		stop_recorded incusd
	elif incus_answers; then
		say "incusd was not started by incus-lane: left running"
	fi
	stop_lxcfs
	rmdir "$run_dir" 2>/dev/null || true
	say "down"
}

cmd_status() {
	local pid version owner
	printf 'socket: %s\n' "$socket"
	if ! incus_answers; then
		printf 'incusd: down\n'
		return 1
	fi
	owner="not started by incus-lane"
	pid=$(recorded_pid incusd 2>/dev/null) && owner="pid $pid, started by incus-lane"
	version=$(api GET /1.0 | json_string server_version)
	printf 'incusd: up (%s), Incus %s\n' "$owner" "${version:-?}"
	if pid=$(recorded_pid lxcfs 2>/dev/null); then
		printf 'lxcfs: pid %s, started by incus-lane\n' "$pid"
	fi
	printf 'initialised: %s\n' "$(incus_initialised && echo yes || echo no)"
	printf 'image aliases:\n'
	incus image alias list --format csv 2>/dev/null | awk -F, '{ print "  " $1 " -> " $2 }'
	printf 'instances (%s*):\n' "$prefix"
	lane_instances | sed 's/^/  /'
}


# --- cluster: a one-member cluster beside the lane's daemon --------------------------------------

# The lane's own Incus stays unclustered: `incus cluster enable` cannot be undone. The cluster is a
# second incusd with a folder of its own (INCUS_DIR), listening on loopback only, that `down`
# stops and removes whole.
cluster_dir=$var_dir/cluster
cluster_socket=$cluster_dir/unix.socket
cluster_address=127.0.0.1:${PIKACI_INCUS_CLUSTER_PORT:-18443}
cluster_member=pikaci-member

cluster_answers() {
	[ -S "$cluster_socket" ] &&
		curl -sf --unix-socket "$cluster_socket" --max-time 5 http://incus/1.0 2>/dev/null |
		grep -Eq '"type": ?"sync"'
}

cmd_cluster() {
	local incusd pid t0 log=$log_dir/cluster-init.log
	[ "$(id -u)" -eq 0 ] || cannot_run "incus-lane cluster must run as root"
	incus_answers || fail "incusd does not answer on $socket: run 'scripts/incus-lane up' first"
	lock
	t0=$(now)
	if ! cluster_answers; then
		incusd=$(find_incusd) || cannot_run "no incusd binary"
		stop_recorded incusd-cluster
		mkdir -p "$cluster_dir"
		env INCUS_DIR="$cluster_dir" INCUS_SKIP_INSTANCE_TYPES=1 \
			HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
			http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy= \
			setsid "$incusd" --group root --logfile="$log_dir/cluster-incusd.log" \
			</dev/null >"$log_dir/cluster-incusd.out" 2>&1 9>&- &
		pid=$!
		record_pid incusd-cluster "$pid"
		INCUS_DIR=$cluster_dir "$incusd" waitready --timeout=60 >/dev/null 2>&1 || {
			show_log "$log_dir/cluster-incusd.out"
			cmd_cluster_down
			cannot_run "the cluster's incusd did not become ready"
		}
		say "cluster incusd started (pid $pid, INCUS_DIR $cluster_dir)"
	fi
	if [ "$(INCUS_DIR=$cluster_dir incus cluster list --format csv 2>/dev/null | cut -d, -f1)" != "$cluster_member" ]; then
		# A dir pool, no network, the HTTPS listener on loopback only: clustering needs one.
		printf '%s\n' 'config:' "  core.https_address: $cluster_address" \
			'storage_pools:' '- name: default' '  driver: dir' \
			'profiles:' '- name: default' '  devices:' '    root:' '      path: /' \
			'      pool: default' '      type: disk' \
			'cluster:' "  server_name: $cluster_member" '  enabled: true' |
			INCUS_DIR=$cluster_dir incus admin init --preseed >"$log" 2>&1 || {
			show_log "$log"
			cmd_cluster_down
			fail "enabling the one-member cluster failed"
		}
	fi
	say "one-member cluster up in $(since "$t0"): member $cluster_member at https://$cluster_address, socket $cluster_socket"
	printf '%s\n' "$cluster_socket"
}

# Stops the cluster's incusd (deleting its instances first) and removes its folder.
cmd_cluster_down() {
	local name mount
	[ -d "$cluster_dir" ] || [ -f "$run_dir/incusd-cluster.pid" ] || return 0
	if cluster_answers; then
		for name in $(INCUS_DIR=$cluster_dir incus list --format csv -c n 2>/dev/null); do
			say "deleting cluster instance $name"
			INCUS_DIR=$cluster_dir incus delete --force "$name" >/dev/null 2>&1 ||
				say "could not delete $name"
		done
	fi
	stop_recorded incusd-cluster
	# Its own mounts (shmounts, guestapi, a container's left behind), deepest first.
	awk -v d="$cluster_dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r mount; do
			umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true
		done
	rm -rf "$cluster_dir"
	say "cluster removed"
}
