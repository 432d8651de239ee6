# Shared by start-workers.sh and stop-workers.sh (sourced, not run).
#
# Hostfile: one worker per line, `user host slots [threads]`; `#` starts a comment; blank lines
# are ignored. `host` is what ssh connects to and also the host name the worker reports (the
# `host` column of results.csv). A host may appear once.
#
# Environment:
#   SSH            ssh command (default: ssh -o BatchMode=yes -o ConnectTimeout=10)
#   SCP            scp command (default: scp -q -o BatchMode=yes -o ConnectTimeout=10)
#                  e.g. SSH="ssh -p 2222 -i ~/.ssh/cluster" SCP="scp -q -P 2222 -i ~/.ssh/cluster"
#   REMOTE_DIR     directory on each host, relative to the login's home or absolute
#                  (default .grainsweep); each worker uses REMOTE_DIR/worker-HOST/
#   DRY_RUN=1      same as --dry-run: print the commands instead of running them

SSH="${SSH:-ssh -o BatchMode=yes -o ConnectTimeout=10}"
SCP="${SCP:-scp -q -o BatchMode=yes -o ConnectTimeout=10}"
REMOTE_DIR="${REMOTE_DIR:-.grainsweep}"
DRY_RUN="${DRY_RUN:-}"

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# Values that end up inside remote shell commands are restricted to a safe character set, so
# no quoting bugs (or injection through a hostfile) are possible.
safe() {
  case "$2" in
    "" | *[!A-Za-z0-9._@:/~+=-]*) die "$1 '$2' has characters outside [A-Za-z0-9._@:/~+=-]" ;;
  esac
}

# run CMD...: runs a local command, or prints it under --dry-run.
run() {
  if [ -n "$DRY_RUN" ]; then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# remote USER HOST 'SCRIPT': runs a POSIX sh script on the host (word-split $SSH on purpose).
remote() {
  local target="$1@$2"
  if [ -n "$DRY_RUN" ]; then
    echo "+ $SSH $target '$3'"
  else
    # shellcheck disable=SC2086
    $SSH "$target" "$3"
  fi
}

# copy LOCAL USER HOST REMOTE_PATH
copy() {
  if [ -n "$DRY_RUN" ]; then
    echo "+ $SCP $1 $2@$3:$4"
  else
    # shellcheck disable=SC2086
    $SCP "$1" "$2@$3:$4"
  fi
}

# read_hostfile FILE: fills the arrays H_USER, H_HOST, H_SLOTS, H_THREADS (empty: worker default).
read_hostfile() {
  local file="$1" line user host slots threads extra n=0
  [ -f "$file" ] || die "no hostfile $file"
  H_USER=(); H_HOST=(); H_SLOTS=(); H_THREADS=()
  local seen=" "
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%%#*}"
    read -r user host slots threads extra <<<"$line" || true
    [ -z "$user" ] && continue
    [ -n "$extra" ] && die "$file:$n: expected 'user host slots [threads]', got '$line'"
    [ -n "$host" ] && [ -n "$slots" ] || die "$file:$n: expected 'user host slots [threads]', got '$line'"
    safe "$file:$n: user" "$user"
    safe "$file:$n: host" "$host"
    case "$slots" in '' | *[!0-9]* | 0) die "$file:$n: slots must be a positive integer, got '$slots'" ;; esac
    case "$threads" in *[!0-9]* | 0) die "$file:$n: threads must be a positive integer, got '$threads'" ;; esac
    case "$seen" in *" $host "*) die "$file:$n: host $host appears twice (one worker per host; use slots)" ;; esac
    seen="$seen$host "
    H_USER+=("$user"); H_HOST+=("$host"); H_SLOTS+=("$slots"); H_THREADS+=("$threads")
  done <"$file"
  [ "${#H_HOST[@]}" -gt 0 ] || die "$file: no hosts"
}
