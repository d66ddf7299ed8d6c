#!/usr/bin/env bash
# ctest-labels: concurrent
# test_crash.sh — nothing acknowledged is lost, whatever happens to previewd.
#
# previewd pushes to a smart-HTTP Git server (lighttpd + git http-backend,
# basic auth). Four clients create and delete their own environments in a
# loop (each operation with its own Idempotency-Key, retried with that key
# until it is answered 2xx, so every operation ends acknowledged) while the
# test kills previewd with SIGKILL at random moments and restarts it on the
# same port, 20+ times; then the Git server goes away for several seconds
# mid-stream, with one more crash during the outage. At the end, with Git as
# the judge:
#   - every name whose last acknowledged operation was a create is in Git
#     (both files) and active in the database; every name whose last one
#     was a delete is absent from Git and deleted in the database;
#   - Git holds no other previewd folder; none is half-written; every
#     values.yaml is a YAML mapping;
#   - SQLite's integrity_check is ok; git fsck passes on the server's
#     repository and on previewd's clone.
#
#   bash tests/integration/test_crash.sh        (KEEP_TMP=1 keeps the logs)
#
# shellcheck disable=SC2317  # helpers below are run through t_ok/t_eventually
# shellcheck source=tests/lib/harness.sh disable=SC1091
. "$(dirname "$0")/../lib/harness.sh"

SRC=${PV_SOURCE_DIR:-$T_ROOT}
T_START=$(date +%s)
KILLS=${CRASH_KILLS:-22}
CLIENTS=4
DATA=$T_TMP/data
DB=$DATA/previewd.db
STOP=$T_TMP/stop
# (now_ms, sql on $DB, pv_start_on, view and env_status_is come from the harness)
# rand_sleep MIN_MS MAX_MS
rand_sleep() { sleep "$(awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { printf "%.3f", (a + (b - a) * r / 32767) / 1000 }')"; }

# ------------------------------------------------------------------ setup
if ! gitserver_start "$T_TMP/git" || ! gitserver_new_repo gitops "$SRC/deploy/helm-env"; then
    t_bail "cannot start the Git server"
fi
SERVER_REPO=$GITSERVER_DIR/repos/gitops.git
PASSFILE=$T_TMP/git-password
gitserver_passfile "$PASSFILE"
PV_ARGS=(
    PREVIEWD_GIT_URL="$GITSERVER_URL/gitops.git"
    PREVIEWD_GIT_USERNAME="$GITSERVER_USER"
    PREVIEWD_GIT_PASSWORD_FILE="$PASSFILE"
    PREVIEWD_WAIT_MS=2000
    PREVIEWD_PUSH_BACKOFF_MAX_MS=300
)
PORT= # picked at the first start (pv_start_on below); every restart reuses it
# CRASH_CLEAR_LOCKS=1 (diagnostic only): remove Git lock files left in the
# clone by a kill before each restart, to look past that failure mode.
# The test's own Git server: when previewd dies mid-push, lighttpd can kill
# the git-receive-pack serving it before it releases refs/heads/main.lock,
# and that server then refuses every push ("failed to update ref") until
# someone removes the lock.  That is the test server's state, not
# previewd's; previewd is the only pusher and is down here, so a lock older
# than a second is stale.
server_unlock() {
    [ -n "${SERVER_REPO:-}" ] && [ -d "$SERVER_REPO" ] || return 0
    find "$SERVER_REPO" -name '*.lock' ! -newermt '-1 second' -print -delete | sed 's/^/# test server: removed stale lock /'
}
restart() {
    server_unlock
    if [ "${CRASH_CLEAR_LOCKS:-0}" = 1 ] && [ -d "$DATA/clone.git" ]; then
        find "$DATA/clone.git" -name '*.lock' -print -delete | sed 's/^/# removed stale lock /'
    fi
    PV_WANT_PORT=$PORT pv_start "$DATA" "${PV_ARGS[@]}"
}
# the first start may lose its picked port to a test running beside this
# one; later restarts reuse the port that worked
pv_start_on PORT "$DATA" "${PV_ARGS[@]}" || t_bail "previewd did not start"
URL=$PV_URL

# ------------------------------------------------------------------ clients
# client ID: loops over three names of its own; a name believed live is
# deleted, else created. Each operation has its own Idempotency-Key and is
# retried with it (no answer, 5xx, 409 "still being answered", 409 on a
# re-create while the name's removal is not pushed yet) until it gets a 2xx;
# any other answer is logged as ERR and the name is dropped (its state is
# then unknown). Log lines:
#   ACK <ms> <client> <op> <name> <http status> <env status> <replayed> <seq>
#   ERR <ms> <client> <op> <name> <http status> <seq> <problem>
client() {
    local id=$1 seq=0 name op key prefer code deadline replayed
    local log=$T_TMP/client.$1.log body=$T_TMP/client.$1.body hdr=$T_TMP/client.$1.hdr
    local names=("k${id}-a" "k${id}-b" "k${id}-c")
    local -A live=() dead=() deleted=()
    local field
    : >"$log"
    while [ ! -e "$STOP" ] && [ ${#dead[@]} -lt 3 ]; do
        name=${names[RANDOM % 3]}
        [ -n "${dead[$name]:-}" ] && continue
        seq=$((seq + 1))
        key="crash-$id-$seq-$RANDOM"
        if [ -n "${live[$name]:-}" ]; then op=DELETE; else op=POST; fi
        if [ $((RANDOM % 2)) = 0 ]; then prefer=respond-async; else prefer=wait=1; fi
        deadline=$(($(now_ms) + 60000)) # generous: a restart on a loaded machine
        while :; do
            if [ $op = POST ]; then
                code=$(curl -s -m 5 -o "$body" -D "$hdr" -w '%{http_code}' -X POST \
                    -H 'Content-Type: application/json' -H "Idempotency-Key: $key" -H "Prefer: $prefer" \
                    --data-binary "{\"owner\":\"crash$id\",\"name\":\"$name\",\"values\":{\"seq\":$seq}}" \
                    "$URL/v1/environments")
            else
                code=$(curl -s -m 5 -o "$body" -D "$hdr" -w '%{http_code}' -X DELETE \
                    -H "Idempotency-Key: $key" -H "Prefer: $prefer" "$URL/v1/environments/$name")
            fi
            case "$code" in
            2??)
                replayed=$(tr -d '\r' <"$hdr" | awk -F': ' 'tolower($1) == "idempotent-replayed" { print $2 }')
                echo "ACK $(now_ms) $id $op $name $code $(jq -r .status "$body" 2>/dev/null) ${replayed:-false} $seq" >>"$log"
                if [ $op = POST ]; then live[$name]=1; else unset "live[$name]"; deleted[$name]=1; fi
                break
                ;;
            000 | 5??) ;;
            409 | *)
                # 409s that may be retried: "a request with this key is still being
                # answered", and a create of a name this client deleted, whose
                # removal (acknowledged, maybe as 202) is not pushed yet
                field=$(jq -r .field "$body" 2>/dev/null)
                if [ "$code" != 409 ] || { [ "$field" != Idempotency-Key ] &&
                    { [ "$field" != name ] || [ $op != POST ] || [ -z "${deleted[$name]:-}" ]; }; }; then
                    echo "ERR $(now_ms) $id $op $name $code $seq $(jq -c . "$body" 2>/dev/null | head -c 300)" >>"$log"
                    dead[$name]=1
                    break
                fi
                ;;
            esac
            if [ "$(now_ms)" -ge "$deadline" ]; then
                echo "ERR $(now_ms) $id $op $name $code $seq no 2xx within 60 s" >>"$log"
                dead[$name]=1
                break
            fi
            sleep 0.1
        done
        sleep 0.02
    done
}

CPIDS=()
for c in $(seq 1 $CLIENTS); do
    client "$c" &
    CPIDS+=($!)
done
stop_clients() { touch "$STOP"; for p in "${CPIDS[@]}"; do kill "$p" 2>/dev/null; done; return 0; }
t_defer stop_clients
acks() { cat "$T_TMP"/client.*.log 2>/dev/null | grep -c '^ACK'; }

# ------------------------------------------------------------------ crashes
t_begin "kill -9 at random moments under a stream of creates and deletes"
kills=0 hits=0 busy=0
failed_start=0
for _ in $(seq 1 "$KILLS"); do
    a0=$(acks)
    rand_sleep 200 1000
    # a hit: the previewd of the last start was alive and died of this SIGKILL
    # (exit status 128 + 9), after acknowledging operations since it started
    alive=0
    kill -0 "$PV_PID" 2>/dev/null && alive=1
    pv_kill9
    kills=$((kills + 1))
    [ "$alive" = 1 ] && [ "$PV_EXIT" = 137 ] && hits=$((hits + 1))
    [ "$(acks)" -gt "$a0" ] && busy=$((busy + 1))
    rand_sleep 100 500
    if ! restart; then
        failed_start=$((failed_start + 1))
        restart || break
    fi
done
echo "# $kills kills, $hits of a running previewd, $busy after it had acknowledged operations; $(acks) acknowledged so far"
t_eq "$KILLS" "$hits" "every kill hit a running previewd, which died of the SIGKILL (exit 137)"
t_ok "most kills came while previewd was acknowledging operations ($busy of $KILLS)" test $((busy * 2)) -ge "$KILLS"
t_eq 0 "$failed_start" "previewd came back at once after every kill"
t_ok "previewd is running after the last kill" kill -0 "$PV_PID"

# ------------------------------------------------------------------ outage
t_begin "a Git outage mid-stream, with a crash in it"
sleep 1
before=$(acks)
t_ok "the Git server goes away" gitserver_pause
sleep 2
pv_kill9
restart_ok=0
PV_START_READY=0 restart && restart_ok=1
t_eq 1 "$restart_ok" "previewd restarts while Git is away"
sleep 3
during=$(($(acks) - before))
echo "# $during operations acknowledged during the outage"
t_ok "operations are acknowledged while Git is away ($during)" test "$during" -gt 0
t_ok "the Git server comes back" gitserver_resume
sleep 2
touch "$STOP"
wait "${CPIDS[@]}"
echo "# clients stopped; $(acks) acknowledged operations in total"
if ! t_ok "previewd is still running after the outage" kill -0 "$PV_PID"; then
    wait "$PV_PID"
    echo "# previewd exited with status $?; last lines of $PV_LOG:"
    tail -n 20 "$PV_LOG" | sed 's/^/#   /'
fi

# ------------------------------------------------------------------ converge
t_begin "convergence"
server_unlock
dirty_zero() {
    [ "$(sql "SELECT count(*) FROM envs WHERE gen > pushed_gen OR status IN ('pending', 'deleting')")" = 0 ]
}
if ! t_eventually 20 "every change reaches Git (no pending, deleting or unpushed row)" dirty_zero; then
    echo "# readyz: $(curl -s -m 2 "$PV_URL/readyz" | jq -c .checks.git)"
fi

# ------------------------------------------------------------------ verdict
t_begin "every acknowledged operation holds, with Git as the judge"
ALL=$T_TMP/all.log
cat "$T_TMP"/client.*.log >"$ALL"
ERRS=$(grep -c '^ERR' "$ALL")
t_eq 0 "$ERRS" "every operation ended acknowledged (2xx), none refused"
grep '^ERR' "$ALL" | head -n 10 | sed 's/^/#   /'
NACK=$(grep -c '^ACK' "$ALL")
NREPLAY=$(awk '$1 == "ACK" && $8 == "true"' "$ALL" | wc -l)
echo "# answers: $(awk '$1 == "ACK" { print $4, $6 }' "$ALL" | sort | uniq -c | awk '{ printf "%s %s %s; ", $1, $2, $3 }')"
echo "# $NREPLAY answers were replays of a request whose first answer was lost to a crash"

VIEW_URL=$(gitserver_url gitops)
view
# the last acknowledged operation of each name (each name belongs to one client,
# whose log is in order), and the seq of its last acknowledged create
awk '$1 == "ACK" { last[$5] = $4; if ($4 == "POST") seq[$5] = $9 } END { for (n in last) print n, last[n], seq[n] }' \
    "$ALL" | sort >"$T_TMP/expected"
bad=()
ncreate=0 ndelete=0
while read -r name op seq; do
    st=$(sql "SELECT status FROM envs WHERE name = '$name' ORDER BY id DESC LIMIT 1")
    if [ "$op" = POST ]; then
        ncreate=$((ncreate + 1))
        if [ ! -f "$VIEW/env/$name/values.yaml" ] || [ ! -f "$VIEW/env/$name/previewd.json" ]; then
            bad+=("$name: created (ack) but not in Git")
        elif [ "$(yaml_get "$VIEW/env/$name/values.yaml" seq 2>&1)" != "$seq" ]; then
            bad+=("$name: Git has another version than the last acknowledged create (seq $seq)")
        fi
        [ "$st" = active ] || bad+=("$name: created (ack) but the database says ${st:-nothing}")
    else
        ndelete=$((ndelete + 1))
        [ -e "$VIEW/env/$name" ] && bad+=("$name: deleted (ack) but still in Git")
        [ "$st" = deleted ] || bad+=("$name: deleted (ack) but the database says ${st:-nothing}")
    fi
done <"$T_TMP/expected"
echo "# checked $NACK acknowledged operations: $(wc -l <"$T_TMP/expected") names, last operation $ncreate create(s), $ndelete delete(s)"
t_ok "at least 100 acknowledged operations ($NACK)" test "$NACK" -ge 100
t_eq "" "$(printf '%s\n' "${bad[@]}" | sed '/^$/d')" "Git and the database agree with every acknowledged operation"

# Git holds exactly the live environments, whole
SEEDS=" dev test prod "
git_managed=$(for d in "$VIEW"/env/*/; do n=$(basename "$d"); [[ $SEEDS == *" $n "* ]] || echo "$n"; done | sort | tr '\n' ' ')
db_live=$(sql "SELECT name FROM envs WHERE status IN ('pending', 'active', 'deleting') ORDER BY name" | tr '\n' ' ')
t_eq "$db_live" "$git_managed" "the env folders in Git are exactly the live environments in the database"
half=$(for d in "$VIEW"/env/*/; do
    n=$(basename "$d")
    [[ $SEEDS == *" $n "* ]] && continue
    { [ -f "$d/values.yaml" ] && [ -f "$d/previewd.json" ]; } || echo "$n"
    [ "$(find "$d" -mindepth 1 -printf "%f\n" | sort | tr "\n" " ")" = "previewd.json values.yaml " ] || echo "$n(extra files)"
    [ "$(jq -r .managed_by "$d/previewd.json" 2>/dev/null)" = previewd ] || echo "$n(previewd.json)"
done)
t_eq "" "$half" "no env folder is half-written (each has exactly values.yaml and a valid previewd.json)"
notmap=$(for f in "$VIEW"/env/*/values.yaml; do
    yaml_is_mapping "$f" || echo "$f"
done)
t_eq "" "$notmap" "every env/*/values.yaml parses as a YAML mapping"
t_ok "people's folders and the chart are untouched" \
    git -C "$VIEW" diff --quiet "$(git -C "$VIEW" rev-list --max-parents=0 HEAD)" HEAD -- env/dev env/test env/prod Chart.yaml templates

t_begin "storage integrity"
LOCKS=$(find "$DATA/clone.git" -name '*.lock' | sed "s|$DATA/||" | tr '\n' ' ')
t_eq "" "$LOCKS" "no lock file is left in previewd's clone"
t_ok "previewd stops cleanly" pv_stop
t_eq ok "$(sqlite3 "$DB" 'PRAGMA integrity_check')" "PRAGMA integrity_check is ok"
t_eq 0 "$(sqlite3 "$DB" "SELECT count(*) FROM (SELECT name FROM envs WHERE status IN ('pending','active','deleting') GROUP BY name HAVING count(*) > 1)")" \
    "at most one live row per name"
t_ok "git fsck of the server's repository" git --git-dir "$SERVER_REPO" fsck --no-progress --no-dangling
t_ok "git fsck of previewd's clone" git --git-dir "$DATA/clone.git" fsck --no-progress --no-dangling
# A SIGKILL while previewd updates a reference in its clone leaves the
# reference's lock file behind (this test's random kills have left
# clone.git/refs/remotes/origin/main.lock); previewd must get past it.
t_begin "a lock file left in the clone by a kill"
: >"$DATA/clone.git/refs/remotes/origin/main.lock"
t_ok "previewd starts with the stale lock" restart
http POST /v1/environments '{"owner":"afterlock"}'
t_match '^20[12]$' "$HTTP_STATUS" "a create after the restart is accepted"
t_eventually 15 "it becomes active: previewd sees its push landed" env_status_is afterlock active
t_ok "it is on the Git server" git --git-dir "$SERVER_REPO" cat-file -e main:env/afterlock/values.yaml
t_eventually 5 "/readyz is ready (Git reachable)" readyz_is ready
echo "# readyz: $(jqr -c .checks.git)"
echo "# runtime $(($(date +%s) - T_START)) s"
t_end
