#!/usr/bin/env python3
"""Times stowaway (full audit, floor, single rule) and its peers on the images
written by gen.py, with GNU time (`/usr/bin/time -v`): wall time, user+sys CPU,
peak RSS. Each measurement runs --reps times; the median is reported.

Called by bench/run.sh; usable alone:

  measure.py --images DIR --bin target/release/stowaway --out results.json
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

MODES = ("audit", "floor", "single")
FORMS = ("docker", "docker-gz", "oci-gzip", "oci-zstd")
IMAGES = ("go-single-stage", "mixed-1g", "one-huge-layer")
SINGLE_RULE = "pem-private-key"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def parse_time_v(text):
    def grab(pat, conv=float):
        m = re.search(pat, text)
        return conv(m.group(1)) if m else None

    wall = None
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", text)
    if m:
        wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return {"wall": wall, "user": grab(r"User time \(seconds\): ([\d.]+)"),
            "sys": grab(r"System time \(seconds\): ([\d.]+)"),
            "maxrss_kb": grab(r"Maximum resident set size \(kbytes\): (\d+)", int)}


def cpu_busy():
    """Machine-wide busy CPU seconds so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - v[3] - v[4]) / hz


QUIET = {"max_wait": 60.0, "threshold": 0.15}
NICE = []  # e.g. ["nice", "-n", "-10"]: see --nice


def wait_quiet():
    """Wait (up to QUIET["max_wait"] s) until other processes use < threshold of a core.
    The machine may be shared (a developer's cargo test); returns seconds waited."""
    t0 = time.monotonic()
    while True:
        b0 = cpu_busy()
        time.sleep(0.5)
        if cpu_busy() - b0 < QUIET["threshold"] / 2 or time.monotonic() - t0 > QUIET["max_wait"]:
            return round(time.monotonic() - t0, 1)


def timed(cmd, stdout_path, work, timeout, env=None):
    """Run cmd under /usr/bin/time -v. Returns a dict of measures + rc, and
    `foreign_cpu`: CPU seconds other processes used during the run."""
    tfile = os.path.join(work, "time.txt")
    full = ["/usr/bin/time", "-v", "-o", tfile] + cmd
    if NICE:
        # With autogroup scheduling (sched_autogroup_enabled=1, the default)
        # `nice` only orders processes inside one session; across sessions CPU is
        # shared per session. So the run gets a session of its own and that
        # session's autogroup gets the nice value; nice -n is kept for kernels
        # without autogroups.
        full = ["sh", "-c", 'echo "$0" > /proc/self/autogroup 2>/dev/null; exec "$@"', NICE[2]] + \
            ["/usr/bin/time", "-v", "-o", tfile] + NICE + cmd
    os.sync()  # flush other writers' dirty pages now, not during the run
    waited = wait_quiet()
    b0 = cpu_busy()
    t0 = time.monotonic()
    with open(stdout_path, "wb") as out, open(os.path.join(work, "stderr.txt"), "wb") as err:
        try:
            p = subprocess.run(full, stdout=out, stderr=err, timeout=timeout, env=env,
                               start_new_session=bool(NICE))
            rc = p.returncode
        except subprocess.TimeoutExpired:
            return {"rc": None, "timeout": True, "wall": time.monotonic() - t0}
    with open(tfile) as f:
        text = f.read()
    m = parse_time_v(text)
    m["rc"] = rc
    m["waited_s"] = waited
    if m["user"] is not None:
        m["foreign_cpu"] = round(max(0.0, cpu_busy() - b0 - m["user"] - m["sys"]), 2)
    if m["wall"] is None:
        m["wall"] = time.monotonic() - t0
    return m


def warm(path):
    """Read every file of an image once so all runs see the page cache warm."""
    paths = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for p in paths:
        with open(p, "rb") as f:
            while f.read(8 << 20):
                pass


def summarize(runs, mb):
    ok = [r for r in runs if not r.get("timeout")]
    if not ok:
        return {"timeout": True, "runs": runs}
    wall = statistics.median(r["wall"] for r in ok)
    cpu = statistics.median(r["user"] + r["sys"] for r in ok)
    rss = statistics.median(r["maxrss_kb"] for r in ok)
    foreign = max(r.get("foreign_cpu", 0) for r in ok)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "cores": round(cpu / wall, 2) if wall else None,
            "peak_rss_mb": round(rss / 1024, 1), "max_peak_rss_mb": round(max(r["maxrss_kb"] for r in ok) / 1024, 1),
            "mb_per_s": round(mb / wall, 1) if wall else None,
            "max_foreign_cpu_s": foreign, "rc": sorted({r["rc"] for r in ok}), "runs": runs}


def stowaway_cmd(binary, mode, img):
    cmd = [binary, "audit", img, "--format", "json", "--no-progress"]
    if mode == "floor":
        cmd.append("--bench-floor")
    elif mode == "single":
        cmd += ["--only-rule", SINGLE_RULE]
    return cmd


def check_planted(report_path, planted):
    with open(report_path) as f:
        rep = json.load(f)
    findings = [f for im in rep.get("images", []) for f in im.get("findings", [])]
    out = []
    for p in planted:
        hit = [f for f in findings if f.get("rule") == p["rule"] and f.get("path") == p["path"]]
        state_ok = any(f.get("state") == p.get("state") for f in hit) if p.get("state") else bool(hit)
        out.append({"rule": p["rule"], "path": p["path"], "found": bool(hit), "state_ok": state_ok,
                    "states": sorted({str(f.get("state")) for f in hit})})
    return out, len(findings)


def peer_findings(name, path, planted):
    """Count a peer's findings and which planted paths it reported (any rule)."""
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    paths = []
    if name == "trivy":
        for r in d.get("Results", []) or []:
            for s in r.get("Secrets", []) or []:
                paths.append("/" + r.get("Target", "").lstrip("/"))
    else:  # kingfisher
        for f in d.get("findings", []) or []:
            loc = json.dumps(f)
            paths.append(loc)
    return {"findings": len(paths),
            "planted_paths_reported": sorted({p["path"] for p in planted if any(p["path"] in x for x in paths)})}


def peer_cmd(name, img, outfile, scratch):
    if name == "trivy":
        return ["trivy", "image", "--input", img, "--scanners", "secret", "--image-config-scanners", "secret",
                "--offline-scan", "--skip-db-update", "--format", "json", "--output", outfile,
                "--cache-dir", os.path.join(scratch, "trivy-cache"), "--disable-telemetry",
                "--skip-version-check", "--no-progress", "--timeout", "60m"]
    # --no-limits: by default kingfisher skips inputs over 256 MB (--max-file-size),
    # which rejects the whole archive ("did not contain Docker image layers").
    return ["kingfisher", "scan", "docker", "--archive", img, "--no-validate", "--no-update-check",
            "--no-limits", "--format", "json", "--output", outfile, "--quiet"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True, help="gen.py output directory")
    ap.add_argument("--bin", required=True, help="stowaway binary")
    ap.add_argument("--out", required=True, help="results.json path")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--peer-reps", type=int, default=3)
    ap.add_argument("--image", action="append", choices=IMAGES)
    ap.add_argument("--form", action="append", choices=FORMS)
    ap.add_argument("--mode", action="append", choices=MODES)
    ap.add_argument("--peer", action="append", choices=("trivy", "kingfisher"),
                    help="peers to run (on the docker.tar form); default: those on PATH")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800, help="per-run timeout, seconds")
    ap.add_argument("--notes", default="{}", help="JSON object of machine notes to store")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each run wait up to this many seconds for the machine to be idle")
    ap.add_argument("--nice", type=int, default=0,
                    help="run every measured command at nice N, in a session (autogroup) of its own with nice N "
                         "(negative: needs root); on a shared machine -10 gives the measured run ~90%% of a "
                         "contested core")
    a = ap.parse_args()
    QUIET["max_wait"] = a.quiet_wait
    if a.nice:
        NICE[:] = ["nice", "-n", str(a.nice)]

    images = a.image or list(IMAGES)
    forms = a.form or list(FORMS)
    modes = a.mode or list(MODES)
    if a.no_peers:
        peers = []
    else:
        peers = a.peer or [p for p in ("trivy", "kingfisher") if shutil.which(p)]
    # Reports and time files go to tmpfs when there is one: a small write to a
    # disk busy with writeback can stall for seconds and would count as wall time.
    disk_scratch = os.path.join(os.path.dirname(os.path.abspath(a.out)), "scratch")
    scratch = "/dev/shm/stowaway-bench-%d" % os.getpid() if os.path.isdir("/dev/shm") else disk_scratch
    for d in {scratch, disk_scratch}:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    t_start = time.monotonic()
    results = {"notes": json.loads(a.notes), "nice": a.nice, "quiet_wait_s": a.quiet_wait, "reps": a.reps, "peer_reps": a.peer_reps, "single_rule": SINGLE_RULE,
               "images": {}}
    failures = []

    # kingfisher compiles its Vectorscan rule database once and caches it:
    # build the cache before timing (a steady-state CI run has it).
    # Peers' temporary files (kingfisher extracts the archive) go to disk, as by default.
    kf_env = dict(os.environ, KF_RULE_CACHE_DIR=os.path.join(disk_scratch, "kf-rule-cache"),
                  TMPDIR=os.path.join(disk_scratch, "tmp"))
    os.makedirs(kf_env["TMPDIR"], exist_ok=True)
    peer_env = {"trivy": dict(os.environ, TMPDIR=kf_env["TMPDIR"]), "kingfisher": kf_env}

    for name in images:
        with open(os.path.join(a.images, name, "meta.json")) as f:
            meta = json.load(f)
        mb = meta["uncompressed_bytes"] / 1e6
        ires = {"uncompressed_mb": round(mb, 1), "gzip_mb": round(meta["gzip_bytes"] / 1e6, 1),
                "zstd_mb": round(meta["zstd_bytes"] / 1e6, 1), "layers": len(meta["layers"]), "files": meta["files"],
                "scale": meta["scale"], "forms": {}, "peers": {}}
        results["images"][name] = ires
        for form in forms:
            img = os.path.join(a.images, name, meta["forms"][form])
            warm(img)
            fres = {}
            # The modes take turns within each repetition, so a machine that
            # slows down for a while (a neighbour, steal time) skews all of
            # them alike rather than one mode's whole median.
            runs = {mode: [] for mode in modes}
            outs = {mode: os.path.join(scratch, "%s.%s.%s.json" % (name, form, mode)) for mode in modes}
            failed = set()
            for rep in range(a.reps):
                for mode in modes:
                    if mode in failed:
                        continue
                    m = timed(stowaway_cmd(a.bin, mode, img), outs[mode], scratch, a.timeout)
                    runs[mode].append(m)
                    ok_rc = (0,) if mode == "floor" else (0, 1)
                    if m.get("rc") not in ok_rc:
                        with open(os.path.join(scratch, "stderr.txt"), errors="replace") as f:
                            err = f.read()[-2000:]
                        failures.append("%s %s %s: exit %s: %s" % (name, form, mode, m.get("rc"), err.strip()))
                        log("FAIL", failures[-1])
                        failed.add(mode)
            for mode in modes:
                outp = outs[mode]
                s = summarize(runs[mode], mb)
                if mode == "audit" and os.path.exists(outp) and meta.get("planted"):
                    s["planted"], s["findings"] = check_planted(outp, meta["planted"])
                    for p in s["planted"]:
                        if not (p["found"] and p["state_ok"]):
                            failures.append("%s %s: planted %s at %s not reported (states %s)" % (
                                name, form, p["rule"], p["path"], p["states"]))
                            log("FAIL", failures[-1])
                elif mode == "audit" and os.path.exists(outp):
                    try:
                        _, s["findings"] = check_planted(outp, [])
                    except ValueError:
                        pass
                fres[mode] = s
                log("%-16s %-10s %-7s wall %7.2fs cpu %7.2fs cores %4.2f rss %7.1f MB %7.1f MB/s other %.1fs" % (
                    name, form, mode, s.get("wall_s", float("nan")), s.get("cpu_s", float("nan")),
                    s.get("cores") or 0, s.get("peak_rss_mb", float("nan")), s.get("mb_per_s") or 0,
                    s.get("max_foreign_cpu_s", 0)))
            ires["forms"][form] = fres
        img = os.path.join(a.images, name, meta["forms"]["docker"])
        for peer in peers:
            if not shutil.which(peer):
                ires["peers"][peer] = {"skipped": "not installed"}
                continue
            outp = os.path.join(scratch, "%s.%s.json" % (name, peer))
            if peer == "kingfisher" and not os.path.isdir(kf_env["KF_RULE_CACHE_DIR"]):
                small = os.path.join(scratch, "warmup.txt")
                with open(small, "w") as f:
                    f.write("nothing to see\n")
                subprocess.run(["kingfisher", "scan", small, "--no-validate", "--no-update-check", "--quiet",
                                "--format", "json", "--output", os.devnull], env=kf_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs = []
            for rep in range(a.peer_reps):
                shutil.rmtree(os.path.join(scratch, "trivy-cache"), ignore_errors=True)  # no layer cache hits
                m = timed(peer_cmd(peer, img, outp, scratch), os.devnull, scratch, a.timeout, env=peer_env[peer])
                runs.append(m)
                if m.get("timeout"):
                    break
            s = summarize(runs, mb)
            s["cmd"] = " ".join(peer_cmd(peer, "IMG", "OUT", "SCRATCH"))
            s["report"] = peer_findings(peer, outp, meta.get("planted", []))
            ires["peers"][peer] = s
            log("%-16s %-10s %-10s wall %7.2fs cpu %7.2fs cores %4.2f rss %7.1f MB rc %s" % (
                name, "docker", peer, s.get("wall_s", float("nan")), s.get("cpu_s", float("nan")),
                s.get("cores") or 0, s.get("peak_rss_mb", float("nan")), s.get("rc")))
        # ratios
        rat = {}
        for form, fres in ires["forms"].items():
            r = {}
            if "audit" in fres and "floor" in fres and fres["floor"].get("wall_s"):
                r["audit_over_floor"] = round(fres["audit"]["wall_s"] / fres["floor"]["wall_s"], 2)
                r["audit_over_floor_cpu"] = round(fres["audit"]["cpu_s"] / fres["floor"]["cpu_s"], 2)
            if "audit" in fres and "single" in fres and fres["single"].get("wall_s"):
                r["full_over_single"] = round(fres["audit"]["wall_s"] / fres["single"]["wall_s"], 2)
            if form == "docker" and "audit" in fres:
                for peer, ps in ires["peers"].items():
                    if ps.get("wall_s"):
                        r["%s_over_audit" % peer] = round(ps["wall_s"] / fres["audit"]["wall_s"], 2)
            rat[form] = r
        ires["ratios"] = rat
    results["failures"] = failures
    results["total_seconds"] = round(time.monotonic() - t_start, 1)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    if failures:
        log("run outputs kept in %s" % scratch)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    print(render(results))
    if failures:
        log("\n%d FAILURE(S):" % len(failures))
        for x in failures:
            log("  " + x)
        sys.exit(3)


def render(res):
    lines = []
    lines.append("| image | form | run | wall s | CPU s (user+sys) | cores busy | peak RSS MB | MB/s (uncompressed) | other CPU s |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name, ir in res["images"].items():
        for form, fr in ir["forms"].items():
            for mode, s in fr.items():
                label = {"audit": "stowaway audit", "floor": "floor (--bench-floor)",
                         "single": "single rule (%s)" % res["single_rule"]}[mode]
                if s.get("timeout"):
                    lines.append("| %s | %s | %s | timeout | | | | |" % (name, form, label))
                    continue
                lines.append("| %s | %s | %s | %.2f | %.2f | %.2f | %.0f | %.0f | %.1f |" % (
                    name, form, label, s["wall_s"], s["cpu_s"], s["cores"], s["peak_rss_mb"], s["mb_per_s"],
                    s["max_foreign_cpu_s"]))
        for peer, s in ir["peers"].items():
            if s.get("skipped"):
                lines.append("| %s | docker | %s | %s | | | | |" % (name, peer, s["skipped"]))
            elif s.get("timeout"):
                lines.append("| %s | docker | %s | timeout | | | | |" % (name, peer))
            else:
                lines.append("| %s | docker | %s | %.2f | %.2f | %.2f | %.0f | %.0f | %.1f |" % (
                    name, peer, s["wall_s"], s["cpu_s"], s["cores"], s["peak_rss_mb"], s["mb_per_s"],
                    s["max_foreign_cpu_s"]))
    lines.append("")
    lines.append("| image | form | audit/floor (wall) | audit/floor (CPU) | full/single rule (wall) | trivy/audit | kingfisher/audit |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for name, ir in res["images"].items():
        for form, r in ir.get("ratios", {}).items():
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                name, form, r.get("audit_over_floor", ""), r.get("audit_over_floor_cpu", ""),
                r.get("full_over_single", ""), r.get("trivy_over_audit", ""), r.get("kingfisher_over_audit", "")))
    lines.append("")
    for name, ir in res["images"].items():
        lines.append("%s: %.0f MB uncompressed in %d layers, %d files; gzip %.0f MB, zstd %.0f MB (scale %s)" % (
            name, ir["uncompressed_mb"], ir["layers"], ir["files"], ir["gzip_mb"], ir["zstd_mb"], ir["scale"]))
        for form, fr in ir["forms"].items():
            a = fr.get("audit", {})
            if "planted" in a:
                ok = sum(1 for p in a["planted"] if p["found"] and p["state_ok"])
                lines.append("  %s: planted secrets reported %d/%d (%d findings in all)" % (
                    form, ok, len(a["planted"]), a.get("findings", 0)))
        for peer, s in ir["peers"].items():
            if s.get("report"):
                lines.append("  %s: %d findings; planted paths reported: %s" % (
                    peer, s["report"]["findings"], ", ".join(s["report"]["planted_paths_reported"]) or "-"))
    lines.append("")
    lines.append("wall/CPU/RSS: median of %d runs, the modes taking turns (peers: %d). 'other CPU s': the most "
                 "CPU time other processes used during one of those runs (0 = quiet machine)."
                 % (res["reps"], res["peer_reps"]))
    lines.append("total measuring time %.0fs" % res["total_seconds"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
