#!/usr/bin/env bash
# bench/run.sh - previewd's benchmark, one command, against its own Git
# server (git http-backend behind lighttpd with basic auth, on loopback, from
# tests/lib/gitserver.sh) and, as a second column, against file:// remotes.
#
#   bench/run.sh                 # full run (about 4 minutes on 2 cores)
#   QUICK=1 bench/run.sh         # smoke run, every phase tiny (< 60 s)
#
# Knobs (environment):
#   PREVIEWD_BIN  binary (default: build-bench/previewd, rebuilt first unless
#                 BUILD=0 - configured as Release if missing - else build/previewd)
#   N             baseline envs, plain pushes and sequential creates/deletes (50; QUICK 10)
#   CONC_TOTAL    creates per concurrent run at 16 and at 64 clients (320; QUICK 64)
#   REAP          environments expiring together (1000; QUICK 100)
#   SLEEPERS      environments falling asleep at one schedule boundary (1000; QUICK 100)
#   LEVELS        env counts for the scaling and read phases ("100 1000 10000"; QUICK "50 100 300")
#   SCALE_SEQ     sequential creates timed at each level (20; QUICK 10)
#   LEVEL_PUSHES  plain pushes adding one env folder, timed at each level (10; QUICK 3)
#   CYCLES        create/delete cycles for the resource phase (10000; QUICK 100)
#   RETENTION_S   PREVIEWD_RETENTION of the resource phase, in seconds (3)
#   READ_SECS     seconds of each wrk run (10; QUICK 1)
#   IDLE_SECS     seconds previewd idles in the Argo CD phase, with and without
#                 Argo CD (30; QUICK 6)
#   FOREIGN       Applications of other teams the fake Argo CD holds (5000)
#   SKIP_FILE=1   skip the file:// column
#   RESULTS_JSON  where the JSON goes (default bench/results/latest.json)
#   WAIT_IDLE=S   first wait up to S seconds for the 1-minute load average to
#                 fall below 0.5 (other work on the machine skews every figure)
#   KEEP_TMP=1    keep the work dir (logs, data dirs, Git repositories)
#
# Prints a table (each figure, its target, PASS/MISS) and writes every figure
# to bench/results/latest.json.  See bench/README.md for what each one means.
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	N=${N:-10} CONC_TOTAL=${CONC_TOTAL:-64} REAP=${REAP:-100} LEVELS=${LEVELS:-"50 100 300"}
	SCALE_SEQ=${SCALE_SEQ:-10} CYCLES=${CYCLES:-100} READ_SECS=${READ_SECS:-1} REAP_LEAD=${REAP_LEAD:-4}
	SLEEPERS=${SLEEPERS:-100}
	LEVEL_PUSHES=${LEVEL_PUSHES:-3} IDLE_SECS=${IDLE_SECS:-6}
else
	N=${N:-50} CONC_TOTAL=${CONC_TOTAL:-320} REAP=${REAP:-1000} LEVELS=${LEVELS:-"100 1000 10000"}
	SCALE_SEQ=${SCALE_SEQ:-20} CYCLES=${CYCLES:-10000} READ_SECS=${READ_SECS:-10} REAP_LEAD=${REAP_LEAD:-15}
	SLEEPERS=${SLEEPERS:-1000}
	LEVEL_PUSHES=${LEVEL_PUSHES:-10} IDLE_SECS=${IDLE_SECS:-30}
fi
FOREIGN=${FOREIGN:-5000}
RETENTION_S=${RETENTION_S:-3}
M=${M:-$N}
# most phases make more environments, faster, than previewd's safe defaults
# allow (quotas, create rate): their previewd runs with the limits off; the
# flood phase runs with them on
LIMITS_OFF=(PREVIEWD_MAX_ENVS_PER_OWNER=0 PREVIEWD_MAX_ENVS=0 PREVIEWD_CREATE_RATE=0)
WARMUP=3
FILL_CLIENTS=8
BUILT=0
# what the binary is built from (HEAD may move while the run waits for idle)
REV_BUILT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -z "${PREVIEWD_BIN:-}" ]; then
	if [ "${BUILD:-1}" = 1 ] && command -v cmake >/dev/null 2>&1; then
		# the Release tree of the benchmark, brought up to date with the sources
		printf 'bench: building %s/build-bench (Release)\n' "$ROOT" >&2
		build_log=$(mktemp "${TMPDIR:-/tmp}/previewd-bench-build.XXXXXX")
		if { [ -f "$ROOT/build-bench/CMakeCache.txt" ] ||
			cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF; } >"$build_log" 2>&1 &&
			cmake --build "$ROOT/build-bench" -j"$(nproc)" >>"$build_log" 2>&1; then
			BUILT=1
		else
			tail -n 20 "$build_log" >&2
			printf 'bench: building build-bench failed; using what is there\n' >&2
		fi
		rm -f "$build_log"
	fi
	if [ -x "$ROOT/build-bench/previewd" ]; then
		PREVIEWD_BIN=$ROOT/build-bench/previewd
	else
		PREVIEWD_BIN=$ROOT/build/previewd
	fi
fi
BASELINE=${BASELINE:-/work/shared/bench/gitcli-flow.sh}
SEED=$ROOT/deploy/helm-env
RESULTS=$BENCH_DIR/results
OUT=${RESULTS_JSON:-$RESULTS/latest.json}

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
for tool in git curl jq wrk cc awk; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
[ -x "$PREVIEWD_BIN" ] || die "no previewd binary at $PREVIEWD_BIN (build it: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF && cmake --build build-bench -j2, or set PREVIEWD_BIN)"
[ -f "$BASELINE" ] || die "baseline script $BASELINE not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/previewd-bench.XXXXXX") || die "no temp dir"
R=$WORK/results.json
echo '{}' >"$R"
PV_PID='' PV_PORT='' PV_DATA='' PV_LOG=''
T_START=$EPOCHREALTIME

# shellcheck source=tests/lib/gitserver.sh disable=SC1091
. "$ROOT/tests/lib/gitserver.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	pv_down >/dev/null 2>&1
	[ -n "${GITSERVER_DIR:-}" ] && gitserver_stop "$GITSERVER_DIR" >/dev/null 2>&1
	if [ "${KEEP_TMP:-0}" = 1 ] || [ $rc -ne 0 ]; then
		echo "bench: work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

log() { printf '[%6.1fs] %s\n' "$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*" >&2; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
# secs A B: B - A in seconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.4f", b-a}'; }

# jset PATH JSON: set PATH (a jq path) of the results to JSON
jset() {
	if ! jq --argjson v "$2" "$1 = \$v" "$R" >"$R.tmp"; then
		die "jset $1: bad JSON: $2"
	fi
	mv "$R.tmp" "$R"
}
jget() { jq -r "$1" "$R"; }

# commits REPO_DIR: commits on main in a bare repository of the server
commits() { git --git-dir "$1" rev-list --count main; }
# folders REPO_DIR PREFIX: env folders named PREFIX* at the tip of main
folders() {
	local sha
	sha=$(git ls-remote "$1" refs/heads/main | cut -f1)
	git --git-dir "$1" ls-tree --name-only "$sha" env/ | grep -c "^env/$2" || true
}

# pv_up NAME GIT_URL [VAR=value...]: previewd on a fresh data dir, ready.
# A port picked free may be taken by another process before previewd binds
# it (tests run side by side under ctest): then pick another.
pv_up() {
	local name=$1 url=$2 port _ code attempt
	shift 2
	PV_DATA=$WORK/pv-$name
	mkdir -p "$PV_DATA"
	PV_LOG=$WORK/pv-$name.log
	for attempt in 1 2 3 4 5; do
		port=$(_gs_pick_port) || die "no free port"
		env PREVIEWD_LISTEN="127.0.0.1:$port" PREVIEWD_DATA_DIR="$PV_DATA" PREVIEWD_GIT_URL="$url" \
			PREVIEWD_GIT_USERNAME="$GITSERVER_USER" PREVIEWD_GIT_PASSWORD="$GITSERVER_PASS" \
			PREVIEWD_WAIT_MS=30000 PREVIEWD_LOG_LEVEL=warn PREVIEWD_MIN_TTL=1 \
			PREVIEWD_MAX_CONN_PER_IP=512 "${LIMITS_OFF[@]}" "$@" \
			"$PREVIEWD_BIN" </dev/null >>"$PV_LOG" 2>&1 &
		PV_PID=$!
		PV_PORT=$port
		for _ in $(seq 1 300); do
			if ! kill -0 "$PV_PID" 2>/dev/null; then
				wait "$PV_PID" 2>/dev/null
				grep -q 'Address already in use' "$PV_LOG" && continue 2
				tail -n 20 "$PV_LOG" >&2
				die "previewd ($name) exited at start"
			fi
			code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null)
			[ "$code" = 200 ] && return 0
			sleep 0.05
		done
		die "previewd ($name) not ready within 15 s; see $PV_LOG"
	done
	die "previewd ($name): no port after $attempt attempts"
}

# pv_down: stop the running previewd; one that does not exit 0 within 10 s
# of SIGTERM is killed and named in .meta.unclean_stops (the smoke test
# requires none)
pv_down() {
	local _ rc killed=''
	[ -n "$PV_PID" ] || return 0
	kill -TERM "$PV_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$PV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PV_PID" 2>/dev/null && kill -KILL "$PV_PID" 2>/dev/null && killed=' (killed after 10 s)'
	wait "$PV_PID" 2>/dev/null
	rc=$?
	if [ "$rc" -ne 0 ] || [ -n "$killed" ]; then
		log "previewd $PV_PID did not stop cleanly: exit status $rc$killed"
		jq --arg s "pid $PV_PID: exit status $rc$killed" '.meta.unclean_stops += [$s]' "$R" >"$R.tmp" &&
			mv "$R.tmp" "$R"
	fi
	PV_PID=''
}

# pv_res: previewd's resources now, as JSON (peak RSS, RSS, CPU seconds)
pv_res() {
	local hwm rss tck cpu
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PV_PID/status")
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PV_PID/status")
	tck=$(getconf CLK_TCK)
	# fields 14 and 15 of /proc/PID/stat (after the parenthesised command)
	cpu=$(sed 's/^.*) //' "/proc/$PV_PID/stat" | awk -v t="$tck" '{printf "%.2f", ($12 + $13) / t}')
	printf '{"rss_peak_mib":%.1f,"rss_mib":%.1f,"cpu_s":%s}' "$(awk -v k="$hwm" 'BEGIN{print k/1024}')" \
		"$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$cpu"
}

# lg ARGS...: the load generator against the running previewd
lg() { "$LOADGEN" -p "$PV_PORT" "$@"; }

# count_status STATUS: live environments in that status (via the API)
count_status() {
	local url="http://127.0.0.1:$PV_PORT/v1/environments?status=$1&limit=1"
	curl -s -m 5 "$url" | jq '.items | length'
}

# drain STATUS... : wait (≤ 300 s) until no environment is in those statuses
drain() {
	local s end=$(($(date +%s) + 300)) busy
	while :; do
		busy=0
		for s in "$@"; do
			[ "$(count_status "$s")" = 0 ] || busy=1
		done
		[ $busy = 0 ] && return 0
		[ "$(date +%s)" -lt $end ] || die "environments still $* after 300 s"
		sleep 0.1
	done
}

# pushed_rps LG_JSON CODE: answers with CODE per second of the run
pushed_rps() { jq --arg c "$2" '((.statuses[$c] // 0) / .elapsed_s * 100 | round) / 100' <<<"$1"; }

# wrk_run MODE OUTFILE THREADS CONNS SECS [VAR=value...]: one wrk run, JSON summary on stdout
wrk_run() {
	local mode=$1 out=$2 t=$3 c=$4 d=$5
	shift 5
	env BENCH_MODE="$mode" BENCH_OUT="$out" "$@" \
		wrk -t"$t" -c"$c" -d"${d}s" --latency -s "$BENCH_DIR/wrk.lua" "http://127.0.0.1:$PV_PORT" \
		>"$out.txt" 2>&1 || die "wrk failed: $(cat "$out.txt")"
	cat "$out"
}

# ---------------------------------------------------------------- set-up

loadavg() { cut -d' ' -f1 /proc/loadavg; }
if [ "${WAIT_IDLE:-0}" -gt 0 ]; then
	end=$(($(date +%s) + WAIT_IDLE))
	while awk -v l="$(loadavg)" 'BEGIN{exit !(l >= 0.5)}' && [ "$(date +%s)" -lt $end ]; do
		sleep 5
	done
fi
IDLE_WAIT=$(secs "$T_START" "$EPOCHREALTIME")
T_START=$EPOCHREALTIME # the runtime counts from here
LOAD_START=$(loadavg)
if awk -v l="$LOAD_START" 'BEGIN{exit !(l >= 1.0)}'; then
	log "warning: the machine is busy (1-minute load $LOAD_START on $(nproc) CPUs): every figure will be skewed"
fi

LOADGEN=$WORK/loadgen
cc -O2 -pthread -o "$LOADGEN" "$BENCH_DIR/loadgen.c" || die "cannot build bench/loadgen.c"

log "previewd binary $PREVIEWD_BIN; work dir $WORK"
gitserver_start "$WORK/git" >/dev/null || die "cannot start the Git server"
for repo in cli plain gitops reap sleep scale cycles argocd-off argocd-on flood file-cli file-plain file-gitops; do
	gitserver_new_repo "$repo" "$SEED" || die "cannot create repository $repo"
done
REPOS=$GITSERVER_DIR/repos
http_url() { gitserver_url "$1"; }                 # with credentials, for the git CLI
http_url_bare() { printf '%s/%s.git\n' "$GITSERVER_URL" "$1"; } # previewd gets them from its settings
file_url() { printf 'file://%s/%s.git\n' "$REPOS" "$1"; }

rev=$REV_BUILT
rev_now=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain -- service schema CMakeLists.txt 2>/dev/null | grep -c . || true)
jset .meta "$(jq -n --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg rev "$rev" --argjson dirty "$dirty" \
	--arg bin "$PREVIEWD_BIN" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" --argjson quick "$QUICK" \
	--arg git "$(git --version | awk '{print $3}')" --arg levels "$LEVELS" \
	--argjson n "$N" --argjson m "$M" --argjson conc "$CONC_TOTAL" --argjson reap "$REAP" \
	--argjson scale_seq "$SCALE_SEQ" --argjson cycles "$CYCLES" --argjson read_secs "$READ_SECS" \
	--argjson load "$LOAD_START" --argjson idle "$IDLE_WAIT" --argjson built "$BUILT" \
	--arg mtime "$(date -u -r "$PREVIEWD_BIN" +%Y-%m-%dT%H:%M:%SZ)" --arg rev_now "$rev_now" \
	'{when: $when, previewd_commit: $rev, head_at_start: $rev_now, service_files_modified: $dirty, binary: $bin, cpus: $cpus,
	  loadavg_start: $load, idle_wait_s: $idle, binary_rebuilt: ($built == 1), binary_mtime: $mtime,
	  kernel: $kernel, git: $git, quick: ($quick == 1),
	  params: {N: $n, M: $m, conc_total: $conc, reap: $reap, levels: ($levels | split(" ") | map(tonumber)),
	           scale_seq: $scale_seq, cycles: $cycles, read_secs: $read_secs}}')"

# ---------------------------------------------------------------- 1. baseline

# baseline LABEL URL
baseline() {
	local label=$1 url=$2 line
	log "baseline ($label): gitcli-flow.sh, $N envs"
	line=$(sh "$BASELINE" "$url" "$N" 2>&1 | tail -n 1)
	[[ $line =~ \(([0-9.]+)\ envs/s,\ ([0-9.]+)\ ms/env\) ]] || die "baseline ($label) failed: $line"
	jset ".baseline.$label" "{\"envs\":$N,\"envs_per_s\":${BASH_REMATCH[1]},\"ms_per_env\":${BASH_REMATCH[2]}}"
}

# ---------------------------------------------------------------- 2. the limit

# time_pushes DIR URL COUNT MODE: clone URL into DIR, then COUNT times (after
# WARMUP unmeasured): make one small commit on top of the tip and time only
# its `git push`.  MODE file: change one file at the root; MODE folder: add
# a new env folder (values.yaml + previewd.json, the shape of a previewd
# create) without checking the others out.  Prints the latencies as JSON.
time_pushes() {
	local w=$1 url=$2 count=$3 mode=$4 i t0 t1 lat=$1.ms total
	if [ "$mode" = file ]; then
		git clone -q "$url" "$w" || die "clone of $url failed"
	else
		git clone -q --no-checkout "$url" "$w" || die "clone of $url failed"
		git -C "$w" reset -q # the index from HEAD, no work tree: only the new folder is ever written
	fi
	: >"$lat"
	for i in $(seq 1 $((count + WARMUP))); do
		if [ "$mode" = file ]; then
			printf 'push %d at %s\n' "$i" "$EPOCHREALTIME" >"$w/bench.txt"
			git -C "$w" add bench.txt
		else
			mkdir -p "$w/env/lim-$i"
			cp "$SEED/env/dev/values.yaml" "$w/env/lim-$i/values.yaml"
			printf '{"managed_by": "bench", "name": "lim-%d"}\n' "$i" >"$w/env/lim-$i/previewd.json"
			git -C "$w" add "env/lim-$i"
		fi
		git -C "$w" -c user.name=bench -c user.email=bench@localhost commit -q -m "bench $i" || die "commit failed"
		t0=$EPOCHREALTIME
		git -C "$w" push -q origin HEAD:main || die "plain push to $url failed"
		t1=$EPOCHREALTIME
		if [ "$i" -gt $WARMUP ]; then
			secs "$t0" "$t1" >>"$lat"
			echo >>"$lat"
		fi
	done
	sort -n "$lat" | awk 'NF' >"$lat.sorted"
	total=$(wc -l <"$lat.sorted")
	awk -v n="$total" '
		{ v[NR] = $1 * 1000; s += $1 * 1000 }
		function p(q,  k) { k = int(q / 100 * n + 0.999999); if (k < 1) k = 1; if (k > n) k = n; return v[k] }
		END { printf "{\"pushes\":%d,\"ms\":{\"mean\":%.2f,\"p50\":%.2f,\"p90\":%.2f,\"p99\":%.2f,\"max\":%.2f}}", n, s / n, p(50), p(90), p(99), v[n] }' "$lat.sorted"
}

# plain_push LABEL URL: the limit, M pushes of a single-file commit
plain_push() {
	log "limit ($1): $M plain git pushes"
	jset ".limit.$1" "$(time_pushes "$WORK/plain-$1" "$2" "$M" file)"
}

# ---------------------------------------------------------------- 3. writes

# writes LABEL PREVIEWD_URL REPO_DIR: sequential, 16 and 64 clients, deletes
writes() {
	local label=$1 url=$2 repo=$3 c0 c1 seq c16 c64 dseq d64 res j
	pv_up "writes-$label" "$url"
	log "previewd writes ($label): $WARMUP warm-up creates, then $N sequential creates"
	lg -m POST -c 1 -n $WARMUP -x w- >/dev/null || die "warm-up creates failed"
	c0=$(commits "$repo")
	seq=$(lg -m POST -c 1 -n "$N" -x s-) || die "sequential creates failed: $seq"
	c1=$(commits "$repo")
	j=$(jq -n --argjson r "$seq" --argjson c $((c1 - c0)) '$r + {commits: $c}')
	jset ".previewd.$label.create_seq" "$j"

	log "previewd writes ($label): $CONC_TOTAL creates from 16 clients"
	c0=$(commits "$repo")
	c16=$(lg -m POST -c 16 -n "$CONC_TOTAL" -x c16-) || die "16-client creates failed: $c16"
	c1=$(commits "$repo")
	jset ".previewd.$label.create_c16" "$(jq -n --argjson r "$c16" --argjson c $((c1 - c0)) \
		--argjson eps "$(pushed_rps "$c16" 201)" '$r + {commits: $c, envs_per_s: $eps}')"

	log "previewd writes ($label): $CONC_TOTAL creates from 64 clients"
	c0=$(commits "$repo")
	c64=$(lg -m POST -c 64 -n "$CONC_TOTAL" -x c64-) || die "64-client creates failed: $c64"
	c1=$(commits "$repo")
	jset ".previewd.$label.create_c64" "$(jq -n --argjson r "$c64" --argjson c $((c1 - c0)) \
		--argjson eps "$(pushed_rps "$c64" 201)" '$r + {commits: $c, envs_per_s: $eps}')"

	log "previewd writes ($label): $N sequential deletes, $CONC_TOTAL deletes from 64 clients"
	c0=$(commits "$repo")
	dseq=$(lg -m DELETE -c 1 -n "$N" -x s-) || die "sequential deletes failed: $dseq"
	c1=$(commits "$repo")
	jset ".previewd.$label.delete_seq" "$(jq -n --argjson r "$dseq" --argjson c $((c1 - c0)) '$r + {commits: $c}')"
	c0=$c1
	d64=$(lg -m DELETE -c 64 -n "$CONC_TOTAL" -x c64-) || die "64-client deletes failed: $d64"
	c1=$(commits "$repo")
	jset ".previewd.$label.delete_c64" "$(jq -n --argjson r "$d64" --argjson c $((c1 - c0)) \
		--argjson eps "$(pushed_rps "$d64" 200)" '$r + {commits: $c, envs_per_s: $eps}')"
	res=$(pv_res)
	jset ".previewd.$label.resources" "$res"
	pv_down
}

# ---------------------------------------------------------------- 4. reap

reap() {
	local repo=$REPOS/reap.git t_exp c0 c1 t_gone left page cursor maxexp=0 e polls=0 fill
	pv_up reap "$(http_url_bare reap)"
	t_exp=$(($(date +%s) + REAP_LEAD))
	log "reap: $REAP environments expiring together at $(date -u -d "@$t_exp" +%T)"
	fill=$(lg -m POST -c $FILL_CLIENTS -n "$REAP" -x rp- -o rp -a -e "$t_exp") || die "reap creates failed: $fill"
	drain pending
	[ "$(date +%s)" -lt "$t_exp" ] || die "the $REAP environments were not all active before they expired (raise REAP_LEAD)"
	[ "$(folders "$repo" rp-)" = "$REAP" ] || die "not all $REAP reap folders are in Git"
	# the last expiry second (the server's clock may have ticked between
	# the client's ttl and the server's creation time)
	cursor=''
	while :; do
		page=$(curl -s "http://127.0.0.1:$PV_PORT/v1/environments?owner=rp&limit=500${cursor:+&cursor=$cursor}")
		e=$(jq -r '[.items[].expires_at | fromdateiso8601] | max // 0' <<<"$page")
		[ "$e" -gt "$maxexp" ] && maxexp=$e
		cursor=$(jq -r '.next_cursor // empty' <<<"$page")
		[ -n "$cursor" ] || break
	done
	c0=$(commits "$repo")
	while [ "$(date +%s)" -lt "$maxexp" ]; do sleep 0.02; done
	# from the first instant of the last expiry second until no folder is left
	while :; do
		left=$(folders "$repo" rp-)
		polls=$((polls + 1))
		if [ "$left" = 0 ]; then
			t_gone=$EPOCHREALTIME
			break
		fi
		[ $polls -lt 1200 ] || die "reap: $left folders still in Git after 60 s"
		sleep 0.05
	done
	c1=$(commits "$repo")
	jset .previewd.http.reap "$(jq -n --argjson n "$REAP" --argjson s "$(secs "$maxexp" "$t_gone")" \
		--argjson c $((c1 - c0)) --argjson t "$t_exp" --argjson m "$maxexp" --argjson f "$fill" \
		'{envs: $n, seconds: $s, commits: $c, expiry_target: $t, expiry_last: $m, poll_ms: 50, create_async: $f}')"
	jset .previewd.http.reap.resources "$(pv_res)"
	pv_down
}

# sleep_boundary: SLEEPERS environments on the schedule "Wed 19:00-20:00",
# created (held awake until 19:00, as every create is) on a shifted clock
# (PREVIEWD_NOW_OFFSET, schedule.h) hours before; previewd restarted 3 s
# before 19:00 on that clock; from the boundary's real instant the server's
# repository is polled every 50 ms until every values.yaml of theirs holds
# the sleep overlay: seconds, and commits made
sleep_boundary() {
	local repo=$REPOS/sleep.git sched="Wed 19:00-20:00" boundary fill c0 c1 t_b t_done asleep polls=0 offset
	boundary=$(date -u -d 2027-04-07T19:00:00Z +%s)
	pv_up sleep "$(http_url_bare sleep)" PREVIEWD_SLEEP_SCHEDULE="$sched" \
		PREVIEWD_NOW_OFFSET=$((boundary - 7 * 3600 - $(date +%s)))
	log "sleep: $SLEEPERS environments on the schedule \"$sched\""
	fill=$(lg -m POST -c $FILL_CLIENTS -n "$SLEEPERS" -x sl- -o sl -a) || die "sleep creates failed: $fill"
	drain pending
	[ "$(folders "$repo" sl-)" = "$SLEEPERS" ] || die "not all $SLEEPERS sleep folders are in Git"
	pv_down
	offset=$((boundary - 3 - $(date +%s)))
	pv_up sleep "$(http_url_bare sleep)" PREVIEWD_SLEEP_SCHEDULE="$sched" PREVIEWD_NOW_OFFSET=$offset
	t_b=$((boundary - offset))
	c0=$(commits "$repo")
	while [ "$(date +%s)" -lt "$t_b" ]; do sleep 0.02; done
	while :; do
		asleep=$(git --git-dir "$repo" grep -l '^replicaCount: 0' main -- 'env/sl-*/values.yaml' | wc -l)
		polls=$((polls + 1))
		if [ "$asleep" = "$SLEEPERS" ]; then
			t_done=$EPOCHREALTIME
			break
		fi
		[ $polls -lt 1200 ] || die "sleep: $asleep of $SLEEPERS asleep in Git after 60 s"
		sleep 0.05
	done
	c1=$(commits "$repo")
	jset .previewd.http.sleep_boundary "$(jq -n --argjson n "$SLEEPERS" --argjson s "$(secs "$t_b" "$t_done")" \
		--argjson c $((c1 - c0)) --argjson f "$fill" --argjson r "$(pv_res)" \
		'{envs: $n, seconds: $s, commits: $c, poll_ms: 50, create_async: $f, resources: $r}')"
	pv_down
}

# ---------------------------------------------------------------- 5/6. scale and reads

# slow_loris ENVS: GET one with 1 connection (wrk -t1 -c1) while 30 clients
# hold connections open, each trickling one byte of an endless header every
# 0.5 s (tests/lib/loris.py: what test_trust.sh checks for behaviour,
# timed here); records
# .previewd.http.reads.get_one_loris with how many slow clients were still
# held when the run ended
slow_loris() {
	local stop=$WORK/loris.stop lpid held _ r
	log "slow-loris: GET one (wrk -t1 -c1 -d${READ_SECS}s) while 30 connections trickle a header"
	python3 "$ROOT/tests/lib/loris.py" 127.0.0.1 "$PV_PORT" 30 0.5 600 "$stop" >"$WORK/loris.json" 2>&1 &
	lpid=$!
	for _ in $(seq 1 300); do
		[ -e "$stop.up" ] && break
		kill -0 "$lpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -e "$stop.up" ] || die "slow-loris clients did not connect: $(cat "$WORK/loris.json")"
	r=$(wrk_run get "$WORK/wrk-loris.json" 1 1 "$READ_SECS" BENCH_NAMES="$1" BENCH_PREFIX=f)
	touch "$stop"
	wait "$lpid"
	held=$(jq -r '.connected - .closed' "$WORK/loris.json" 2>/dev/null)
	jset .previewd.http.reads.get_one_loris "$(jq -n --argjson r "$r" --argjson held "${held:-0}" '$r + {slow_clients_held: $held}')"
}

scale_reads() {
	local repo=$REPOS/scale.git have=0 level fill t0 t1 s levels_json='[]' g l1 l32 top res size lim rss_fill
	pv_up scale "$(http_url_bare scale)"
	for level in $LEVELS; do
		log "scale: filling to $level environments (async creates, $FILL_CLIENTS clients), then $SCALE_SEQ sequential creates"
		t0=$EPOCHREALTIME
		fill=$(lg -m POST -c $FILL_CLIENTS -n $((level - have)) -s "$have" -x f -a -t 3600) || die "fill failed: $fill"
		drain pending
		t1=$EPOCHREALTIME
		have=$level
		rss_fill=$(pv_res)
		lg -m POST -c 1 -n 2 -x "w$level-" >/dev/null
		s=$(lg -m POST -c 1 -n "$SCALE_SEQ" -x "sc$level-") || die "scale creates failed: $s"
		# the same-shaped push done by hand on a copy of this repository:
		# what any writer pays at this size
		log "scale: $LEVEL_PUSHES plain git pushes adding one env folder to a copy with $level environments"
		git clone -q --bare "$repo" "$REPOS/scale-$level.git" || die "cannot copy the scale repository"
		git -C "$REPOS/scale-$level.git" config http.receivepack true
		lim=$(time_pushes "$WORK/lim-$level" "$(http_url "scale-$level")" "$LEVEL_PUSHES" folder)
		rm -rf "$WORK/lim-$level" "$REPOS/scale-$level.git"
		levels_json=$(jq -n --argjson a "$levels_json" --argjson l "$level" --argjson f "$fill" --argjson s "$s" \
			--argjson pushed_s "$(secs "$t0" "$t1")" --argjson folders "$(folders "$repo" '')" \
			--argjson lim "$lim" --argjson rf "$rss_fill" --argjson rs "$(pv_res)" \
			'$a + [{envs_before: $l, folders_in_git: $folders, create_seq: $s, limit_folder_push: $lim,
			        create_vs_push: (($s.ms.p50 / $lim.ms.p50 * 100 | round) / 100),
			        fill: {async_creates: $f.count, accept_rps: $f.ok_rps, accept_p99_ms: $f.ms.p99,
			               all_pushed_s: $pushed_s, pushed_per_s: (($f.count / $pushed_s * 10 | round) / 10)},
			        resources_after_fill: $rf, resources_after_creates: $rs}]')
	done
	jset .previewd.http.scale "$levels_json"
	top=${LEVELS##* }
	log "reads with $top environments: GET one (wrk -t2 -c32 -d${READ_SECS}s), list of 100 (1 and 32 connections)"
	g=$(wrk_run get "$WORK/wrk-get.json" 2 32 "$READ_SECS" BENCH_NAMES="$top" BENCH_PREFIX=f)
	l1=$(wrk_run list "$WORK/wrk-list1.json" 1 1 "$READ_SECS" BENCH_PATH='/v1/environments?limit=100')
	l32=$(wrk_run list "$WORK/wrk-list32.json" 2 32 "$READ_SECS" BENCH_PATH='/v1/environments?limit=100')
	jset .previewd.http.reads "$(jq -n --argjson envs "$top" --argjson g "$g" --argjson l1 "$l1" --argjson l32 "$l32" \
		'{envs: $envs, get_one_c32: $g, list100_c1: $l1, list100_c32: $l32}')"
	slow_loris "$top"
	size=$(du -sb "$PV_DATA" | cut -f1)
	res=$(pv_res)
	jset .previewd.http.reads.resources_after "$res"
	jset .previewd.http.resources_at_top "$(jq -n --argjson r "$res" --argjson envs "$top" --argjson size "$size" \
		--argjson disk "$(disk_bytes "$PV_DATA")" --argjson clone "$(count_objects_json "$PV_DATA/clone.git")" \
		'$r + {envs: $envs, data_dir_bytes: $size, data_dir_disk_bytes: $disk, clone_objects: $clone}')"
	pv_down
}

# ---------------------------------------------------------------- 5. cycles and the clone

# disk_bytes DIR: space allocated on disk (a loose object takes a whole block)
disk_bytes() { du -s --block-size=1 "$1" | cut -f1; }

count_objects_json() {
	git --git-dir "$1" count-objects -v | awk -F': ' '{printf "%s\"%s\":%s", (NR > 1 ? "," : "{"), $1, $2} END {print "}"}' |
		sed 's/"size-garbage"/"size_garbage"/; s/"size-pack"/"size_pack_kib"/; s/"size"/"size_kib"/; s/"in-pack"/"in_pack"/'
}

# pruned_envs: previewd_retention_pruned_total{kind="environments"} now
pruned_envs() {
	curl -s -m 5 "http://127.0.0.1:$PV_PORT/metrics" |
		awk '$1 == "previewd_retention_pruned_total{kind=\"environments\"}" {print $2}'
}

# retained N: wait (<= 120 s) until retention has pruned N environments in
# all, then for two more windows, so that its pass gave the pages back
retained() {
	local end=$(($(date +%s) + 120))
	until [ "$(pruned_envs)" = "$1" ]; do
		[ "$(date +%s)" -lt $end ] || die "retention pruned $(pruned_envs) of $1 environments within 120 s"
		sleep 0.2
	done
	sleep $((2 * RETENTION_S))
}

# db_bytes: the size of previewd.db (its WAL is bounded by checkpoints, not
# by what the database holds)
db_bytes() { stat -c %s "$PV_DATA/previewd.db"; }

# the cycles run with a short retention window (RETENTION_S): in two halves,
# each followed by a wait past the window, so that the growth of the second
# half is what the data dir keeps per cycle once past the window
cycles() {
	local repo=$REPOS/cycles.git before after before_disk c0 c1 cy cy2 res co half half_b half_db after_db
	pv_up cycles "$(http_url_bare cycles)" PREVIEWD_RETENTION="${RETENTION_S}s"
	before=$(du -sb "$PV_DATA" | cut -f1)
	before_disk=$(disk_bytes "$PV_DATA")
	c0=$(commits "$repo")
	half=$((CYCLES / 2))
	log "resources: $CYCLES create/delete cycles from 64 clients (each waits for its pushes), retention ${RETENTION_S}s"
	cy=$(lg -m CYCLE -c 64 -n "$half" -x cy- -t 3600) || die "cycles failed: $cy"
	drain pending deleting
	retained "$half"
	half_b=$(du -sb "$PV_DATA" | cut -f1)
	half_db=$(db_bytes)
	cy2=$(lg -m CYCLE -c 64 -n $((CYCLES - half)) -x cz- -t 3600) || die "cycles failed: $cy2"
	drain pending deleting
	retained "$CYCLES"
	c1=$(commits "$repo")
	after=$(du -sb "$PV_DATA" | cut -f1)
	after_db=$(db_bytes)
	co=$(count_objects_json "$PV_DATA/clone.git")
	res=$(pv_res)
	jset .previewd.http.cycles "$(jq -n --argjson n "$CYCLES" --argjson cy "$cy" --argjson b "$before" --argjson a "$after" \
		--argjson c $((c1 - c0)) --argjson co "$co" --argjson res "$res" \
		--argjson bd "$before_disk" --argjson ad "$(disk_bytes "$PV_DATA")" \
		--argjson db "$(stat -c %s "$PV_DATA/previewd.db")" \
		--argjson wal "$(stat -c %s "$PV_DATA/previewd.db-wal" 2>/dev/null || echo 0)" \
		--argjson clone "$(du -sb "$PV_DATA/clone.git" | cut -f1)" \
		--argjson server "$(du -sb "$repo" | cut -f1)" \
		--argjson half "$half" --argjson hb "$half_b" --argjson hdb "$half_db" --argjson adb "$after_db" \
		--argjson ret "$RETENTION_S" --argjson cy2 "$cy2" \
		'{cycles: $n, run: $cy, run_after_window: $cy2, commits: $c, data_dir_bytes_before: $b, data_dir_bytes_after: $a,
		  data_dir_disk_bytes_before: $bd, data_dir_disk_bytes_after: $ad,
		  bytes_per_cycle: ((($a - $b) / $n * 10 | round) / 10), db_bytes: $db, wal_bytes: $wal,
		  retention_s: $ret, cycles_after_window: ($n - $half), data_dir_bytes_half: $hb, db_bytes_half: $hdb,
		  db_bytes_after: $adb,
		  bytes_per_cycle_after_window: ((($a - $hb) / ($n - $half) * 10 | round) / 10),
		  db_bytes_per_cycle_after_window: ((($adb - $hdb) / ($n - $half) * 10 | round) / 10),
		  clone_bytes: $clone, server_repo_bytes: $server, clone_objects: $co, resources: $res}')"
	pv_down
}

# ---------------------------------------------------------------- 7. Argo CD at scale

# argocd_idle: previewd idling with 20 environments, once without Argo CD
# and once following a loopback fake Argo CD (tests/lib/fake_argocd.py)
# that holds FOREIGN Applications of other teams (the real JSON shape,
# ~2 KB each) besides previewd's 20, polled at the default
# PREVIEWD_ARGOCD_POLL with the watch stream open; records each run's CPU
# (utime+stime over IDLE_SECS, from /proc) and peak RSS (VmHWM), and what
# the fake answered (how many Applications, how many bytes)
argocd_idle() {
	local fdir=$WORK/argocd fpid fport c0 c1 off on tck=$(getconf CLK_TCK) apps i
	mkdir -p "$fdir"
	apps=$(for i in $(seq 0 19); do printf '"ac-%06d": {}\n' "$i"; done | paste -sd, -)
	printf '{"apps": {%s}}\n' "$apps" >"$fdir/control.json"
	printf 'bench-argocd-token\n' >"$fdir/token"
	python3 "$ROOT/tests/lib/fake_argocd.py" --log "$fdir/log.jsonl" --control "$fdir/control.json" \
		--token bench-argocd-token --foreign "$FOREIGN" >"$fdir/port" 2>"$fdir/err" &
	fpid=$!
	for _ in $(seq 1 200); do
		fport=$(head -n 1 "$fdir/port" 2>/dev/null)
		[[ $fport =~ ^[0-9]+$ ]] && break
		sleep 0.05
	done
	[[ ${fport:-} =~ ^[0-9]+$ ]] || die "the fake Argo CD did not start: $(cat "$fdir/err")"
	cpu_ticks() { sed 's/^.*) //' "/proc/$PV_PID/stat" | awk '{print $12 + $13}'; }
	# idle_run NAME URL [VAR=value...]: 20 creates, then IDLE_SECS idle
	idle_run() {
		local name=$1 url=$2 t0 t1
		shift 2
		pv_up "$name" "$url" "$@"
		lg -m POST -c 1 -n 20 -x ac- >/dev/null || die "argocd creates failed"
		drain pending
		sleep 2
		c0=$(cpu_ticks) t0=$EPOCHREALTIME
		sleep "$IDLE_SECS"
		c1=$(cpu_ticks) t1=$EPOCHREALTIME
		jq -n --argjson res "$(pv_res)" --argjson c $((c1 - c0)) --argjson tck "$tck" --argjson s "$(secs "$t0" "$t1")" \
			'$res + {idle_s: $s, idle_cpu_s: ($c / $tck), cpu_pct: (($c / $tck / $s * 100 * 1000 | round) / 1000)}'
		pv_down
	}
	log "argocd: previewd idle ${IDLE_SECS}s with 20 envs, without Argo CD"
	off=$(idle_run argocd-off "$(http_url_bare argocd-off)")
	log "argocd: the same with a fake Argo CD holding $FOREIGN foreign Applications (poll 10 s + watch stream)"
	: >"$fdir/log.jsonl"
	on=$(idle_run argocd-on "$(http_url_bare argocd-on)" PREVIEWD_ARGOCD_URL="http://127.0.0.1:$fport" \
		PREVIEWD_ARGOCD_TOKEN_FILE="$fdir/token" PREVIEWD_ARGOCD_WEBHOOK_URL="http://127.0.0.1:$fport/api/webhook")
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
	jset .previewd.http.argocd "$(jq -n --argjson off "$off" --argjson on "$on" --argjson foreign "$FOREIGN" \
		--argjson lists "$(jq -s '[.[] | select(.method == "GET" and .path == "/api/v1/applications")]
			| {count: length, items_max: (map(.items) | max), bytes_max: (map(.bytes) | max)}' "$fdir/log.jsonl")" \
		'{foreign_apps: $foreign, without: $off, with: $on, lists: $lists,
		  rss_peak_delta_mib: ((($on.rss_peak_mib - $off.rss_peak_mib) * 10 | round) / 10),
		  cpu_pct: $on.cpu_pct, cpu_pct_without: $off.cpu_pct}')"
}

# ---------------------------------------------------------------- 8. a create flood

# flood: previewd with its default create rate (60 a minute, bursts of 20)
# and total quota (1,000); the quota per owner is off so that the rate is
# what stops the flood.  GET one of 10 environments with wrk (1 connection)
# alone, then while 8 clients flood POST /v1/environments from the same
# address with async creates, batch after batch until wrk is done.  Records
# what the flood got (statuses: nearly all 429), how many creates passed
# beside what the bucket allows (the burst, less the 10, plus a token a
# second since it was full), and the GET latency beside the quiet one.
flood() {
	local stop=$WORK/flood.stop fpid t_full t0 t1 quiet busy runs created secs
	pv_up flood "$(http_url_bare flood)" PREVIEWD_MAX_ENVS_PER_OWNER=0 PREVIEWD_MAX_ENVS=1000 \
		PREVIEWD_CREATE_RATE=60 PREVIEWD_CREATE_BURST=20
	t_full=$EPOCHREALTIME
	lg -m POST -c 1 -n 10 -x fl -o flood-get >/dev/null || die "flood: the 10 environments to read were not created"
	log "flood: GET one (wrk -t1 -c1 -d${READ_SECS}s) alone, then under a flood of creates from 8 clients"
	quiet=$(wrk_run get "$WORK/wrk-flood-quiet.json" 1 1 "$READ_SECS" BENCH_NAMES=10 BENCH_PREFIX=fl)
	: >"$WORK/flood.runs"
	(
		i=0
		while [ ! -e "$stop" ]; do
			lg -m POST -c 8 -n 2000 -s $((i * 2000)) -x fx -o flood -a >>"$WORK/flood.runs" || exit 1
			i=$((i + 1))
		done
	) &
	fpid=$!
	t0=$EPOCHREALTIME
	busy=$(wrk_run get "$WORK/wrk-flood.json" 1 1 "$READ_SECS" BENCH_NAMES=10 BENCH_PREFIX=fl)
	touch "$stop"
	wait "$fpid" || die "flood: the load generator failed: $(tail -n 3 "$WORK/flood.runs")"
	t1=$EPOCHREALTIME
	secs=$(secs "$t0" "$t1")
	runs=$(jq -s '{count: (map(.count) | add), elapsed_s: (map(.elapsed_s) | add),
		statuses: (map(.statuses | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries)}' \
		"$WORK/flood.runs")
	created=$(jq '(.statuses["201"] // 0) + (.statuses["202"] // 0)' <<<"$runs")
	jset .flood "$(jq -n --argjson q "$quiet" --argjson b "$busy" --argjson r "$runs" --argjson c "$created" \
		--argjson s "$secs" --argjson since_full "$(secs "$t_full" "$t1")" --argjson res "$(pv_res)" \
		'{limits: {create_rate_per_minute: 60, create_burst: 20, envs: 1000}, seconds: $s,
		  posts: $r, created: $c, created_allowed: (20 - 10 + ($since_full | ceil)),
		  posts_per_s: (($r.count / $s * 10 | round) / 10), get_quiet: $q, get_under_flood: $b, resources: $res}')"
	pv_down
}

# ---------------------------------------------------------------- run

baseline http "$(http_url cli)"
[ "${SKIP_FILE:-0}" = 1 ] || baseline file "$(file_url file-cli)"
plain_push http "$(http_url plain)"
[ "${SKIP_FILE:-0}" = 1 ] || plain_push file "$(file_url file-plain)"
writes http "$(http_url_bare gitops)" "$REPOS/gitops.git"
[ "${SKIP_FILE:-0}" = 1 ] || writes file "$(file_url file-gitops)" "$REPOS/file-gitops.git"
reap
sleep_boundary
scale_reads
cycles
argocd_idle
flood
jset .meta.runtime_s "$(secs "$T_START" "$EPOCHREALTIME")"

# ---------------------------------------------------------------- targets

# target ID FIGURE_JQ OP LIMIT_JQ TEXT: evaluate one target into .targets
jset .targets '[]'
target() {
	local id=$1 fig=$2 op=$3 lim=$4 text=$5
	jq --arg id "$id" --arg op "$op" --arg text "$text" \
		"(try ($fig) catch null) as \$f | (try ($lim) catch null) as \$l |
		 .targets += [{id: \$id, target: \$text, value: \$f, op: \$op, limit: \$l,
		   pass: (if \$f == null or \$l == null then false
		          elif \$op == \"le\" then \$f <= \$l elif \$op == \"lt\" then \$f < \$l else \$f >= \$l end)}]" \
		"$R" >"$R.tmp" && mv "$R.tmp" "$R"
}
P=.previewd.http
target seq_vs_limit "$P.create_seq.ms.p50 / .limit.http.ms.p50" le 1.2 \
	"sequential create p50 <= 1.2 x plain-push p50 (http)"
target seq_vs_baseline ".baseline.http.ms_per_env / $P.create_seq.ms.p50" ge 1.5 \
	">= 1.5 x faster per env than the baseline (baseline ms/env / create p50, http)"
target c64_throughput "$P.create_c64.envs_per_s / .baseline.http.envs_per_s" ge 40 \
	"64 clients: >= 40 x baseline envs/s (http)"
target c64_p99 "$P.create_c64.ms.p99" lt 1000 "64 clients: p99 < 1 s (ms)"
target get_one_rps "$P.reads.get_one_c32.ok_rps" ge 15000 "GET one env >= 15,000 req/s (wrk -t2 -c32)"
target list100_p99 "$P.reads.list100_c1.ms.p99" le 5 "list of 100 p99 <= 5 ms (1 connection)"
# only a run in which all 30 slow clients still held their connections counts
target loris_get_p99 "if $P.reads.get_one_loris.slow_clients_held == 30 then $P.reads.get_one_loris.ms.p99 else null end" \
	le 10 "GET one p99 <= 10 ms while 30 slow-loris clients hold connections"
target reap_1000 "$P.reap.seconds" le 2 "reap $REAP expired envs <= 2 s (expiry second -> folders gone)"
target rss_top "$P.resources_at_top.rss_peak_mib" le 32 "peak RSS <= 32 MiB at ${LEVELS##* } envs (MiB)"
target scale_ratio "($P.scale[-1].create_seq.ms.p50 / $P.scale[0].create_seq.ms.p50)" le 2 \
	"create p50 at ${LEVELS##* } envs <= 2 x at ${LEVELS%% *}"
# the clone is bounded: previewd writes new objects as a pack every few
# rounds and repacks after 32 of them (so at most 33 packs), never loose,
# and the clone is no bigger than twice the server's copy of the history
target clone_packs "$P.cycles.clone_objects.packs" le 33 "clone bounded: packs <= 33 (32 written + 1 repacked)"
target clone_loose "$P.cycles.clone_objects.count" le 0 "clone bounded: no loose objects"
target clone_size "$P.cycles.clone_bytes / $P.cycles.server_repo_bytes" le 2 \
	"clone bounded: clone.git <= 2 x the server's repository (bytes)"
# bounded growth: past the retention window the database keeps nothing per
# cycle (within a page over the half: the B-trees' shape may differ)
target db_flat "$P.cycles.db_bytes_per_cycle_after_window" le "([8, 4096 / $P.cycles.cycles_after_window] | max)" \
	"database flat after the retention window: previewd.db bytes per cycle <= 8 (or 1 page per half)"

# Argo CD at scale: following previewd's Applications among FOREIGN others
# costs next to nothing
target argocd_cpu "$P.argocd.cpu_pct" le 0.5 \
	"Argo CD with $FOREIGN foreign apps: previewd idle CPU <= 0.5 % of a core"
target argocd_rss "$P.argocd.rss_peak_delta_mib" le 8 \
	"Argo CD with $FOREIGN foreign apps: peak RSS <= 8 MiB over the run without (MiB)"

# every figure above counts successful answers only (loadgen.c times 2xx
# answers alone, wrk's ok_rps leaves errors out); this one makes sure the
# answers were successful: at most 1 % failed or non-2xx in any load run
target errors_share '[.previewd.http | .. | objects | select(has("count") and has("ok")) | (.count - .ok) / .count]
	+ [.previewd.http | .. | objects | select(has("requests") and has("errors")) | (.errors | add) / .requests] | max' \
	le 0.01 "errors <= 1 % of the requests of every load run (failed or not 2xx)"

# the flood: nearly every POST is refused (429), the creates that pass stay
# within the burst and the rate, and reads go on at speed meanwhile
target flood_get_p99 ".flood.get_under_flood.ms.p99" le 10 \
	"GET one p99 <= 10 ms while 8 clients flood creates (rate limit on)"
target flood_rate_held ".flood.created" le ".flood.created_allowed" \
	"a create flood gets no more than the burst and the rate (creates that passed)"

jset .meta.loadavg_end "$(loadavg)"
mkdir -p "$(dirname "$OUT")"
jq . "$R" >"$OUT" || die "cannot write $OUT"

# ---------------------------------------------------------------- table

jq -r -f "$BENCH_DIR/table.jq" "$OUT" | tee "${OUT%.json}.txt"
log "results in $OUT (table in ${OUT%.json}.txt)"
