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

# name, Rust binary, arguments (both sides), serial key, parallel key, and, when the CPython
# side is another script: (script, its own arguments, its parallel key)
WORKLOADS = [
    ("sum of squares, Pool.map (seed 004)", "pool_map_sum",
     ["--n", "10000", "--workers", "2"], "serial_seconds", "pool_seconds"),
    ("Mandelbrot 400x400 pipeline, 2 consumers (seed 001)", "mandelbrot_pipeline",
     ["--pixdim", "400", "--workers", "2"], "sequential_seconds", "parallel_seconds"),
    ("parallel reduction of 0..10^6, imap (seed 003)", "parallel_reduction",
     ["--n", "1000000", "--workers", "2"], "serial_seconds", "pool_seconds"),
    # Needs NumPy on the CPython side; skipped with a message without it.
    ("zero-copy sum of 10^7 u64, shared memory (issue 13)", "parallel_reduction",
     ["--n", "10000000", "--workers", "2"], "serial_seconds", "shared_seconds",
     ("shared_sum", ["--n", "10000000", "--runs", "1", "--handing-mib", "0"], "pool_seconds")),
]


def keys(output):
    """The `key=value` words of the output, anywhere in a line (the last one wins)."""
    out = {}
    for word in output.split():
        k, sep, v = word.partition("=")
        if sep and k.isidentifier():
            out[k] = v
    return out


def run(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return keys(done.stdout), done.stdout


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
    for name, binary, params, serial_key, parallel_key, *python in WORKLOADS:
        script, py_params, py_parallel_key = python[0] if python else (binary, params, parallel_key)
        sides = (("rust", [os.path.join(release, binary)] + params, parallel_key),
                 ("python", [sys.executable, os.path.join(ROOT, "python", f"{script}.py")]
                  + py_params, py_parallel_key))
        best, skipped = {}, None
        for _ in range(args.trials):
            for side, cmd, side_parallel_key in sides:
                got, output = run(cmd)
                if "skipped" in got:
                    skipped = output.strip()
                    break
                for label, key in (("serial", serial_key), ("parallel", side_parallel_key)):
                    t = float(got[key])
                    best[(side, label)] = min(best.get((side, label), t), t)
            if skipped:
                break
        if skipped:
            print(f"{name:52} {skipped}")
            continue
        for label in ("serial", "parallel"):
            py, rs = best[("python", label)], best[("rust", label)]
            ratio = py / rs
            print(f"{name:52} {label:8} {py:9.3f}s {rs:9.4f}s {ratio:12.{1 if ratio < 10 else 0}f}x")
            name = ""


if __name__ == "__main__":
    main()
