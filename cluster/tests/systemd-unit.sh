#!/usr/bin/env bash
# Checks cluster/systemd/grainsweep-worker@.service without a running systemd (CI containers):
# `systemd-analyze verify` (syntax, directives), `systemd-analyze security --offline` (exposure
# score), and the ExecStart line: systemd's `$$` unescaping and line joining applied, run by
# /bin/sh with an example environment file against a stub binary, must give the expected argv
# (with and without GRAINSWEEP_THREADS). Not covered: starting it under a real systemd as the
# unprivileged user (the sandbox's effect on the worker); see cluster/README.md.
set -uo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
UNIT="$HERE/systemd/grainsweep-worker@.service"
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS $1"; }
failt() { FAILED=$((FAILED + 1)); echo "FAIL $1: $2"; }
TMP="$(mktemp -d /tmp/gs-systemd.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

if command -v systemd-analyze >/dev/null 2>&1; then
  cp "$UNIT" "$TMP/"
  out="$(cd "$TMP" && systemd-analyze verify "$TMP/grainsweep-worker@lab.service" 2>&1)"
  # A missing user or binary on this machine is expected; anything else is a unit problem.
  bad="$(grep -v -E 'grainsweep: No such|/usr/local/bin/grainsweep|Failed to resolve user|not found' <<<"$out" | grep -E -i 'unknown|invalid|failed|error|ignoring' || true)"
  [ -z "$bad" ] && pass "systemd-analyze verify" || failt "systemd-analyze verify" "$bad"
  score="$(systemd-analyze security --offline=yes "$TMP/grainsweep-worker@lab.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
  if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then pass "security exposure $score (<= 2.0)"; else failt security "exposure '$score'"; fi
else
  echo "systemd-analyze not available: verify and security checks skipped" >&2
fi

# Render ExecStart as systemd would: join continuation lines, `$$` -> `$`, then strip `/bin/sh -c '...'`.
exec_line="$(awk '/^ExecStart=/ { s = substr($0, 11); while (s ~ /\\$/) { sub(/\\$/, "", s); getline l; s = s l }; print s; exit }' "$UNIT")"
script="$(sed -e 's/\$\$/$/g' -e "s|^/bin/sh -c '||" -e "s|'\$||" <<<"$exec_line")"
script="${script//\/usr\/local\/bin\/grainsweep/$TMP/stub}"
printf '#!/bin/sh\nfor a in "$@"; do printf "[%%s]" "$a"; done; echo\n' >"$TMP/stub"
chmod +x "$TMP/stub"
env_defaults="$(sed -n 's/^Environment=//p' "$UNIT")"
run_with() { # ENVFILE: what the unit would exec
  (set -a; eval "$env_defaults"; . "$1"; set +a; /bin/sh -c "$script")
}
cat >"$TMP/lab.env" <<'EOF'
GRAINSWEEP_CONNECT=tcp://coord.example.org:5555
GRAINSWEEP_SERVER_KEY=/etc/grainsweep/keys/coordinator.pub
GRAINSWEEP_SECRET_KEY=/etc/grainsweep/keys/node17.key
GRAINSWEEP_SLOTS=2
GRAINSWEEP_THREADS=16
EOF
got="$(run_with "$TMP/lab.env")"
want="[worker][--connect][tcp://coord.example.org:5555][--server-key][/etc/grainsweep/keys/coordinator.pub][--secret-key][/etc/grainsweep/keys/node17.key][--slots][2][--threads][16][--give-up-after][3600]"
[ "$got" = "$want" ] && pass "ExecStart argv with threads" || failt "ExecStart argv" "got $got"
sed -i '/THREADS/d' "$TMP/lab.env"
echo 'GRAINSWEEP_EXTRA_ARGS="--log-level notice"' >>"$TMP/lab.env"
got="$(run_with "$TMP/lab.env")"
want="[worker][--connect][tcp://coord.example.org:5555][--server-key][/etc/grainsweep/keys/coordinator.pub][--secret-key][/etc/grainsweep/keys/node17.key][--slots][2][--give-up-after][3600][--log-level][notice]"
[ "$got" = "$want" ] && pass "ExecStart argv without threads, extra args" || failt "ExecStart argv (no threads)" "got $got"
sed -i '/CONNECT/d' "$TMP/lab.env"
if run_with "$TMP/lab.env" >/dev/null 2>&1; then failt "missing CONNECT" "started anyway"; else pass "missing GRAINSWEEP_CONNECT refuses to start"; fi
echo "systemd: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
