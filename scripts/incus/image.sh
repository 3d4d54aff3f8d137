# shellcheck shell=bash
# shellcheck disable=SC2154 # the settings (and $parts) come from lib.sh and incus-lane
# scripts/incus/image.sh - the image builder: a slim Debian rootfs (cached), the guest and its
# layout, packed and imported as an image alias.
# Sourced by scripts/incus-lane (after lib.sh); defines functions only.

# --- image --------------------------------------------------------------------------------------

install_debootstrap() {
	local log=$log_dir/apt-debootstrap.log
	command -v debootstrap >/dev/null 2>&1 && return 0
	say "installing debootstrap"
	: >"$log"
	if ! apt-get install -y --no-install-recommends debootstrap >>"$log" 2>&1; then
		apt-get update >>"$log" 2>&1 || true
		apt-get install -y --no-install-recommends debootstrap >>"$log" 2>&1 || {
			show_log "$log"
			cannot_run "debootstrap is missing and could not be installed (see $log)"
		}
	fi
}

# host_packages SEEDS: the host's installed packages the guest rootfs takes (the closure of
# SEEDS), one "NAME VERSION ARCH" a line; fails when a seed is not installed here.
host_packages() {
	local seed kept
	kept=$(awk -v seeds="$1" -v kept=1 -f "$parts/slim-removable.awk" /var/lib/dpkg/status | sort)
	# Not `printf | grep -q`: grep leaves at the first match, printf may then die of SIGPIPE,
	# and under pipefail a package that is there would count as missing.
	for seed in ${1//,/ }; do
		grep -qx -- "$seed" <<<"$kept" || return 1
	done
	# shellcheck disable=SC2086 # one argument a package
	dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' $kept
}

# host_rootfs ROOT PACKAGES: a rootfs made of this machine's own installed files of PACKAGES
# (as `dpkg -L` lists them; host_packages' lines), without downloading anything. What
# maintainer scripts would have made is made here: the users and groups (base-passwd's
# masters), the alternatives whose targets are in (awk), the library cache, and a dpkg status
# that lists exactly these packages.
host_rootfs() {
	local root=$1 packages=$2 names list=$1.files links link name target
	names=$(printf '%s\n' "$packages" | cut -d' ' -f1)
	mkdir -p "$root"
	# Paths through the top-level merged-/usr links (/bin -> usr/bin) are taken where they
	# lead, and the links themselves as links.
	links=$(for link in /*; do
		if [ -L "$link" ] && [ "$(readlink "$link")" = "usr${link}" ]; then
			printf 's,^%s/,/usr%s/,;' "$link" "$link"
		fi
	done)
	# What slim_rootfs would delete (see pikaci-slim there) is not copied at all.
	# shellcheck disable=SC2086 # one argument a package
	dpkg-query -L $names 2>/dev/null | grep '^/' | sed -e "$links" -e 's,^/,,' -e '/^\.\{0,1\}$/d' |
		grep -Ev '^usr/share/(man|info|locale|lintian|bash-completion)/|^usr/lib/[^/]*/gconv/' |
		grep -Ev '^usr/share/doc/.*/[^/]*$' | sort -u >"$list"
	# shellcheck disable=SC2086 # one argument a package
	dpkg-query -L $names 2>/dev/null | grep -E '^/usr/share/doc/[^/]*/copyright$' | sed 's,^/,,' >>"$list"
	# The alternatives whose choice is in: their link in /etc/alternatives and the master link.
	for name in /etc/alternatives/*; do
		if target=$(readlink "$name") &&
			link=$(sed -n 2p "/var/lib/dpkg/alternatives/${name##*/}" 2>/dev/null); then
			printf '%s %s %s\n' "${target#/}" "${name#/}" "${link#/}"
		fi
	done | awk 'NR == FNR { have[$0] = 1; next } ($1 in have) && $3 != "" { print $2; print $3 }' "$list" - >>"$list.alternatives"
	cat "$list.alternatives" >>"$list"
	rm -f "$list.alternatives"
	# A file the machine's own dpkg path-excludes left out is not there: a warning in the log.
	tar --numeric-owner --no-recursion --ignore-failed-read -C / -cf - -T "$list" \
		2>>"$log_dir/host-rootfs.log" |
		tar --numeric-owner -C "$root" -xpf - || return 1
	rm -f "$list"
	(
		cd "$root" || exit 1
		mkdir -p dev proc sys run tmp root home var/tmp var/lib/dpkg/info etc
		chmod 1777 tmp var/tmp
		chmod 0700 root
		cp /usr/share/base-passwd/passwd.master etc/passwd
		cp /usr/share/base-passwd/group.master etc/group
		awk -F: '{ print $1 ":*:20000:0:99999:7:::" }' etc/passwd >etc/shadow
		awk -F: '{ print $1 ":*::" }' etc/group >etc/gshadow
		chmod 0640 etc/shadow etc/gshadow
		for name in $names; do
			cp -p /var/lib/dpkg/info/"$name".list /var/lib/dpkg/info/"$name":*.list \
				var/lib/dpkg/info/ 2>/dev/null || true
		done
		awk -v names="$names" 'BEGIN { RS = ""; ORS = "\n\n"; n = split(names, N, "\n"); for (i = 1; i <= n; i++) want[N[i]] = 1 }
			{ for (i = 1; i <= NF; i++) if ($i == "Package:") { if ($(i + 1) in want) print; break } }' \
			/var/lib/dpkg/status >var/lib/dpkg/status
		: >var/lib/dpkg/available
	) || return 1
	ldconfig -r "$root"
}

# base_rootfs: sets base_tarball to the cached base rootfs tarball, building it when missing:
# from this machine's own installed packages when it runs the guest's Debian release and has
# them all (PIKACI_INCUS_ROOTFS=host; cached by the packages' names and versions), else with
# debootstrap (PIKACI_INCUS_ROOTFS=debootstrap; downloads, cached by the include list).
base_tarball=
base_rootfs() {
	local include arch key tarball mirror main dir log t0 old packages=
	include=libjansson4${PIKACI_INCUS_INCLUDE:+,$PIKACI_INCUS_INCLUDE}
	arch=$(dpkg --print-architecture)
	if [ "${PIKACI_INCUS_ROOTFS:-host}" = host ] && [ "$(codename)" = "$guest_suite" ] &&
		packages=$(host_packages "$slim_keep ${include//,/ }"); then
		key=$(printf '%s\n' "host-rootfs $slim_version" "$packages" | sha256sum | cut -c1-16)
		tarball=$cache_dir/rootfs-$guest_suite-host-slim$slim_version-$arch-$key.tar
		base_tarball=$tarball
		if [ -s "$tarball" ]; then
			say "base rootfs: cached $tarball"
			return 0
		fi
		t0=$(now)
		mkdir -p "$cache_dir"
		dir=$(mktemp -d "$cache_dir/host-rootfs.XXXXXX")
		# shellcheck disable=SC2064
		trap "rm -rf '$dir'" EXIT
		say "base rootfs from this machine's own files of $(printf '%s\n' "$packages" | wc -l) packages"
		: >"$log_dir/host-rootfs.log"
		if ! host_rootfs "$dir/rootfs" "$packages" || ! slim_rootfs "$dir/rootfs" "$include"; then
			show_log "$log_dir/host-rootfs.log"
			rm -rf "$dir"
			fail "building the guest rootfs from this machine's packages failed (PIKACI_INCUS_ROOTFS=debootstrap downloads one)"
		fi
		tar --numeric-owner -C "$dir" -cf "$dir/rootfs.tar" rootfs
		mv "$dir/rootfs.tar" "$tarball"
		rm -rf "$dir"
		trap - EXIT
		say "base rootfs built in $(since "$t0"): $tarball ($(du -h "$tarball" | cut -f1))"
		return 0
	fi
	key=$(printf '%s' "$include" | tr -c 'a-zA-Z0-9.+-' '_')
	tarball=$cache_dir/rootfs-$guest_suite-minbase-slim$slim_version-$arch-$key.tar
	base_tarball=$tarball
	if [ -s "$tarball" ]; then
		say "base rootfs: cached $tarball"
		return 0
	fi
	install_debootstrap
	main=$(apt_source bookworm)
	[ -n "$main" ] || main=$(apt_source "$(codename)")
	[ -n "$main" ] || cannot_run "no Debian 'main' entry in this machine's apt sources to take a mirror from"
	mirror=${main%%|*}
	mkdir -p "$cache_dir"
	dir=$(mktemp -d "$cache_dir/debootstrap.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$dir'" EXIT
	log=$log_dir/debootstrap.log
	t0=$(now)
	say "debootstrap --variant=minbase $guest_suite (include $include), the first time only"
	if ! debootstrap --variant=minbase --arch="$arch" --include="$include" \
		"$guest_suite" "$dir/rootfs" "$mirror" >"$log" 2>&1; then
		show_log "$log"
		[ -f "$dir/rootfs/debootstrap/debootstrap.log" ] && show_log "$dir/rootfs/debootstrap/debootstrap.log"
		rm -rf "$dir"
		cannot_run "debootstrap of $guest_suite failed (see $log)"
	fi
	if ! slim_rootfs "$dir/rootfs" "$include"; then
		rm -rf "$dir"
		fail "slimming the guest rootfs failed (see $log_dir/slim.log)"
	fi
	tar --numeric-owner -C "$dir" -cf "$dir/rootfs.tar" rootfs
	mv "$dir/rootfs.tar" "$tarball"
	rm -rf "$dir"
	trap - EXIT
	# The same rootfs as an earlier version of this script cached it (unslimmed, or slimmed
	# differently) is never used again.
	for old in "$cache_dir/rootfs-$guest_suite-minbase-$arch-$key.tar" \
		"$cache_dir/rootfs-$guest_suite-minbase-slim"*"-$arch-$key.tar"; do
		[ "$old" = "$tarball" ] || [ ! -f "$old" ] || rm -f "$old"
	done
	say "base rootfs built in $(since "$t0"): $tarball ($(du -h "$tarball" | cut -f1))"
}

# slim_removable ROOT SEEDS: the installed packages outside the dependency closure of SEEDS
# (Depends and Pre-Depends, first installed alternative). debconf counts as a configuration-time
# dependency only: nothing in the running guest asks debconf anything.
slim_removable() {
	awk -v seeds="$2" -f "$parts/slim-removable.awk" "$1/var/lib/dpkg/status" | sort
}

# slim_rootfs ROOT INCLUDE: purge what the guest does not need (see the header), then check
# that every ELF file left finds its libraries. Details in $log_dir/slim.log.
slim_rootfs() {
	local root=$1 include=$2 log=$log_dir/slim.log remove p s missing before after count
	: >"$log"
	rm -f "$root"/var/cache/apt/archives/*.deb # debootstrap's downloads
	before=$(du -sk "$root" | cut -f1)
	remove=$(slim_removable "$root" "$slim_keep ${include//,/ }")
	count=$(printf '%s\n' "$remove" | grep -c . || true)
	printf 'purging %s packages: %s\n' "$count" "$(printf '%s\n' "$remove" | tr '\n' ' ')" >>"$log"
	if [ -n "$remove" ]; then
		# Their maintainer scripts would need what goes with them (perl, debconf): the files
		# go as dpkg lists them, without running the scripts.
		for p in $remove; do
			for s in prerm postrm; do
				rm -f "$root/var/lib/dpkg/info/$p.$s" "$root/var/lib/dpkg/info/$p:"*".$s"
			done
		done
		# shellcheck disable=SC2086
		chroot "$root" /usr/bin/dpkg --purge --force-depends --force-remove-essential \
			--force-remove-protected $remove >>"$log" 2>&1 || {
			show_log "$log"
			return 1
		}
	fi
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/pikaci-slim" <<'EOF'
# Written by scripts/incus-lane: the pikaci guest image carries no documentation (but the
# copyright files), manuals, translations or gconv modules; a package installed later leaves
# them out too.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/bash-completion/*
path-exclude=/usr/lib/*/gconv/*
EOF
	(
		cd "$root" || exit 1
		find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
		find usr/share/doc -mindepth 1 -depth -type d -empty -delete
		rm -rf usr/share/man usr/share/info usr/share/locale usr/share/lintian \
			usr/share/bash-completion usr/lib/*/gconv var/cache/debconf var/cache/apt \
			var/lib/apt var/log/*.log var/log/apt
		# The guest has no network: no package sources (when an include kept apt at all).
		if [ -x usr/bin/apt-get ]; then
			printf '# no package sources: the pikaci guest runs without a network\n' >etc/apt/sources.list
		else
			rm -rf etc/apt
		fi
		# /etc/localtime names a tzdata zone: without tzdata, the C library's default is UTC.
		if [ -L etc/localtime ] && [ ! -e "$root$(readlink etc/localtime)" ]; then
			rm -f etc/localtime
		fi
	) >>"$log" 2>&1 || {
		show_log "$log"
		return 1
	}
	# Every ELF file must still find its libraries. The ELF files are told by their first four
	# bytes, read by one head for all (a process per file cost most of the build); the dynamic
	# loader lists each one's libraries (what ldd, a script, would run), in one bash in the rootfs.
	# shellcheck disable=SC2016 # the loop runs in the rootfs's bash
	missing=$(cd "$root" && find usr -type f \( -perm /111 -o -name '*.so*' \) -print0 |
		xargs -0 -r head -v -c 4 |
		awk '/^==> .* <==$/ { name = substr($0, 5, length($0) - 8); next }
			$0 == "\177ELF" { print "/" name }' |
		chroot "$root" /bin/bash -c 'loader=$(ls /lib64/ld-linux*.so.* /lib/ld-linux*.so.* 2>/dev/null | head -n 1)
		while read -r f; do
			m=$("$loader" --list "$f" 2>/dev/null | awk "/not found/ { printf \"%s \", \$1 }")
			[ -z "$m" ] || printf "%s: %s\n" "$f" "$m"
		done')
	if [ -n "$missing" ]; then
		printf 'missing libraries:\n%s\n' "$missing" >>"$log"
		say "after slimming, these files miss libraries (add their packages with PIKACI_INCUS_INCLUDE):"
		printf '%s\n' "$missing" | head -n 10 | sed 's/^/    /' >&2
		return 1
	fi
	after=$(du -sk "$root" | cut -f1)
	say "rootfs slimmed from $((before / 1024)) MB to $((after / 1024)) MB: $count packages purged (list in $log)"
}

# customise ROOT GUEST: the pikaci user, the §3 layout, the guest, the init.
customise() {
	local root=$1 guest=$2 d missing
	grep -q '^users:' "$root/etc/group" || printf 'users:x:100:\n' >>"$root/etc/group"
	if ! grep -q '^pikaci:' "$root/etc/passwd"; then
		awk -F: '$3 == 1000 { exit 1 }' "$root/etc/passwd" ||
			fail "uid 1000 is taken in the base rootfs"
		printf 'pikaci:x:1000:100:pikaci CI user:/home/pikaci:/bin/bash\n' >>"$root/etc/passwd"
		printf 'pikaci:*:20000:0:99999:7:::\n' >>"$root/etc/shadow"
	fi
	install -d -m 0755 "$root/workspace" "$root/run/pika-cloud" "$root/run/current-system/sw/bin" \
		"$root/usr/local/lib/pikaci"
	for d in /home/pikaci /cargo-home /cargo-target /workspace/snapshot; do
		install -d -m 0755 -o 1000 -g 100 "$root$d"
	done
	install -m 0755 "$guest" "$root$guest_lib"
	ln -sfn "$guest_lib" "$root$guest_link"
	if missing=$(chroot "$root" /usr/bin/ldd "$guest_lib" 2>/dev/null | grep 'not found'); then
		fail "the guest needs libraries the image lacks (add them with PIKACI_INCUS_INCLUDE): $(printf '%s' "$missing" | awk '{ printf "%s ", $1 }')"
	fi
	cat >"$root/sbin/pikaci-init" <<EOF
#!/bin/sh
# /sbin/pikaci-init - PID 1 of a pikaci guest container (written by scripts/incus-lane).
# /run may be a fresh tmpfs at boot: lay out /run/current-system the way NixOS activation
# does, then idle until LXC halts the container (SIGPWR) or stops it.
mkdir -p /run/current-system/sw/bin /run/pika-cloud
ln -sfn $guest_lib $guest_link
trap "exit 0" PWR TERM INT USR2
while :; do
	sleep 3600 &
	wait \$!
done
EOF
	chmod 0755 "$root/sbin/pikaci-init"
	ln -sfn pikaci-init "$root/sbin/init"
}

# check_interpreter ROOT GUEST: a guest that is a script needs its interpreter in the image.
check_interpreter() {
	local interpreter
	[ "$(head -c 2 "$2")" = '#!' ] || return 0
	interpreter=$(head -n 1 "$2" | sed 's/^#![[:space:]]*//' | awk '{ print $1 }')
	# /usr/bin/env NAME: NAME somewhere in the image's usual PATH.
	if [ "$interpreter" = /usr/bin/env ] || [ "$interpreter" = /bin/env ]; then
		interpreter=$(head -n 1 "$2" | sed 's/^#![[:space:]]*//' | awk '{ print $2 }')
		for dir in /usr/local/bin /usr/bin /bin; do
			[ -x "$1$dir/$interpreter" ] && return 0
		done
		fail "the guest runs '$interpreter' (through env), which the image lacks: add its package with --packages"
	fi
	[ -x "$1$interpreter" ] || [ -L "$1$interpreter" ] ||
		fail "the guest's interpreter $interpreter is not in the image: add its package with --packages"
}

cmd_image() {
	local guest alias work t0 t1 arch fp old out rootfs_tarball='' description
	while [ $# -gt 0 ]; do
		case $1 in
		--packages)
			if [ $# -lt 2 ] || [ -z "$2" ]; then usage; fi
			PIKACI_INCUS_INCLUDE=${PIKACI_INCUS_INCLUDE:+$PIKACI_INCUS_INCLUDE,}$2
			shift 2
			;;
		--rootfs)
			if [ $# -lt 2 ] || [ -z "$2" ]; then usage; fi
			rootfs_tarball=$2
			shift 2
			;;
		--) shift && break ;;
		-*) usage ;;
		*) break ;;
		esac
	done
	guest=${1:-}
	alias=${2:-pikaci-guest}
	if [ -z "$guest" ] || [ $# -gt 2 ]; then usage; fi
	if [ ! -f "$guest" ] || [ ! -r "$guest" ]; then
		fail "guest binary '$guest' is not a readable file"
	fi
	guest=$(readlink -f "$guest")
	if [ -n "$rootfs_tarball" ]; then
		if [ ! -f "$rootfs_tarball" ] || [ ! -r "$rootfs_tarball" ]; then
			fail "root filesystem tarball '$rootfs_tarball' is not a readable file"
		fi
		[ -z "${PIKACI_INCUS_INCLUDE:-}" ] ||
			fail "--packages goes with the lane's own rootfs, not with --rootfs (put them in the tarball)"
		rootfs_tarball=$(readlink -f "$rootfs_tarball")
	fi
	[ "$(id -u)" -eq 0 ] || cannot_run "incus-lane image must run as root"
	incus_answers || fail "incusd does not answer on $socket: run 'scripts/incus-lane up' first"
	lock
	t0=$(now)
	# The base rootfs first: base_rootfs sets (and clears) an EXIT trap of its own.
	[ -n "$rootfs_tarball" ] || base_rootfs
	mkdir -p "$cache_dir"
	work=$(mktemp -d "$cache_dir/image.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	if [ -n "$rootfs_tarball" ]; then
		# The user's root filesystem as it is (compressed or not): its files at the top.
		t1=$(now)
		mkdir -p "$work/rootfs"
		tar --numeric-owner -xpf "$rootfs_tarball" -C "$work/rootfs" ||
			fail "unpacking $rootfs_tarball failed"
		if [ ! -e "$work/rootfs/etc/passwd" ] || [ ! -e "$work/rootfs/bin/sh" ]; then
			fail "$rootfs_tarball is no root filesystem with /etc/passwd and /bin/sh at its top"
		fi
		description="pikaci guest on $(basename "$rootfs_tarball") ($alias)"
	else
		t1=$(now)
		tar --numeric-owner -xpf "$base_tarball" -C "$work"
		description="pikaci guest on Debian $guest_suite minbase${PIKACI_INCUS_INCLUDE:+ + $PIKACI_INCUS_INCLUDE} ($alias)"
	fi
	check_interpreter "$work/rootfs" "$guest"
	customise "$work/rootfs" "$guest"
	arch=$(uname -m)
	cat >"$work/metadata.yaml" <<EOF
architecture: $arch
creation_date: $(date +%s)
properties:
  architecture: $arch
  description: $description
  os: debian
  release: $guest_suite
  variant: minbase
  guest_sha256: $(sha256sum "$guest" | cut -c1-64)
EOF
	tar --numeric-owner -C "$work" -cf "$work/image.tar" metadata.yaml rootfs
	fp=$(sha256sum "$work/image.tar" | cut -c1-64)
	say "image packed in $(since "$t1") ($(du -h "$work/image.tar" | cut -f1)), fingerprint ${fp:0:12}"
	if [ "$(api_code "/1.0/images/$fp")" != 200 ]; then
		out=$(incus image import "$work/image.tar" 2>&1) || fail "incus image import: $out"
	fi
	old=
	if [ "$(api_code "/1.0/images/aliases/$alias")" = 200 ]; then
		old=$(api GET "/1.0/images/aliases/$alias" | json_string target)
		out=$(incus query -X PUT "/1.0/images/aliases/$alias" \
			-d "{\"target\":\"$fp\",\"description\":\"pikaci guest image\"}" 2>&1) ||
			fail "moving alias $alias: $out"
	else
		out=$(incus image alias create "$alias" "$fp" 2>&1) || fail "creating alias $alias: $out"
	fi
	# The image the alias named before goes, unless another alias still names it.
	if [ -n "$old" ] && [ "$old" != "$fp" ] &&
		api GET "/1.0/images/$old" | grep -Eq '"aliases": ?\[\]'; then
		incus image delete "$old" >/dev/null 2>&1 || say "could not delete the previous image ${old:0:12}"
	fi
	say "image $alias -> ${fp:0:12} ready in $(since "$t0")"
}

