"""Turn bench/driver.py JSON lines into a markdown table (and gnuplot scaling plots).

Usage: python bench/report.py RESULTS.jsonl [MORE.jsonl ...] [--workers N] [--plot PREFIX]
Prints one markdown table (workload, peer, N: setup, freeze, work, throughput, speedup
vs serial, extra memory PSS / RSS growth, checksum). Several files are merged in order: a
cell of a later file replaces a failed one of an earlier file (a re-run), and is added
otherwise. --workers keeps the rows of one worker count. With --plot and gnuplot
installed, writes PREFIX-throughput.png and PREFIX-memory.png (vs N, one panel per
workload, one line per peer).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile


def load(paths):
    """(the first file's run line, the merged cells in workload, N, peer order)."""
    run, cells = {}, {}
    for path in paths:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("kind") == "run":
                    run = run or r
                elif r.get("kind") == "cell":
                    key = (r["workload"], r["peer"], r["workers"])
                    if key not in cells or "error" in cells[key]:
                        cells[key] = r
    return run, list(cells.values())


def fmt_s(x):
    return "—" if x is None else f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def table(run, cells):
    out = [f"{run.get('cpus')} CPUs ({run.get('cpu', '?')}), Python {run.get('python')}, "
           f"frost allocator {run.get('frost_allocator', '?')}, load average at start "
           f"{run.get('loadavg', '?')}, argv `{' '.join(run.get('argv', []))}`", "",
           "| workload | peer | N | setup | freeze | work | throughput | speedup | "
           "extra PSS | RSS growth | check |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        if "error" in c:
            out.append(f"| {c['workload']} | {c['peer']} | {c['workers']} | failed: "
                       f"{c['error'].strip().splitlines()[-1][:60] if c['error'].strip() else '?'}"
                       " | | | | | | | |")
            continue
        out.append(
            f"| {c['workload']} | {c['peer']} | {c['workers']} | {fmt_s(c['setup_s'])} | "
            f"{fmt_s(c.get('freeze_s'))} | {fmt_s(c['work_s'])} | "
            f"{c['throughput'] / 1e6:.2f} M/s | {c.get('speedup', 0):.2f}x | "
            f"{c['pss_extra'] / 1e6:+.1f} MB | {c['rss_growth'] / 1e6:+.1f} MB | "
            f"{'ok' if c.get('checksum_ok') else 'MISMATCH'} |")
    return "\n".join(out)


def plot(cells, prefix):
    if not shutil.which("gnuplot"):
        print("gnuplot not found: no plot (install it: apt-get install gnuplot-nox)")
        return
    series = {}
    for c in cells:
        if "error" not in c:
            series.setdefault(c["workload"], {}).setdefault(c["peer"], []).append(c)
    workloads = sorted(series)
    peers = list(dict.fromkeys(c["peer"] for c in cells))   # one line style per peer
    with tempfile.TemporaryDirectory() as tmp:
        panels = []
        for w in workloads:
            files = []
            for p, cs in series[w].items():
                fn = os.path.join(tmp, f"{w}-{p}.dat")
                with open(fn, "w") as f:
                    for c in sorted(cs, key=lambda c: c["workers"]):
                        f.write(f"{c['workers']} {c['throughput']} {c['pss_extra'] / 1e9}\n")
                files.append((fn, p))
            panels.append((w, files))
        rows = (len(panels) + 1) // 2
        for name, col, ylabel in (("throughput", 2, "items/s"), ("memory", 3, "extra PSS, GB")):
            script = [f"set terminal png size 1400,{500 * rows}",
                      f"set output '{prefix}-{name}.png'",
                      f"set multiplot layout {rows},2", "set xlabel 'workers N'",
                      f"set ylabel '{ylabel}'", "set logscale x 2", "set key left top",
                      "set logscale y" if name == "throughput" else "unset logscale y"]
            for w, files in panels:
                script.append(f"set title '{w}'")
                script.append("plot " + ", ".join(
                    f"'{fn}' using 1:{col} with linespoints lt {peers.index(t) + 1} "
                    f"title '{t}'" for fn, t in files))
            script.append("unset multiplot")
            subprocess.run(["gnuplot", "-e", "; ".join(script)], check=True)
            print(f"wrote {prefix}-{name}.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--workers", type=int, help="only the rows of this worker count")
    ap.add_argument("--plot", metavar="PREFIX", help="write PREFIX-throughput.png, PREFIX-memory.png")
    args = ap.parse_args()
    run, cells = load(args.results)
    shown = [c for c in cells if args.workers in (None, c["workers"])]
    print(table(run, shown))
    if args.plot:
        plot(cells, args.plot)


if __name__ == "__main__":
    main()
