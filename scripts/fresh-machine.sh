#!/usr/bin/env bash
# scripts/fresh-machine.sh — run the README's two commands on a bare
# Debian 12, to catch a missing install step:
#
#   sudo bash scripts/fresh-machine.sh [DIR]
#
# Bootstraps Debian 12 once (debootstrap --variant=minbase bookworm) into
# DIR/base, then, for each command, copies that base into a fresh chroot
# (DIR/demo, DIR/test), puts the repository in /repo, mounts proc, sys,
# dev, dev/pts and a private dev/shm, and runs as root with no stdin
#
#   chroot DIR/demo bash -c 'cd /repo && bash scripts/demo.sh'
#   chroot DIR/test bash -c 'cd /repo && bash scripts/test.sh'
#
# one after the other, each on a system where nothing of the other was
# installed.  Output goes to log files; a short summary follows (exit
# status, the test run's final "N passed, N failed" line, whether the demo
# printed the admin views).  The exit status is 0 only if both succeeded.
# The chroots are always unmounted, and removed unless FRESH_KEEP=1.
#
# What goes into /repo: the committed HEAD (git archive), as CI sees it;
# FRESH_TREE=worktree copies the working tree instead (tracked and
# untracked files that .gitignore does not exclude).
#
# The only change made to the bare system besides the repository,
# resolv.conf and the apt sources: a /usr/sbin/policy-rc.d that keeps
# package scripts from starting services, as in any build chroot.  A
# chroot shares the host's network and IPC namespaces, and postgresql-15
# would otherwise start its 15/main cluster on a TCP port of the host.
# The project's scripts do not use that cluster.
#
# Runs as root on a Debian 12 host (installs debootstrap with apt-get if it
# is missing).  Environment (all optional):
#   FRESH_DIR=DIR        work directory (same as the argument; default a new
#                        temporary directory).  An existing DIR must be empty.
#   FRESH_KEEP=1         keep the chroots (unmounted) and the work directory
#   FRESH_ONLY=demo|test run one of the two commands only
#   FRESH_TREE=head|worktree  what to copy into /repo (default head)
#   FRESH_REPO=PATH      repository to copy (default the one holding this script)
#   FRESH_MIRROR=URL     Debian mirror for debootstrap (default: the bookworm
#                        entry of the host's apt sources, else debootstrap's own)
#   FRESH_APT_SOURCES=host|debootstrap  apt sources inside the chroots: the
#                        host's (sources.list and sources.list.d/*.list,
#                        *.sources whose keyrings exist in the chroot), or the
#                        single "bookworm main" line debootstrap writes
#                        (default host)
#   FRESH_BASE_TARBALL=FILE  cache of the bootstrapped base: unpacked when the
#                        file exists, written after debootstrap when not
#   FRESH_LOGS=DIR       where the logs go (default a new temporary directory,
#                        kept)
#   FRESH_TIMEOUT=SEC    time limit per command (default 7200)
#   TOPUP_PORT           port of the throwaway cluster inside the chroots
#                        (default 55731; the chroots use the host's network
#                        and IPC namespaces)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FRESH_KEEP=${FRESH_KEEP:-0}
FRESH_ONLY=${FRESH_ONLY:-}
FRESH_TREE=${FRESH_TREE:-head}
FRESH_APT_SOURCES=${FRESH_APT_SOURCES:-host}
FRESH_TIMEOUT=${FRESH_TIMEOUT:-7200}
FRESH_PORT=${TOPUP_PORT:-55731}
SUITE=bookworm
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() {
	printf '[fresh] %s\n' "$*" >&2
}

die() {
	say "$*"
	exit 2
}

now() {
	date +%s
}

# ---------------------------------------------------------------- checks
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, mount and chroot need it)"
case $FRESH_ONLY in '' | demo | test) ;; *) die "FRESH_ONLY must be demo or test" ;; esac
case $FRESH_TREE in head | worktree) ;; *) die "FRESH_TREE must be head or worktree" ;; esac
case $FRESH_APT_SOURCES in host | debootstrap) ;; *) die "FRESH_APT_SOURCES must be host or debootstrap" ;; esac
[[ $FRESH_PORT =~ ^[0-9]+$ ]] || die "TOPUP_PORT must be a number"
[[ $FRESH_TIMEOUT =~ ^[0-9]+$ ]] || die "FRESH_TIMEOUT must be a number of seconds"
if ! grep -qs '^VERSION_ID="12"' /etc/os-release; then
	say "warning: the host is not Debian 12; going on"
fi

REPO=${FRESH_REPO:-$SCRIPT_DIR/..}
REPO=$(git -C "$REPO" rev-parse --show-toplevel) ||
	die "${FRESH_REPO:-$SCRIPT_DIR/..} is not in a git repository (set FRESH_REPO)"
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)
if [[ $FRESH_TREE == head ]]; then
	TREE_NOTE="committed HEAD $COMMIT (git archive)"
	if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
		say "note: uncommitted changes are not copied (FRESH_TREE=worktree copies them)"
	fi
else
	TREE_NOTE="working tree on top of $COMMIT"
fi

if ! command -v debootstrap >/dev/null; then
	say "installing debootstrap on the host"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap </dev/null
fi

# ---------------------------------------------------------------- work dir
WORK=${1:-${FRESH_DIR:-}}
MADE_WORK=0
if [[ -z $WORK ]]; then
	WORK=$(mktemp -d -t fresh-machine.XXXXXX)
	MADE_WORK=1
elif [[ -e $WORK ]]; then
	[[ -d $WORK && -z $(ls -A "$WORK") ]] || die "$WORK exists and is not an empty directory"
else
	mkdir -p "$WORK"
	MADE_WORK=1
fi
WORK=$(cd "$WORK" && pwd -P)
# /proc/self/mountinfo escapes white space; keep the paths simple.
[[ $WORK =~ ^/[A-Za-z0-9._/+-]+$ ]] || die "use a work directory path without spaces or special characters"

LOGS=${FRESH_LOGS:-}
if [[ -z $LOGS ]]; then
	LOGS=$(mktemp -d -t fresh-machine-logs.XXXXXX)
else
	mkdir -p "$LOGS"
	LOGS=$(cd "$LOGS" && pwd -P)
fi

# ---------------------------------------------------------------- cleanup
# Mount points under $1, deepest first.
mounts_under() {
	awk -v root="$1" '$5 == root || index($5, root "/") == 1 { print $5 }' \
		/proc/self/mountinfo | sort -r
}

# Stop processes whose root directory is the chroot $1 (a server a failed
# script left running): only processes started in it by this script.
kill_chroot_procs() {
	local root=$1 sig pid link found
	for sig in TERM TERM KILL; do
		found=0
		for link in /proc/[0-9]*/root; do
			pid=${link#/proc/}
			pid=${pid%/root}
			[[ $(readlink "$link" 2>/dev/null) == "$root" ]] || continue
			found=1
			kill -s "$sig" "$pid" 2>/dev/null || true
		done
		((found)) || return 0
		sleep 3
	done
}

# Unmount everything under the chroot $1; prints nothing when all is well.
unmount_chroot() {
	local root=$1 m
	[[ -d $root ]] || return 0
	kill_chroot_procs "$root"
	for m in $(mounts_under "$root"); do
		umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
	done
	[[ -z $(mounts_under "$root") ]]
}

# Remove a chroot, but never while anything is still mounted in it.
remove_chroot() {
	local root=$1
	[[ -d $root ]] || return 0
	if ! unmount_chroot "$root"; then
		say "still mounted under $root: not removing it"
		return 1
	fi
	rm -rf --one-file-system -- "$root"
}

CHROOTS=()
RUN_PID=
# shellcheck disable=SC2317  # invoked by trap
cleanup() {
	local rc=$? root ok=1 i
	trap - EXIT INT TERM
	if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
		say "stopping the command still running (timeout pid $RUN_PID)"
		kill -TERM "$RUN_PID" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do
			kill -0 "$RUN_PID" 2>/dev/null || break
			sleep 1
		done
	fi
	for root in "${CHROOTS[@]}"; do
		if [[ $FRESH_KEEP == 1 ]]; then
			unmount_chroot "$root" || ok=0
		else
			remove_chroot "$root" || ok=0
		fi
	done
	if [[ $FRESH_KEEP == 1 ]]; then
		say "kept $WORK"
	elif ((ok)); then
		rm -rf --one-file-system -- "$WORK/base"
		if ((MADE_WORK)); then
			rmdir -- "$WORK" 2>/dev/null || true
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- apt sources
# The host's apt source files, one per line.
host_source_files() {
	local f
	[[ -f /etc/apt/sources.list ]] && echo /etc/apt/sources.list
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && echo "$f"
	done
	return 0
}

# The first http(s)/file URI of an enabled "deb" entry for $SUITE in the
# host's apt sources (one-line and deb822 formats), or nothing.
host_mirror() {
	local f
	for f in $(host_source_files); do
		if [[ $f == *.sources ]]; then
			awk -v suite="$SUITE" '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") &&
						enabled != "no" && uri != "" && !done) { print uri; done = 1 }
					types = ""; suites = ""; uri = ""; enabled = ""
				}
				/^[ \t]*$/ { flush(); next }
				/^[ \t]*#/ { next }
				tolower($1) == "types:" { $1 = ""; types = $0 }
				tolower($1) == "suites:" { $1 = ""; suites = $0 }
				tolower($1) == "enabled:" { enabled = tolower($2) }
				tolower($1) == "uris:" { uri = $2 }
				END { flush() }
			' "$f"
		else
			sed -e 's/\[[^]]*\]//' "$f" |
				awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
		fi
	done | grep -E -m 1 '^(https?|file):' || true
}

# Keyring files named by an apt source file (Signed-By / signed-by=).
source_keyrings() {
	grep -ohE '([Ss]igned-[Bb]y:[[:space:]]*|signed-by=)/[^] ,]+' "$1" |
		sed -E 's/^[Ss]igned-[Bb]y:[[:space:]]*//; s/^signed-by=//' || true
}

# Give the chroot $1 the host's apt sources (only files whose keyrings
# exist in the chroot); keep debootstrap's line when none qualifies.
copy_apt_sources() {
	local root=$1 f k ok copied=0 staged
	staged=$(mktemp -d -t fresh-apt.XXXXXX)
	for f in $(host_source_files); do
		ok=1
		for k in $(source_keyrings "$f"); do
			[[ -e $root$k ]] || ok=0
		done
		if ((ok)); then
			cp -- "$f" "$staged/"
			copied=$((copied + 1))
		else
			say "apt: not copying $f (its keyring is not in the bare system)"
		fi
	done
	if ((copied)); then
		rm -f -- "$root/etc/apt/sources.list"
		find "$root/etc/apt/sources.list.d" -mindepth 1 -delete 2>/dev/null || true
		mkdir -p "$root/etc/apt/sources.list.d"
		for f in "$staged"/*; do
			if [[ $(basename "$f") == sources.list ]]; then
				cp -- "$f" "$root/etc/apt/sources.list"
			else
				cp -- "$f" "$root/etc/apt/sources.list.d/"
			fi
		done
	fi
	rm -rf -- "$staged"
}

# ---------------------------------------------------------------- base system
BASE=$WORK/base
T_START=$(now)
t0=$T_START
if [[ -n ${FRESH_BASE_TARBALL:-} && -f $FRESH_BASE_TARBALL ]]; then
	say "unpacking the cached base $FRESH_BASE_TARBALL"
	mkdir -p "$BASE"
	tar -x -p --numeric-owner -f "$FRESH_BASE_TARBALL" -C "$BASE"
	BASE_NOTE="cached base tarball"
else
	if [[ -n ${FRESH_MIRROR:-} ]]; then
		MIRROR=$FRESH_MIRROR MIRROR_NOTE="FRESH_MIRROR"
	else
		MIRROR=$(host_mirror) MIRROR_NOTE="the host's apt sources"
	fi
	[[ -n $MIRROR ]] || MIRROR_NOTE="debootstrap's default"
	say "debootstrap --variant=minbase $SUITE, mirror from $MIRROR_NOTE ${MIRROR} (log $LOGS/debootstrap.log)"
	CHROOTS+=("$BASE") # debootstrap mounts proc and sys while it works
	if ! debootstrap --variant=minbase "$SUITE" "$BASE" ${MIRROR:+"$MIRROR"} \
		>"$LOGS/debootstrap.log" 2>&1 </dev/null; then
		tail -n 30 "$LOGS/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	unmount_chroot "$BASE" || die "could not unmount what debootstrap left mounted"
	BASE_NOTE="debootstrap --variant=minbase $SUITE, mirror from $MIRROR_NOTE"
	if [[ -n ${FRESH_BASE_TARBALL:-} ]]; then
		say "caching the base in $FRESH_BASE_TARBALL"
		tar -c --numeric-owner --one-file-system -f "$FRESH_BASE_TARBALL" -C "$BASE" .
	fi
fi
BASE_SECS=$(($(now) - t0))
say "base system ready in ${BASE_SECS}s"

# ---------------------------------------------------------------- one run
# prepare NAME: a fresh chroot $WORK/NAME from the base, ready to run in.
prepare() {
	local root=$WORK/$1
	CHROOTS+=("$root")
	cp -a -- "$BASE" "$root"

	# no service starts from package scripts (see the header)
	printf '#!/bin/sh\n# fresh-machine.sh: no services in this chroot\nexit 101\n' \
		>"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"

	rm -f -- "$root/etc/resolv.conf"
	cp -L -- /etc/resolv.conf "$root/etc/resolv.conf"
	[[ $FRESH_APT_SOURCES == host ]] && copy_apt_sources "$root"

	mkdir -p "$root/repo"
	if [[ $FRESH_TREE == head ]]; then
		git -C "$REPO" archive --format=tar HEAD | tar -x -C "$root/repo"
	else
		(cd "$REPO" && git ls-files -z -c -o --exclude-standard |
			while IFS= read -r -d '' f; do
				[[ -e $f || -L $f ]] && printf '%s\0' "$f"
			done | tar -c --null -T - -f -) | tar -x -C "$root/repo"
	fi

	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	mount --bind /dev "$root/dev"
	# what is mounted below the chroot's /dev must not show up in the host's
	mount --make-rslave "$root/dev"
	mkdir -p "$root/dev/pts" "$root/dev/shm"
	mount --bind /dev/pts "$root/dev/pts"
	mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
}

# run NAME COMMAND: run COMMAND in the chroot NAME, log to $LOGS/NAME.log;
# sets RUN_RC and RUN_SECS.
run_in() {
	local name=$1 cmd=$2 root=$WORK/$1 t env_vars v
	env_vars=(PATH="$CHROOT_PATH" HOME=/root TOPUP_PORT="$FRESH_PORT")
	for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
		[[ -n ${!v:-} ]] && env_vars+=("$v=${!v}")
	done
	say "$name: chroot $root bash -c '$cmd' (TOPUP_PORT=$FRESH_PORT, log $LOGS/$name.log)"
	t=$(now)
	RUN_RC=0
	# In the background, so that a signal to this script runs its trap
	# (which stops the command) instead of waiting for the command to end.
	env -i "${env_vars[@]}" timeout --kill-after=60 "$FRESH_TIMEOUT" \
		"$(command -v chroot)" "$root" bash -c "$cmd" \
		</dev/null >"$LOGS/$name.log" 2>&1 &
	RUN_PID=$!
	wait "$RUN_PID" || RUN_RC=$?
	RUN_PID=
	RUN_SECS=$(($(now) - t))
	((RUN_RC != 124)) || say "$name: timed out after ${FRESH_TIMEOUT}s"
	say "$name: exit $RUN_RC after ${RUN_SECS}s"
}

# finish_chroot NAME: unmount (and remove unless kept) the chroot NAME.
finish_chroot() {
	local root=$WORK/$1 t
	t=$(now)
	if [[ $FRESH_KEEP == 1 ]]; then
		unmount_chroot "$root" || say "$1: something is still mounted under $root"
	else
		remove_chroot "$root" || true
		say "$1: chroot unmounted and removed in $(($(now) - t))s"
	fi
}

# " (timed out)" for timeout's exit status
timed_out() {
	(($1 == 124)) && echo " (timed out)"
	return 0
}

DEMO_LINE="not run"
TEST_LINE="not run"
DEMO_OK=1
TEST_OK=1
PREP_SECS=()

if [[ -z $FRESH_ONLY || $FRESH_ONLY == demo ]]; then
	t0=$(now)
	prepare demo
	PREP_SECS+=("demo $(($(now) - t0))s")
	run_in demo 'cd /repo && bash scripts/demo.sh'
	DEMO_RC=$RUN_RC
	DEMO_SECS=$RUN_SECS
	finish_chroot demo
	views=$(sed -n -e 's/^== Admin view: \([a-z_]*\).*/\1/p' "$LOGS/demo.log" | paste -sd, - | sed -e 's/,/, /g')
	if [[ -n $views ]]; then
		views_note="printed the admin views ($views)"
	else
		views_note="printed no admin view"
	fi
	DEMO_LINE="exit $DEMO_RC$(timed_out "$DEMO_RC") in ${DEMO_SECS}s, $views_note"
	[[ $DEMO_RC -eq 0 && -n $views ]] || DEMO_OK=0
fi

if [[ -z $FRESH_ONLY || $FRESH_ONLY == test ]]; then
	t0=$(now)
	prepare test
	PREP_SECS+=("test $(($(now) - t0))s")
	run_in test 'cd /repo && bash scripts/test.sh'
	TEST_RC=$RUN_RC
	TEST_SECS=$RUN_SECS
	finish_chroot test
	last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$LOGS/test.log" | tail -n 1 || true)
	if [[ -n $last ]]; then
		TEST_LINE="exit $TEST_RC$(timed_out "$TEST_RC") in ${TEST_SECS}s, final line \"$last\""
	else
		TEST_LINE="exit $TEST_RC$(timed_out "$TEST_RC") in ${TEST_SECS}s, no \"N passed, N failed\" line"
	fi
	[[ $TEST_RC -eq 0 && $last == *" passed, 0 failed" ]] || TEST_OK=0
fi

# ---------------------------------------------------------------- summary
show_tail() {
	printf '\n---- last 40 lines of %s ----\n' "$1"
	tail -n 40 "$1"
}
((DEMO_OK)) || [[ ! -f $LOGS/demo.log ]] || show_tail "$LOGS/demo.log"
((TEST_OK)) || [[ ! -f $LOGS/test.log ]] || show_tail "$LOGS/test.log"

printf '\n======== fresh machine (Debian 12, minbase chroot) ========\n'
printf 'repository: %s\n' "$TREE_NOTE"
printf 'base:       %s, %ss\n' "$BASE_NOTE" "$BASE_SECS"
printf 'chroots:    copied and mounted in %s\n' "${PREP_SECS[*]:-nothing}"
printf 'demo:       %s\n' "$DEMO_LINE"
printf 'tests:      %s\n' "$TEST_LINE"
printf 'logs:       %s\n' "$LOGS"
printf 'total:      %ss\n' "$(($(now) - T_START))"
if ((DEMO_OK && TEST_OK)); then
	echo "result:     PASS"
	exit 0
fi
echo "result:     FAIL"
exit 1
