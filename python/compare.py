"""Run each workload in CPython and in Rust (release build) with the same parameters, and
print how many times longer CPython takes: `just compare`, or `python3 python/compare.py`.

Each pair alternates (Rust, CPython, Rust, CPython, ...) and the best of `--trials` runs is
kept, because this VM's speed jumps between levels for seconds at a time."""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, Rust binary, arguments (both sides), serial key, parallel key
WORKLOADS = [
    ("sum of squares, Pool.map (seed 004)", "pool_map_sum",
     ["--n", "10000", "--workers", "2"], "serial_seconds", "pool_seconds"),
    ("Mandelbrot 400x400 pipeline, 2 consumers (seed 001)", "mandelbrot_pipeline",
     ["--pixdim", "400", "--workers", "2"], "sequential_seconds", "parallel_seconds"),
    ("parallel reduction of 0..10^6, imap (seed 003)", "parallel_reduction",
     ["--n", "1000000", "--workers", "2"], "serial_seconds", "pool_seconds"),
]


def keys(output):
    out = {}
    for line in output.splitlines():
        k, sep, v = line.partition("=")
        if sep and k.isidentifier():
            out[k] = v.strip()
    return out


def run(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return keys(done.stdout)


def target_dir():
    """Where cargo puts its builds: `target/` unless CARGO_TARGET_DIR or a config says else."""
    meta = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(meta.stdout)["target_directory"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    bins = [w[1] for w in WORKLOADS]
    build = ["cargo", "build", "--release", "-q"] + [a for b in bins for a in ("--bin", b)]
    subprocess.run(build, cwd=ROOT, check=True)
    release = os.path.join(target_dir(), "release")

    print(f"{'workload':52} {'':8} {'CPython':>10} {'Rust':>10} {'CPython/Rust':>13}")
    for name, binary, params, serial_key, parallel_key in WORKLOADS:
        best = {}
        for _ in range(args.trials):
            for side, cmd in (("rust", [os.path.join(release, binary)]),
                              ("python", [sys.executable, os.path.join(ROOT, "python", f"{binary}.py")])):
                got = run(cmd + params)
                for key in (serial_key, parallel_key):
                    t = float(got[key])
                    best[(side, key)] = min(best.get((side, key), t), t)
        for label, key in (("serial", serial_key), ("parallel", parallel_key)):
            py, rs = best[("python", key)], best[("rust", key)]
            print(f"{name:52} {label:8} {py:9.3f}s {rs:9.4f}s {py / rs:12.0f}x")
            name = ""


if __name__ == "__main__":
    main()
