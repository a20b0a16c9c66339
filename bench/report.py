"""Turn bench/driver.py JSON lines into a markdown table (and gnuplot scaling plots).

Usage: python bench/report.py RESULTS.jsonl [--plot PREFIX]
Prints one markdown table (workload, peer, N: setup, freeze, work, throughput, speedup
vs serial, extra memory PSS / RSS growth, checksum). With --plot and gnuplot installed,
writes PREFIX-throughput.png and PREFIX-memory.png (vs N, one line per peer and workload).
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile


def load(path):
    run, cells = {}, []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "run":
                run = r
            elif r.get("kind") == "cell":
                cells.append(r)
    return run, cells


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
            series.setdefault((c["workload"], c["peer"]), []).append(c)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for (w, p), cs in sorted(series.items()):
            fn = os.path.join(tmp, f"{w}-{p}.dat")
            with open(fn, "w") as f:
                for c in sorted(cs, key=lambda c: c["workers"]):
                    f.write(f"{c['workers']} {c['throughput']} {c['pss_extra'] / 1e6}\n")
            files.append((fn, f"{w} {p}"))
        for name, col, ylabel in (("throughput", 2, "ops/s"), ("memory", 3, "extra PSS, MB")):
            plots = ", ".join(f"'{fn}' using 1:{col} with linespoints title '{t}'"
                              for fn, t in files)
            script = (f"set terminal png size 1400,900; set output '{prefix}-{name}.png';"
                      f"set xlabel 'workers N'; set ylabel '{ylabel}'; set key outside;"
                      f"{'set logscale y;' if name == 'throughput' else ''} plot {plots}")
            subprocess.run(["gnuplot", "-e", script], check=True)
            print(f"wrote {prefix}-{name}.png")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--plot", metavar="PREFIX", help="write PREFIX-throughput.png, PREFIX-memory.png")
    args = ap.parse_args()
    run, cells = load(args.results)
    print(table(run, cells))
    if args.plot:
        plot(cells, args.plot)


if __name__ == "__main__":
    main()
