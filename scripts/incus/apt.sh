# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings (and $parts) come from lib.sh and incus-lane
# scripts/incus/apt.sh - the private apt installer: this machine's own apt sources read (no
# mirror is named anywhere), and Incus installed from bookworm-backports through a private
# sources list that leaves the system's lists untouched.
# Sourced by scripts/incus-lane (after lib.sh); defines functions only.

# --- this machine's apt sources ---------------------------------------------------------------

# apt_entries: one line "URI|SUITE|COMPONENTS|SIGNED-BY" per enabled binary (deb) source.
apt_entries() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{
				i = 2; opts = ""
				if ($2 ~ /^\[/) {
					while (i <= NF) { opts = opts " " $i; if ($(i++) ~ /\]$/) break }
				}
				comps = ""
				for (j = i + 2; j <= NF; j++) comps = comps " " $j
				sb = ""
				if (match(opts, /signed-by=[^] ]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
				print $i "|" $(i + 1) "|" comps " |" sb
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush(  n, m, a, b, U, S) {
				if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^(no|false|0)/) {
					n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
					for (a = 1; a <= n; a++) for (b = 1; b <= m; b++)
						if (U[a] != "" && S[b] != "") print U[a] "|" S[b] "| " comps " |" sb
				}
				types = uris = suites = comps = sb = enabled = key = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			/^[ \t]/ {
				if (key == "uris") uris = uris " " $0
				else if (key == "suites") suites = suites " " $0
				else if (key == "components") comps = comps " " $0
				next
			}
			{
				key = tolower(substr($0, 1, index($0, ":") - 1))
				value = substr($0, index($0, ":") + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", value)
				if (key == "types") types = value
				else if (key == "uris") uris = value
				else if (key == "suites") suites = value
				else if (key == "components") comps = value
				else if (key == "signed-by" && value ~ /^\//) sb = value
				else if (key == "enabled") enabled = tolower(value)
			}
			END { flush() }' "$f"
	done
}
# apt_source SUITE: "URI|SIGNED-BY" of the Debian archive that serves SUITE's main component.
apt_source() {
	apt_entries | awk -F'|' -v suite="$1" '
		$2 == suite && $3 ~ / main / && ($4 == "" || $4 ~ /debian/) { print $1 "|" $4; exit }'
}
codename() {
	(
		# shellcheck disable=SC1091
		. /etc/os-release
		printf '%s\n' "${VERSION_CODENAME:-}"
	)
}

install_incus() {
	local code main sec uri sb apt_root opts log t0 f mangled policy own_policy=
	code=$(codename)
	[ "$code" = bookworm ] ||
		cannot_run "Incus is not installed and only Debian bookworm (backports) is supported for installing it (this is '${code:-unknown}')"
	main=$(apt_source bookworm)
	[ -n "$main" ] || cannot_run "no Debian 'bookworm main' entry in this machine's apt sources to derive the backports suite from"
	sec=$(apt_source bookworm-security)

	apt_root=$var_dir/apt
	rm -rf "$apt_root/sources.list.d"
	mkdir -p "$apt_root/sources.list.d" "$apt_root/lists/partial" "$apt_root/cache"
	: >"$apt_root/sources.list"
	uri=${main%%|*} sb=${main#*|}
	{
		printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates bookworm-backports\nComponents: main\n' "$uri"
		[ -z "$sb" ] || printf 'Signed-By: %s\n' "$sb"
		if [ -n "$sec" ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "${sec%%|*}"
			[ -z "${sec#*|}" ] || printf 'Signed-By: %s\n' "${sec#*|}"
		fi
	} >"$apt_root/sources.list.d/incus-lane.sources"
	# Start from the system's own copies of the same indexes: apt then fetches only what changed.
	for uri in "${main%%|*}" "${sec%%|*}"; do
		[ -n "$uri" ] || continue
		mangled=$(printf '%s' "$uri" | sed -e 's,^[a-z+]*://,,' -e 's,/*$,,' -e 's,/,_,g')
		for f in /var/lib/apt/lists/"${mangled}"_dists_*; do
			[ -f "$f" ] && [ ! -e "$apt_root/lists/${f##*/}" ] && cp -p "$f" "$apt_root/lists/"
		done
	done
	opts=(-o "Dir::Etc::SourceList=$apt_root/sources.list"
		-o "Dir::Etc::SourceParts=$apt_root/sources.list.d"
		-o "Dir::State::Lists=$apt_root/lists"
		-o "Dir::Cache::pkgcache=$apt_root/cache/pkgcache.bin"
		-o "Dir::Cache::srcpkgcache=$apt_root/cache/srcpkgcache.bin"
		-o "Acquire::Retries=2")
	log=$log_dir/apt.log
	: >"$log"
	t0=$(now)
	# incus-base's postinst runs `invoke-rc.d incus start`: that incusd would be nobody's to stop
	# and would fetch instance types from the internet. Deny service starts during the install
	# (the usual policy-rc.d exit 101) unless the machine already has a policy of its own.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# temporary, from scripts/incus-lane: no service starts while installing\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		# shellcheck disable=SC2064
		trap "rm -f '$policy'" EXIT
		own_policy=1
	elif "$policy" incus start >/dev/null 2>&1 || [ $? -ne 101 ]; then
		say "warning: $policy allows service starts: the package may start an incusd of its own"
	fi
	say "installing incus-base and incus-client from bookworm-backports (private sources list)"
	if ! apt-get "${opts[@]}" update >>"$log" 2>&1; then
		show_log "$log"
		cannot_run "apt-get update of the private bookworm/backports sources failed (see $log)"
	fi
	if ! apt-get "${opts[@]}" install -y --no-install-recommends \
		incus-base/bookworm-backports incus-client/bookworm-backports >>"$log" 2>&1; then
		show_log "$log"
		cannot_run "installing incus-base and incus-client from bookworm-backports failed (see $log)"
	fi
	if [ -n "$own_policy" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
	rm -rf "$apt_root/lists" "$apt_root/cache" # ~90 MB of indexes, rebuilt cheaply when needed
	say "installed Incus $(dpkg-query -W -f='${Version}' incus-base) in $(since "$t0")"
}

# is_mounted DIR: from the mount table, so that a dead FUSE mount (stat fails with ENOTCONN)
# still counts as mounted.
