# scripts/incus/slim-removable.awk - the dependency solver of the slim guest rootfs.
#
#   awk -v seeds="PKG PKG,PKG ..." -f slim-removable.awk ROOT/var/lib/dpkg/status
#
# Prints (unsorted, one a line) the installed packages of a dpkg status file that are outside
# the dependency closure of the seeds: Depends and Pre-Depends, the first alternative that is
# installed (or provided by an installed package) being the one kept. A seed or dependency that
# nothing installed provides is ignored. debconf counts as a configuration-time dependency only:
# nothing in the running guest asks debconf anything, so an alternative list that names it ends
# there. With -v kept=1 it prints the closure instead (what a rootfs made of the host's own
# packages takes). Tested by tests/incus/test-slim-solver.
BEGIN { RS = ""; FS = "\n" }
{
	pkg = deps = prov = ""
	ok = 0
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^Package: /) pkg = substr($i, 10)
		else if ($i ~ /^Status: .* installed$/) ok = 1
		else if ($i ~ /^(Pre-)?Depends: /) deps = deps "," substr($i, index($i, ":") + 1)
		else if ($i ~ /^Provides: /) prov = substr($i, 11)
	}
	if (!ok || pkg == "") next
	installed[pkg] = 1
	depends[pkg] = deps
	n = split(prov, P, ",")
	for (j = 1; j <= n; j++) {
		p = P[j]
		gsub(/^[ \t]+/, "", p)
		sub(/[ (:].*$/, "", p)
		if (p != "" && !(p in provider)) provider[p] = pkg
	}
}
END {
	n = split(seeds, S, /[ \t\n,]+/)
	for (i = 1; i <= n; i++) if (S[i] != "") queue[++q] = S[i]
	while (head < q) {
		name = queue[++head]
		if (!(name in installed)) {
			if (!(name in provider)) continue
			name = provider[name]
		}
		if (name in keep) continue
		keep[name] = 1
		m = split(depends[name], D, ",")
		for (j = 1; j <= m; j++) {
			k = split(D[j], A, "|")
			for (a = 1; a <= k; a++) {
				x = A[a]
				gsub(/^[ \t]+/, "", x)
				sub(/[ (:].*$/, "", x)
				if (x == "debconf" || x == "debconf-2.0") break
				if ((x in installed) || (x in provider)) {
					queue[++q] = x
					break
				}
			}
		}
	}
	for (p in installed) if ((p in keep) == (kept != "")) print p
}
