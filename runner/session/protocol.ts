/**
 * The persistent shell's wire protocol: the shell code berth feeds a long-lived `sh`/`bash` over
 * stdin, and the helper scripts it runs in one-shot execs. Everything here is POSIX sh that also
 * runs under busybox ash (no arrays, no `set -m`: ash has no job control without a tty).
 *
 * One command, as written to the shell's stdin (one logical line):
 *
 *   __b_pre NONCE TAG [UPTIME] && for __b_i in 1; do command eval 'CMD' </dev/null >&6 2>&8 6>&- 8>&-;
 *     __b_rc=$?; done; __b_post "$__b_rc"
 *
 * - eval runs at top level (not in a function), so `cd`, `export`, `declare` persist exactly as
 *   typed at a prompt; `command eval` keeps a syntax error from exiting the shell (POSIX: special
 *   built-ins prefixed by `command` don't abort a non-interactive shell).
 * - The one-iteration loop is the interrupt point: on timeout/abort the runner sends the shell
 *   SIGUSR1, whose trap runs `break 99`, so the rest of the command list is abandoned (`a; sleep
 *   60; b` never reaches b, and a builtin `while :; do :; done` stops) while the shell, its cwd and
 *   its env survive. bash and busybox ash both run the trap as soon as the foreground child is
 *   gone (the runner kills that at the same time) and honour `break` from a trap. A `for` loop,
 *   not `while`, so a stray top-level `continue` in the command cannot re-run it.
 * - stdin is /dev/null, so `cat`/`read` see EOF instead of eating the protocol.
 * - stdout/stderr go to two FIFOs, each relayed to the exec's real stdout/stderr by a `cat`.
 *   The shell writes the end record into the same FIFOs after the command, so it arrives after
 *   every byte the command wrote (a pipe preserves order). Background jobs (`server &`) keep the
 *   FIFO open after the command; at the next command the shell sees another holder of the FIFO
 *   (`[ /proc/P/fd/N -ef ... ]`, builtins only), hands the old FIFOs to `cat >> bg.log` drainers,
 *   retires the old relays, and makes new FIFOs, so a background job's later output lands in the
 *   shell's bg.log instead of bleeding into later results. With no such holder the relays are
 *   reused, so the hot path forks nothing. The fd scan, and the check that both relays still read
 *   the shell's FIFOs, are skipped when the set of live pids is the one seen at the last passing
 *   check: a leftover holder is a process that outlived the command, so it has a pid that was not
 *   there before, and a relay that died took its pid with it (only pid wrap-around within one
 *   command could hide either). Unlike `$!` or `jobs`, this also sees `(x &)`, `sh -c 'x &'` and setsid daemons.
 * - Direct mode (the FIFO transport, shell-transport.ts: the runner shares this kernel): no relays.
 *   When the shell makes a pair of command FIFOs it writes `TOKEN M TOKEN` on its own stdout and
 *   waits; the runner opens them through /proc/<shell>/fd/6 and 8 (the same checks as the
 *   launcher's FIFOs) and answers `go` on stdin. The stdout begin and end records then go into
 *   the command FIFO too (relay fields `-`), so everything a command prints reaches the runner in
 *   order, one hop and no extra process per byte: relays were a third of the container's CPU per
 *   command and two more scheduling hops for each record. The stderr FIFO carries no records: the
 *   command's stderr is what the runner reads there from the stdout begin record on (bytes read
 *   earlier wait for it; at an M they are the old pair's and dropped) to the stdout end record, at
 *   which the runner reads the FIFO empty without waiting (the shell wrote all of it before that
 *   record). Before it writes a command line it empties that FIFO too, dropping a finished
 *   background job's last bytes (one that writes after that and exits before the shell's holder
 *   check is the one way left for late bytes to land in a result). Two records less per command:
 *   54 syscalls in the shell instead of 70, and one FIFO read less in the runner. The shell's own
 *   stdout/stderr then carry only M, fallback end records and a failed setup. Retire (both modes) hands the pair to drainers
 *   through the shell's own write ends (/proc/$$/fd/6), never by path; the runner drops its ends
 *   when it opens the next pair. Holders are checked as above (the runner is outside the container).
 * - Records are framed by TOKEN = __berth_<nonce>__ with a fresh 128-bit nonce per command:
 *     stdout:  TOKEN B<pid> <sid> <relay-out> <relay-err> <uptime> <drainer pids...> TOKEN
 *              ... command stdout ...
 *              TOKEN E<exit code> <cwd> TOKEN    (X instead of E when the shell is exiting)
 *     stderr:  TOKEN B TOKEN ... command stderr ... TOKEN E TOKEN   (none in direct mode)
 *   Bytes before B (a retired relay's last words, shell job notices) are discarded. The nonce is
 *   kept only in a shell variable; the TOKEN string itself never exists in the shell's memory.
 * - berth's functions call tools through `command` (a user function named cat or printf can't
 *   hijack them) and tolerate `set -u`/`set -e` (every failing step ends in `|| :`).
 * - After each command the shell saves `export -p` to a file on the container's tmpfs (/dev/shm,
 *   tmpEnvPath) and $PWD, when it changed, under its state dir; a new shell restores them under
 *   `env -i`, so variables the agent unset stay unset. The tmpfs copy survives the shell (exit,
 *   kill -9, OOM) but not the container; the state dir's env file (the writable layer survives
 *   stop/start) is written from the live shell at most every PERSIST_MS (shell-persist.ts): after the
 *   first command that far from the last write (`__b_post ... P`), by itself (`__b_persist`) when
 *   the shell sits idle that long after an unwritten command, and when the shell exits or reads
 *   EOF. A new shell prefers the tmpfs copy (same container run), else the state dir's. Per
 *   command, a save to the overlay/ext4 layer cost the containers ~40 us of CPU with 50 sessions
 *   at once (inode and journal work in the kernel); to tmpfs, a fraction. Both files are
 *   overwritten in place (`1<>`, no truncation) and end in `return 0`, so a shorter save's stale
 *   tail is never sourced. The save follows the end records: it then overlaps the runner's
 *   turnaround, and the next command is read only after it.
 */
import { BerthError } from '../../src/errors.js';

/** Root of berth's per-container state; created by the runner at container init. */
export const STATE_ROOT = '/var/lib/berth';
export const SHELLS_DIR = `${STATE_ROOT}/shells`;
export const PROCS_DIR = `${STATE_ROOT}/procs`;
export const SETUP_DIR = `${STATE_ROOT}/setup`;

/** Where a shell's env is saved after each command: the container's tmpfs (see the header). */
export function tmpEnvPath(shellName: string): string {
  return `/dev/shm/berth-shell-${shellName}.env`;
}

/** What the runner sends an idle shell to write its env to the state dir (shell.ts). */
export const PERSIST_LINE = '__b_persist || :\n';

/**
 * Shell and process names: each becomes a directory under SHELLS_DIR or PROCS_DIR, so a single
 * plain path component (no '/', not '.' or '..', not starting with '-').
 */
export const STATE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function assertStateName(kind: 'shell' | 'process', name: string): void {
  if (typeof name !== 'string' || !STATE_NAME_PATTERN.test(name)) {
    throw new BerthError(
      'BAD_INPUT',
      `${kind} name ${JSON.stringify(name)} is not valid: use letters, digits, '.', '_' or '-' (max 63, starting with a letter or digit)`,
    );
  }
}

/** Single-quote for POSIX sh: everything literal, `'` becomes `'\''`. */
export function quoteSh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function token(nonce: string): string {
  return `__berth_${nonce}__`;
}

/**
 * argv for the shell's exec: picks bash when the image has it, restores under `env -i` when a
 * saved environment exists, and reads the rest of the protocol from stdin (`-s`).
 * $1 = state dir, $2 = nonce for the FIFO handshake, or - to stay on the attach stream.
 */
export const LAUNCHER: readonly string[] = [
  '/bin/sh',
  '-c',
  [
    'if command -v bash >/dev/null 2>&1; then s=$(command -v bash); else s=/bin/sh; fi',
    // FIFO transport (shell-transport.ts): make the FIFOs, hold them open on fds 4-6 (read and
    // write, so no open blocks), unlink them, say F1 and wait for the runner: "go" once it holds
    // them through /proc, anything else to stay on the attach stream. Then stdin/stdout/stderr
    // become the FIFOs opened again one-way: the runner is the command FIFO's only writer (its
    // exit is the shell's EOF, as with attach) and the output FIFOs' only reader (their EOF, once
    // the shell and its relays are gone, is the shell's end, as the attach stream's was).
    'if [ "${2:--}" != - ]; then',
    '  f="$1/io.$$"; command mkdir -p "$1" 2>/dev/null; command rm -f "$f.i" "$f.o" "$f.e" 2>/dev/null',
    '  if command mkfifo -m 600 "$f.i" "$f.o" "$f.e" 2>/dev/null; then',
    '    exec 4<>"$f.i" 5<>"$f.o" 6<>"$f.e"; command rm -f "$f.i" "$f.o" "$f.e"',
    '    command printf \'__berth_%s__F1__berth_%s__\' "$2" "$2"; m=; read -r m || :',
    '    if [ "$m" = go ]; then exec <"/proc/$$/fd/4" >"/proc/$$/fd/5" 2>"/proc/$$/fd/6"; fi',
    '    exec 4<&- 5<&- 6<&-',
    '  else command printf \'__berth_%s__F0__berth_%s__\' "$2" "$2"; fi',
    'fi',
    // The shell's name is the state dir's last component ($1 = SHELLS_DIR/<name>).
    `if [ -f "${tmpEnvPath('${1##*/}')}" ] || [ -r "$1/env" ]; then exec env -i "$s" -s; fi`,
    'exec "$s" -s',
  ].join('\n'),
  'berth-shell',
];

/** Shell code written to a new shell's stdin before its first command. Ends with a ready record. */
export function prelude(stateDir: string, workdir: string, readyNonce: string, direct = false): string {
  const tmpEnv = tmpEnvPath(stateDir.slice(stateDir.lastIndexOf('/') + 1));
  return `__b_dir=${quoteSh(stateDir)}; __b_wd=${quoteSh(workdir)}; __b_direct=${direct ? 1 : ''}; __b_tenv=${quoteSh(tmpEnv)}
__b_ro=; __b_re=; __b_seq=0; __b_n=; __b_lpwd=; __b_d1=; __b_d2=; __b_restored=0; __b_ps=; __b_nf=
trap ':' PIPE
trap '__b_rc=$?; [ "$__b_rc" = 0 ] && __b_rc=130; break 99' USR1
[ -d "$__b_dir" ] || command mkdir -p "$__b_dir" 2>/dev/null
if [ -f "$__b_tenv" ]; then . "$__b_tenv" >/dev/null 2>&1; __b_restored=1
elif [ -r "$__b_dir/env" ]; then . "$__b_dir/env" >/dev/null 2>&1; __b_restored=1; fi
unset __BERTH_JOB
[ -n "\${PATH-}" ] || export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
__b_c=
if [ -r "$__b_dir/cwd" ]; then __b_c=$(command cat "$__b_dir/cwd" 2>/dev/null); fi
cd "\${__b_c:-$__b_wd}" 2>/dev/null || cd "$__b_wd" 2>/dev/null || cd /
__b_lpwd=$__b_c
command read -r __b_sid 2>/dev/null </proc/$$/stat; __b_sid=\${__b_sid##*) }; set -f; set -- $__b_sid; set +f; __b_sid=\${4:-0}
__b_envw() { export -p; command printf 'return 0\\n'; }
# Runs after the end records: a complaint on stderr (state dir removed by the agent) reaches the
# runner before the next command's begin record and is dropped, so no 2>/dev/null (an open each).
# A tmpfs that can't take the save (none, full): the state dir from then on, and no stale copy left
# to be preferred at the next restore.
__b_save() {
  if [ -z "$__b_tenv" ]; then __b_persist
  elif ! __b_envw 1<>"$__b_tenv"; then command rm -f "$__b_tenv"; __b_tenv=; __b_persist; fi
  if [ "$PWD" != "$__b_lpwd" ]; then command printf '%s' "$PWD" >"$__b_dir/cwd" && __b_lpwd=$PWD; fi
}
__b_persist() {
  __b_envw 1<>"$__b_dir/env" || { command mkdir -p "$__b_dir" && __b_envw 1<>"$__b_dir/env"; }
}
__b_scan() {
  for __b_f in /proc/[0-9]*/fd/*; do
    case $__b_f in "/proc/$$/"*|"/proc/$__b_ro/"*|"/proc/$__b_re/"*) continue ;; esac
    [ "$__b_f" -ef /proc/$$/fd/6 ] && return 0
    [ "$__b_f" -ef /proc/$$/fd/8 ] && return 0
  done
  return 1
}
# True when the output FIFOs can carry the next command: the relays (if any) alive and reading
# them, and no other process holding them. Skipped while the set of live pids is the one of the last
# passing check: a relay that died or a new holder changes it (only pid wrap-around could hide
# either), and the stats of /proc/N/fd paths were the costliest syscalls of a command.
__b_ok() {
  __b_nf=; case $- in *f*) __b_nf=1; set +f ;; esac
  set -- /proc/[0-9]*
  if [ "$*" = "$__b_ps" ]; then __b_f=0
  elif __b_live && ! __b_scan; then __b_ps=$*; __b_f=0
  else __b_ps=; __b_f=1
  fi
  [ -z "$__b_nf" ] || set -f
  return $__b_f
}
__b_live() {
  [ -n "$__b_ro" ] || return 1
  [ -n "$__b_direct" ] && return 0
  [ /proc/$__b_ro/fd/0 -ef /proc/$$/fd/6 ] && [ /proc/$__b_re/fd/0 -ef /proc/$$/fd/8 ]
}
__b_retire() {
  # Read ends for the drainers through the shell's own write ends (the very FIFOs, never a path in
  # the agent-writable state dir), opened while fds 6/8 are still open so no open blocks.
  { command exec 5</proc/$$/fd/6; } 2>/dev/null || command exec 5</dev/null
  { command exec 7</proc/$$/fd/8; } 2>/dev/null || command exec 7</dev/null
  exec 6>&- 8>&-
  command cat <&5 >>"$__b_dir/bg.log" 2>&1 5<&- 7<&- &
  __b_d1=$!
  command cat <&7 >>"$__b_dir/bg.log" 2>&1 5<&- 7<&- &
  __b_d2=$!
  if [ -z "$__b_direct" ]; then
    command kill "$__b_ro" "$__b_re" 2>/dev/null || :
    command wait "$__b_ro" "$__b_re" 2>/dev/null || :
  fi
  exec 5<&- 7<&-
  __b_ro=; __b_re=
}
# Direct mode (FIFO transport): no relays. The runner reads the command FIFOs itself, opening them
# through /proc/<shell>/fd/6 and 8 when the shell says M, and answers go on stdin; until then the
# shell holds read ends too (5, 7), so neither its opens block nor an early write fails.
__b_mkd() {
  exec 5<>"$__b_fo" 7<>"$__b_fe"; exec 6>"$__b_fo" 8>"$__b_fe"
  command printf '__berth_%s__M__berth_%s__' "$__b_n" "$__b_n"
  __b_go=; command read -r __b_go || __b_go=
  exec 5<&- 7<&-
  if [ "$__b_go" = go ]; then __b_ro=-; __b_re=-; return 0; fi
  exec 6>&- 8>&-
  return 1
}
__b_mk() {
  [ -n "$__b_ro" ] && __b_retire
  [ -d "$__b_dir" ] || command mkdir -p "$__b_dir" 2>/dev/null
  __b_seq=$((__b_seq+1))
  command rm -f "$__b_dir/o.$$."* "$__b_dir/e.$$."* 2>/dev/null || :
  __b_fo="$__b_dir/o.$$.$__b_seq"; __b_fe="$__b_dir/e.$$.$__b_seq"
  command mkfifo -m 600 "$__b_fo" "$__b_fe" || return 1
  if [ -n "$__b_direct" ]; then __b_mkd; return; fi
  exec 9<>"$__b_fo"; exec 5<"$__b_fo" 6>"$__b_fo"; exec 9>&-
  exec 9<>"$__b_fe"; exec 7<"$__b_fe" 8>"$__b_fe"; exec 9>&-
  command cat <&5 5<&- 6>&- 7<&- 8>&- &
  __b_ro=$!
  command cat <&7 >&2 5<&- 6>&- 7<&- 8>&- &
  __b_re=$!
  # The relays hold the read ends; the shell keeps only the write ends (one redirection less per
  # command to keep them from the command).
  exec 5<&- 7<&-
}
__b_pre() {
  __b_n=$1; __b_d1=; __b_d2=
  if ! __b_ok; then
    if ! __b_mk; then
      __b_ro=; __b_re=
      command printf '__berth_%s__B%s %s 0 0 0__berth_%s__' "$1" "$$" "$__b_sid" "$1"
      command printf '__berth_%s__B__berth_%s__berth: cannot create output pipes in %s\\n' "$1" "$1" "$__b_dir" >&2
      __b_rc=125
      return 125
    fi
  fi
  # The runner passes the start time when it shares this kernel (FIFO transport): the read
  # builtin takes /proc/uptime a byte at a time under busybox, about a third of the syscalls of a
  # command. Over attach (maybe another machine's clock) the shell reads it here.
  if [ -n "\${3-}" ]; then __b_up=$3; else command read -r __b_up __b_x 2>/dev/null </proc/uptime || __b_up=0; fi
  # Direct mode: into the command FIFOs (relay fields are -), ahead of the command's output; the
  # stdout one only (the runner keeps the command's stderr from the moment it reads that one).
  if [ -n "$__b_direct" ]; then __b_begin "$1" >&6
  else __b_begin "$1"; command printf '__berth_%s__B__berth_%s__' "$1" "$1" >&2
  fi
  export __BERTH_JOB="$2"
}
__b_begin() {
  command printf '__berth_%s__B%s %s %s %s %s %s %s__berth_%s__' "$1" "$$" "$__b_sid" "$__b_ro" "$__b_re" "$__b_up" "\${__b_d1:-0}" "\${__b_d2:-0}" "$1"
}
# The end records go through the relays; if one died (EPIPE), straight to the runner instead. Its
# complaint is silenced by a closed stderr, which costs no open of /dev/null. Direct mode: the
# stdout one only (the runner then reads what the stderr FIFO holds: all of the command's stderr).
__b_end() {
  unset __BERTH_JOB
  if [ -n "$__b_ro" ] && { command printf '__berth_%s__%s%s %s__berth_%s__' "$__b_n" "$2" "$1" "$PWD" "$__b_n" >&6 &&
    { [ -n "$__b_direct" ] || command printf '__berth_%s__%s__berth_%s__' "$__b_n" "$2" "$__b_n" >&8; }; } 2>&-; then :
  else
    command printf '__berth_%s__%s%s %s__berth_%s__' "$__b_n" "$2" "$1" "$PWD" "$__b_n"
    command printf '__berth_%s__%s__berth_%s__' "$__b_n" "$2" "$__b_n" >&2
  fi
  # After the end records, so the file write overlaps the runner's turnaround instead of adding to
  # the round trip; the shell reads its next command only after this.
  __b_save || :
  [ -z "$3" ] || __b_persist || :
}
# $2 = P: also write the env to the state dir (the runner asks every PERSIST_MS: shell-persist.ts).
__b_post() {
  __b_end "$1" E "\${2-}"
  __b_n=
}
__b_exit() {
  __b_rc=$?
  trap - EXIT
  if [ -n "$__b_n" ]; then
    # \`exit\` inside the command. Depending on the shell, eval's redirections are still in force
    # (fd 1/2 are the FIFOs, 6/8 closed) or already undone (6/8 open again): either way the record
    # goes through the FIFOs, after the command's output. The runner then retires the relays.
    unset __BERTH_JOB
    __b_save 2>/dev/null
    command printf '__berth_%s__X%s %s__berth_%s__' "$__b_n" "$__b_rc" "$PWD" "$__b_n" 2>/dev/null >&6 ||
      command printf '__berth_%s__X%s %s__berth_%s__' "$__b_n" "$__b_rc" "$PWD" "$__b_n"
    command printf '__berth_%s__X__berth_%s__' "$__b_n" "$__b_n" 2>/dev/null >&8 ||
      command printf '__berth_%s__X__berth_%s__' "$__b_n" "$__b_n" >&2
  elif [ -n "$__b_ro" ]; then
    # stdin closed between commands (runner gone): keep background jobs' FIFOs drained.
    __b_retire
  fi
  __b_persist 2>/dev/null || :
  exit "$__b_rc"
}
trap '__b_exit' EXIT
command printf '__berth_%s__R%s %s %s %s__berth_%s__' ${quoteSh(readyNonce)} "$$" "$__b_sid" "$__b_restored" "\${BASH_VERSION:+bash}" ${quoteSh(readyNonce)}
`;
}

/**
 * The line that runs one command (see the header). `command` must not contain NUL. `uptime`:
 * the host's /proc/uptime seconds read just before (only when the shell shares this kernel), the
 * command's start time for the kill helper; otherwise the shell reads its own. `persist`: write
 * the env to the state dir after the command too.
 */
export function commandLine(nonce: string, tag: string, command: string, uptime?: string, persist = false): string {
  const up = uptime !== undefined && /^\d+\.\d+$/.test(uptime) ? ` ${uptime}` : '';
  return `__b_pre ${nonce} ${tag}${up} && for __b_i in 1; do command eval ${quoteSh(command)} </dev/null >&6 2>&8 6>&- 8>&-; __b_rc=$?; done; __b_post "$__b_rc"${persist ? ' P' : ''}\n`;
}
