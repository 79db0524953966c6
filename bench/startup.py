#!/usr/bin/env python3
"""Startup-latency benchmark: agentbox vs bubblewrap vs no sandbox.

Measures the wall time of a whole command (fork + exec + sandbox set-up +
program + teardown + reap) with time.perf_counter_ns() around
subprocess.run(), for two workloads (/bin/true and `python3 -c pass`) and three
variants each (bare, bwrap, agentbox).  All six variants run in ONE process,
interleaved round-robin, so drift and noise on the machine hit every variant
alike.  See bench/README.md.

Standard library only.  Run as root (or wherever both sandboxes work):

    python3 bench/startup.py            # 200 timed runs per variant
    python3 bench/startup.py --quick    # 30
"""

import argparse
import datetime
import gc
import hashlib
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"          # never the pyenv shim, for every variant
TRUE = "/bin/true"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
             "HOME": os.environ.get("HOME", "/")}
BOOTSTRAP_RESAMPLES = 2000


# --------------------------------------------------------------------------
# command lines

def bwrap_prefix():
    """bwrap argv up to and including `--`.  /usr read-only, and the
    top-level /bin, /lib, /lib64, /sbin mirrored the way this host has them:
    a symlink where the host has a symlink (merged /usr), a read-only bind
    where it has a real directory, nothing where it has nothing."""
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = "/" + name
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--"]
    return argv


def variants(agentbox):
    bw = bwrap_prefix()
    return [
        # (workload, variant, argv)
        ("true", "bare", [TRUE]),
        ("true", "bwrap", bw + [TRUE]),
        ("true", "agentbox", [agentbox, "run", "--", TRUE]),
        ("python", "bare", [PY, "-c", "pass"]),
        ("python", "bwrap", bw + [PY, "-c", "pass"]),
        ("python", "agentbox", [agentbox, "python", "-c", "pass"]),
    ]


# --------------------------------------------------------------------------
# machine description

def capture(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        return r.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_state(path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    head = capture(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = capture(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"])
    if head.startswith("unavailable") or "fatal" in head:
        return None
    return head + ("+dirty" if dirty else "")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def machine_info(agentbox, agentbox_src):
    return {
        "hostname": platform.node(),
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        "os": capture(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "agentbox_version": capture([agentbox, "--version"]),
        "agentbox_path": agentbox_src,
        "agentbox_sha256": sha256(agentbox),
        "agentbox_git": git_state(agentbox_src),
        "bwrap_version": capture(["bwrap", "--version"]),
        "python_workload": capture([PY, "--version"]),
        "python_harness": "%s %s" % (sys.executable, platform.python_version()),
        "loadavg_before": os.getloadavg(),
    }


# --------------------------------------------------------------------------
# statistics

def pct(sorted_ns, p):
    """Percentile by linear interpolation between closest ranks (the
    'inclusive' method, same as numpy's default)."""
    n = len(sorted_ns)
    if n == 1:
        return float(sorted_ns[0])
    k = (n - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, n - 1)
    return sorted_ns[lo] + (sorted_ns[hi] - sorted_ns[lo]) * (k - lo)


def summary(samples_ns):
    s = sorted(samples_ns)
    ms = lambda v: v / 1e6
    return {
        "n": len(s),
        "median_ms": ms(pct(s, 50)),
        "p90_ms": ms(pct(s, 90)),
        "p99_ms": ms(pct(s, 99)),
        "min_ms": ms(s[0]),
        "max_ms": ms(s[-1]),
        "mean_ms": ms(statistics.fmean(s)),
        "stdev_ms": ms(statistics.stdev(s)) if len(s) > 1 else 0.0,
    }


def ratios(bare, bw, ab):
    """Key figures from three per-round-aligned sample lists (ns).
    Returns the point estimates on the medians and a paired bootstrap
    95% interval for the overhead ratio, resampling whole rounds so the
    interleaving is kept."""
    med = lambda xs: statistics.median(xs)
    mb, mw, ma = med(bare), med(bw), med(ab)
    out = {
        "bwrap_overhead_ms": (mw - mb) / 1e6,
        "agentbox_overhead_ms": (ma - mb) / 1e6,
        "overhead_ratio": (ma - mb) / (mw - mb) if mw != mb else None,
        "plain_ratio": ma / mw if mw else None,
        "overhead_ratio_ci95": None,
    }
    n = min(len(bare), len(bw), len(ab))
    if n >= 10 and out["overhead_ratio"] is not None:
        rng = random.Random(12345)
        boot = []
        for _ in range(BOOTSTRAP_RESAMPLES):
            idx = [rng.randrange(n) for _ in range(n)]
            b = med([bare[i] for i in idx])
            w = med([bw[i] for i in idx])
            a = med([ab[i] for i in idx])
            if w != b:
                boot.append((a - b) / (w - b))
        boot.sort()
        if boot:
            out["overhead_ratio_ci95"] = [pct(boot, 2.5), pct(boot, 97.5)]
    return out


# --------------------------------------------------------------------------
# running

def check(label, argv, env):
    """One untimed run with output captured, so a broken variant fails
    loudly here instead of being timed as a fast failure."""
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    if r.returncode != 0:
        sys.stderr.write("startup.py: variant %s failed (exit %d): %s\n%s%s"
                         % (label, r.returncode, shlex.join(argv),
                            r.stdout.decode(errors="replace"),
                            r.stderr.decode(errors="replace")))
        sys.exit(2)


def timed(argv, env):
    t0 = time.perf_counter_ns()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
    t1 = time.perf_counter_ns()
    return t1 - t0, r.returncode


def run_all(vs, runs, warmup, env, progress, gap=0.0):
    """Round-robin: each round runs every variant once.  The starting
    variant rotates from round to round so no variant always follows the
    same neighbour (e.g. always runs right after a python start)."""
    k = len(vs)
    samples = [[] for _ in vs]          # per variant, index = round
    failures = [0] * k
    total = warmup + runs
    gc.collect()
    gc.disable()
    try:
        for rnd in range(total):
            for j in range(k):
                i = (rnd + j) % k
                if gap:
                    time.sleep(gap)
                ns, rc = timed(vs[i][2], env)
                if rnd < warmup:
                    continue
                if rc != 0:
                    failures[i] += 1
                    ns = None
                samples[i].append(ns)
            if progress and (rnd + 1) % 10 == 0:
                sys.stderr.write("\r  round %d/%d (%d warm-up)" % (rnd + 1, total, warmup))
                sys.stderr.flush()
    finally:
        gc.enable()
        if progress:
            sys.stderr.write("\n")
    return samples, failures


# --------------------------------------------------------------------------
# output

def fmt(v, nd=2):
    return "n/a" if v is None else "%.*f" % (nd, v)


def markdown(meta, results, keys):
    L = []
    m = meta["machine"]
    L.append("Command: `%s`" % meta["command_line"])
    L.append("")
    L.append("Machine: %s, nproc %s, kernel %s, %s" % (m["cpu"], m["nproc"], m["kernel"], m["os"]))
    L.append("")
    L.append("Versions: `%s` (binary sha256 %s; source tree %s when run), %s, workload %s"
             % (m["agentbox_version"], m["agentbox_sha256"][:12], m["agentbox_git"] or "unknown",
                m["bwrap_version"], m["python_workload"]))
    L.append("")
    L.append("%d timed runs per variant after %d warm-up rounds, interleaved round-robin%s; "
             "%s; load average %.2f before, %.2f after"
             % (meta["runs"], meta["warmup"],
                ", %g s pause before each run" % meta["gap_s"] if meta["gap_s"] else "",
                meta["date"], m["loadavg_before"][0], m["loadavg_after"][0]))
    L.append("")
    L.append("| workload | variant | median ms | p90 ms | p99 ms | overhead vs bare ms (median) |")
    L.append("|---|---|--:|--:|--:|--:|")
    for wl, var, _ in keys:
        s = results[wl][var]
        ov = s["median_ms"] - results[wl]["bare"]["median_ms"]
        L.append("| %s | %s | %s | %s | %s | %s |"
                 % ("`/bin/true`" if wl == "true" else "`python3 -c pass`", var,
                    fmt(s["median_ms"]), fmt(s["p90_ms"]), fmt(s["p99_ms"]),
                    "—" if var == "bare" else "%+.2f" % ov))
    L.append("")
    L.append("| workload | agentbox/bwrap overhead ratio | 95% CI (bootstrap) | agentbox/bwrap plain ratio |")
    L.append("|---|--:|--:|--:|")
    for wl in ("true", "python"):
        r = meta["ratios"][wl]
        ci = r["overhead_ratio_ci95"]
        L.append("| %s | **%s** | %s | %s |"
                 % ("`/bin/true`" if wl == "true" else "`python3 -c pass`",
                    fmt(r["overhead_ratio"]),
                    "%.2f – %.2f" % tuple(ci) if ci else "n/a",
                    fmt(r["plain_ratio"])))
    L.append("")
    L.append("overhead = median(variant) − median(bare); overhead ratio = "
             "(agentbox − bare) / (bwrap − bare); plain ratio = agentbox / bwrap (medians).")
    if any(meta["failures"].values()):
        L.append("")
        L.append("**Failed runs (excluded):** " + ", ".join(
            "%s=%d" % (k, v) for k, v in meta["failures"].items() if v))
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(
        description="Startup latency of agentbox vs bwrap vs bare, interleaved.")
    ap.add_argument("--runs", type=int, default=200, help="timed runs per variant (default 200)")
    ap.add_argument("--quick", action="store_true", help="30 timed runs per variant")
    ap.add_argument("--warmup", type=int, default=10, help="discarded warm-up rounds (default 10)")
    ap.add_argument("--gap", type=float, default=0.0, metavar="SECONDS",
                    help="untimed pause before every run (default 0); e.g. 0.1 to time "
                         "each call as an isolated one, see README")
    ap.add_argument("--agentbox", default=os.path.join(HERE, "..", "build", "agentbox"),
                    help="agentbox binary (default ../build/agentbox next to this script)")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="run the binary in place instead of a private copy "
                         "(the copy protects against a rebuild during the run)")
    ap.add_argument("--inherit-env", action="store_true",
                    help="pass this process's environment instead of a fixed minimal one")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                    help="where the JSON goes (default bench/results)")
    ap.add_argument("--no-json", action="store_true", help="do not write the JSON file")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    a = ap.parse_args()
    runs = 30 if a.quick else a.runs
    if runs < 1 or a.warmup < 0 or a.gap < 0:
        ap.error("--runs must be >= 1, --warmup and --gap >= 0")

    src = os.path.abspath(a.agentbox)
    if not os.access(src, os.X_OK):
        ap.error("agentbox binary not found or not executable: %s (build it, or pass --agentbox)" % src)
    for tool in ("bwrap", PY):
        if not shutil.which(tool):
            ap.error("%s not found" % tool)

    tmpdir = None
    agentbox = src
    if not a.no_snapshot:
        # Another engineer may relink build/agentbox mid-run; time a frozen copy.
        tmpdir = tempfile.mkdtemp(prefix="agentbox-bench-")
        agentbox = os.path.join(tmpdir, "agentbox")
        shutil.copy2(src, agentbox)
        os.chmod(agentbox, 0o755)

    try:
        env = None if a.inherit_env else dict(CLEAN_ENV)
        vs = variants(agentbox)
        cmdline = shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv))
        machine = machine_info(agentbox, src)
        if not a.quiet:
            sys.stderr.write("checking variants...\n")
        for wl, var, argv in vs:
            check("%s/%s" % (wl, var), argv, env)
        if not a.quiet:
            sys.stderr.write("timing %d variants x (%d warm-up + %d runs), interleaved\n"
                             % (len(vs), a.warmup, runs))
        started = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        samples, failures = run_all(vs, runs, a.warmup, env, not a.quiet, a.gap)
        elapsed = time.monotonic() - t0
        machine["loadavg_after"] = os.getloadavg()

        results, raw, fail = {}, {}, {}
        aligned = {}
        for (wl, var, argv), ss, nf in zip(vs, samples, failures):
            ok = [x for x in ss if x is not None]
            if not ok:
                sys.stderr.write("startup.py: every run of %s/%s failed\n" % (wl, var))
                sys.exit(2)
            results.setdefault(wl, {})[var] = summary(ok)
            raw.setdefault(wl, {})[var] = ss
            fail["%s/%s" % (wl, var)] = nf
        # Ratios on rounds where all three variants of the workload succeeded,
        # so the bootstrap can resample whole rounds.
        rat = {}
        for wl in ("true", "python"):
            trip = [t for t in zip(raw[wl]["bare"], raw[wl]["bwrap"], raw[wl]["agentbox"])
                    if None not in t]
            rat[wl] = ratios([t[0] for t in trip], [t[1] for t in trip], [t[2] for t in trip])

        meta = {
            "command_line": cmdline,
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "runs": runs,
            "warmup": a.warmup,
            "gap_s": a.gap,
            "elapsed_s": round(elapsed, 2),
            "env": "inherited" if a.inherit_env else CLEAN_ENV,
            "snapshot": not a.no_snapshot,
            "machine": machine,
            "commands": {"%s/%s" % (wl, var): (argv if not tmpdir else
                                               [src if x == agentbox else x for x in argv])
                         for wl, var, argv in vs},
            "failures": fail,
            "ratios": rat,
        }
        md = markdown(meta, results, vs)

        print(md)
        print()
        print("Variant commands:")
        print()
        for k, argv in meta["commands"].items():
            print("- %s: `%s`" % (k, shlex.join(argv)))

        if not a.no_json:
            os.makedirs(a.results_dir, exist_ok=True)
            path = os.path.join(a.results_dir,
                                "startup-%s.json" % started.strftime("%Y%m%dT%H%M%SZ"))
            doc = dict(meta, results=results, samples_ns=raw, markdown=md)
            with open(path, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
            if not a.quiet:
                sys.stderr.write("wrote %s (%.0f s)\n" % (os.path.relpath(path), elapsed))
        return 1 if any(fail.values()) else 0
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
