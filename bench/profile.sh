#!/usr/bin/env bash
# Where does agentbox's startup time go?  For developers optimising startup.
#
#   bench/profile.sh [--agentbox PATH] [--runs N] [--gap SECONDS]
#                    [--workload true|python] [--out DIR] [--top N]
#
# 1. strace -f -c over N runs (default 50): syscall counts and time, both
#    kernel time (-c) and wall-clock time (-c -w), summed over the runs.
# 2. perf stat over N runs (skipped if perf is missing or cannot count):
#    untraced wall time, task-clock, context switches, page faults; once
#    back-to-back and once with a pause before every run.
# 3. strace -f -tt -T -y of ONE run, and the slowest syscalls in it (with the
#    file each fd refers to), once including and once excluding calls that
#    just wait for another process (wait4, poll, pipe reads, ...).
#
# Runs are separated by --gap seconds (default 0.1) so each one starts the
# way a real, isolated invocation does: some kernel costs (notably the RCU
# grace period behind a cgroup v1 cgroup.procs write) are paid only when no
# other run happened a few ms earlier; back-to-back loops hide them.
#
# Output goes to --out (default bench/results/profile-<timestamp>/, gitignored).
# strace slows every syscall down; trust its proportions and outliers, and the
# perf stat numbers for absolute time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
agentbox="$here/../build/agentbox"
runs=50
gap=0.1
workload=true
top=15
out=""
py=/usr/bin/python3

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
        case "$1" in
        --agentbox) agentbox=$2; shift 2 ;;
        --runs)     runs=$2; shift 2 ;;
        --gap)      gap=$2; shift 2 ;;
        --workload) workload=$2; shift 2 ;;
        --out)      out=$2; shift 2 ;;
        --top)      top=$2; shift 2 ;;
        -h|--help)  usage 0 ;;
        *)          echo "profile.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
        esac
done

[ -x "$agentbox" ] || { echo "profile.sh: no executable agentbox at $agentbox" >&2; exit 2; }
command -v strace >/dev/null || { echo "profile.sh: strace is required (apt-get install strace)" >&2; exit 2; }
[ -x "$py" ] || { echo "profile.sh: $py is required" >&2; exit 2; }
[ -n "$out" ] || out="$here/results/profile-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/raw"

# Profile a private copy: build/agentbox may be relinked while we run.
snap=$(mktemp -d /tmp/agentbox-profile.XXXXXX)
trap 'rm -rf "$snap"' EXIT
cp "$agentbox" "$snap/agentbox"
chmod 755 "$snap/agentbox"
ab="$snap/agentbox"

case "$workload" in
true)   cmd=("$ab" run -- /bin/true) ;;
python) cmd=("$ab" python -c pass) ;;
*)      echo "profile.sh: --workload is true or python" >&2; exit 2 ;;
esac
shown=("$(cd "$(dirname "$agentbox")" && pwd)/$(basename "$agentbox")" "${cmd[@]:1}")

if ! "${cmd[@]}" >/dev/null 2>"$out/raw/check.err"; then
        echo "profile.sh: '${shown[*]}' fails:" >&2
        cat "$out/raw/check.err" >&2
        exit 2
fi

echo "# agentbox startup profile"
echo
echo "command:  ${shown[*]}   ($runs runs, ${gap}s apart)"
repo=$(cd "$(dirname "$agentbox")/.." && pwd)
tree=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] || tree="$tree+dirty"
echo "binary:   $("$ab" --version 2>&1), sha256 $(sha256sum "$ab" | cut -c1-12), source tree $tree when run"
echo "machine:  nproc $(nproc), kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "output:   $out"
echo

# --------------------------------------------------------------------------
echo "## 1. strace -f -c, summed over $runs runs"
echo
for i in $(seq 1 "$runs"); do
        sleep "$gap"
        strace -f -c -o "$out/raw/c-sys.$i" -- "${cmd[@]}" >/dev/null 2>&1 || true
        sleep "$gap"
        strace -f -c -w -o "$out/raw/c-wall.$i" -- "${cmd[@]}" >/dev/null 2>&1 || true
done

# Sum strace -c tables from several runs into one, sorted by time.
sum_tables() {
        "$py" - "$@" <<'EOF'
import sys
tot = {}
nfiles = 0
for path in sys.argv[2:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    nfiles += 1
    dashes = 0
    for line in lines:
        if line.startswith("------"):
            dashes += 1
            continue
        if dashes != 1:
            continue
        f = line.split()
        if len(f) not in (5, 6):
            continue
        name = f[-1]
        secs, calls = float(f[1]), int(f[3])
        errs = int(f[4]) if len(f) == 6 else 0
        t = tot.setdefault(name, [0.0, 0, 0])
        t[0] += secs; t[1] += calls; t[2] += errs
grand = sum(v[0] for v in tot.values()) or 1.0
rows = sorted(tot.items(), key=lambda kv: -kv[1][0])
print("%s (%d runs)" % (sys.argv[1], nfiles))
print("%7s %12s %12s %10s %8s  %s" % ("% time", "total ms", "ms per run", "calls/run", "errors", "syscall"))
for name, (s, c, e) in rows[:25]:
    print("%7.2f %12.3f %12.4f %10.1f %8d  %s" % (100 * s / grand, s * 1e3, s * 1e3 / max(nfiles, 1),
                                                 c / max(nfiles, 1), e, name))
if len(rows) > 25:
    print("   ... %d more syscalls" % (len(rows) - 25))
print("%7.2f %12.3f %12.4f %10.1f %8d  %s" % (100.0, grand * 1e3, grand * 1e3 / max(nfiles, 1),
                                              sum(v[1] for v in tot.values()) / max(nfiles, 1),
                                              sum(v[2] for v in tot.values()), "total"))
EOF
}
sum_tables "kernel (system) time per syscall, strace -f -c" "$out"/raw/c-sys.* | tee "$out/strace-c-sys.txt"
echo
sum_tables "wall-clock time per syscall (includes blocking), strace -f -c -w" "$out"/raw/c-wall.* | tee "$out/strace-c-wall.txt"
echo

# --------------------------------------------------------------------------
echo "## 2. perf stat, $runs runs (untraced)"
echo
if ! command -v perf >/dev/null; then
        echo "perf not installed; skipped (apt-get install linux-perf)"
elif ! perf stat -e task-clock -- true >/dev/null 2>&1; then
        echo "perf cannot count here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')); skipped"
else
        # perf stat's -r caps at 100.
        r=$runs; [ "$r" -le 100 ] || r=100
        echo "### back-to-back"
        perf stat -r "$r" -o "$out/perf-stat-back-to-back.txt" -- "${cmd[@]}" >/dev/null 2>&1 || true
        grep -vE '^\s*$|^#|not supported|not counted' "$out/perf-stat-back-to-back.txt" || true
        echo
        echo "### ${gap}s pause before each run (--pre, not counted)"
        perf stat -r "$r" --pre "sleep $gap" -o "$out/perf-stat-gap.txt" -- "${cmd[@]}" >/dev/null 2>&1 || true
        grep -vE '^\s*$|^#|not supported|not counted' "$out/perf-stat-gap.txt" || true
fi
echo

# --------------------------------------------------------------------------
echo "## 3. one run under strace -f -tt -T -y: the $top slowest syscalls"
echo
sleep "$gap"
strace -f -tt -T -y -s 64 -o "$out/strace-single.txt" -- "${cmd[@]}" >/dev/null 2>&1 || true
"$py" - "$out/strace-single.txt" "$top" <<'EOF'
import re, sys, datetime
path, top = sys.argv[1], int(sys.argv[2])
line_re = re.compile(r"^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(.*)$")
dur_re = re.compile(r"<(\d+\.\d+)>\s*$")
call_re = re.compile(r"^([a-z_0-9]+)\(")
resumed_re = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")
# Calls whose duration is mostly waiting for another process, not work.
WAITS = {"wait4", "waitid", "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_pwait2",
         "select", "pselect6", "nanosleep", "clock_nanosleep", "futex", "rt_sigsuspend",
         "rt_sigtimedwait", "pause", "pidfd_send_signal"}

def ts(s):
    t = datetime.datetime.strptime(s, "%H:%M:%S.%f")
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6

pending = {}          # pid -> (start time, text before <unfinished ...>)
calls = []            # (duration s, pid, start, name, text)
first = last = None
for raw in open(path, errors="replace"):
    m = line_re.match(raw.rstrip("\n"))
    if not m:
        continue
    pid, t, rest = m.group(1), m.group(2), m.group(3)
    first = first or t
    last = t
    if rest.endswith("<unfinished ...>"):
        pending[pid] = (t, rest[: -len("<unfinished ...>")].rstrip())
        continue
    d = dur_re.search(rest)
    if not d:
        continue
    r = resumed_re.match(rest)
    if r:
        start, head = pending.pop(pid, (t, r.group(1) + "("))
        text = head + r.group(2)
        name = r.group(1)
    else:
        c = call_re.match(rest)
        if not c:
            continue
        start, text, name = t, rest, c.group(1)
    text = dur_re.sub("", text).rstrip()
    calls.append((float(d.group(1)), pid, start, name, text))

def is_wait(c):
    name, text = c[3], c[4]
    if name in WAITS:
        return True
    # read/write on a pipe or socket is a hand-off between processes
    return name in ("read", "write", "recvmsg", "sendmsg") and re.match(r"^[a-z]+\(\d+<(pipe|socket):", text)

def show(title, rows):
    print(title)
    print("%9s  %7s  %-15s  %s" % ("ms", "pid", "start", "call"))
    for d, pid, start, name, text in rows[:top]:
        if len(text) > 150:
            text = text[:147] + "..."
        print("%9.3f  %7s  %-15s  %s" % (d * 1e3, pid, start, text))
    print()

calls.sort(key=lambda c: -c[0])
if first:
    print("trace spans %.1f ms (strace slows syscalls, so this is longer than an untraced run), %d syscalls, %d processes"
          % ((ts(last) - ts(first)) * 1e3, len(calls), len({c[1] for c in calls})))
    print()
show("### all syscalls", calls)
show("### excluding waits for another process (wait4, poll, futex, pipe/socket read/write, ...)",
     [c for c in calls if not is_wait(c)])
EOF
echo "full trace: $out/strace-single.txt"
