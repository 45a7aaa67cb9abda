"""What bench/measure.py and bench/docs.py share: logging, the invalid-measurement error, wrk
runs read through bench/report.lua, and the resident memory of processes under test.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

MIB = 1024 * 1024


class Invalid(Exception):
    """A measurement whose responses were wrong, so its figure would mean nothing."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


WRK_ERRORS = ("connect_errors", "read_errors", "write_errors", "status_errors")


def wrk_run(url, connections, duration, script, timeout="60s", headers=()):
    """A wrk run of `connections` connections; its summary as bench/report.lua prints it."""
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout}", "-s", script]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if not m:
        raise Invalid(f"no WRK_JSON line in wrk output:\n{out}")
    return json.loads(m.group(1))


def wrk(url, connections, duration, script, timeout="60s", headers=()):
    """wrk_run, checked free of errors and with responses."""
    res = wrk_run(url, connections, duration, script, timeout, headers)
    if sum(res[k] for k in WRK_ERRORS) or res["requests"] == 0:
        raise Invalid(f"wrk {url}: {res}")
    return res


def cpu_seconds(pid):
    """User and system CPU time of pid so far, in seconds (None once the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid, limit=300.0, window=1.0, busy=0.05):
    """Waits until pid has used less than `busy` of a core for two windows in a row (work that
    clients gave up on, still running, would weigh on the next measurement); at most `limit`
    seconds. Returns the seconds waited."""
    start = time.monotonic()
    quiet = 0
    last = cpu_seconds(pid)
    while last is not None and quiet < 2 and time.monotonic() - start < limit:
        time.sleep(window)
        now = cpu_seconds(pid)
        if now is None:
            break
        quiet = quiet + 1 if now - last < busy * window else 0
        last = now
    return time.monotonic() - start


def proc_status(pid, field):
    """A kB field of /proc/PID/status, in bytes (0 once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def process_tree(pid):
    """pid and its children (nginx: the master and its workers)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            if ppid == pid:
                pids.append(int(entry))
    return pids


def peak_rss_during(pids, action):
    """Runs action() and returns the summed peak RSS of pids meanwhile.

    The kernel's high-water mark (VmHWM) is reset first (clear_refs 5) so earlier phases do not
    count; VmRSS is polled as well in case the reset is not permitted.
    """
    hwm_reset = True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            hwm_reset = False
    polled = {pid: 0 for pid in pids}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            for pid in pids:
                polled[pid] = max(polled[pid], proc_status(pid, "VmRSS"))
            stop.wait(0.02)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        result = action()
    finally:
        stop.set()
        t.join()
    total = 0
    for pid in pids:
        peak = polled[pid]
        if hwm_reset:
            peak = max(peak, proc_status(pid, "VmHWM"))
        total += peak
    return total, result
