"""CPython column of benches/start.rs: what each start method (fork, forkserver, spawn) costs in
CPython's multiprocessing, for the same rows as the Rust bench.

- start + join: `get_context(m).Process(target=nothing).start()` then `join()`, the target
  doing nothing;
- Pool(2) create + close + join: `get_context(m).Pool(2)`, `close()`, `join()` (join returns
  once both workers and the pool's threads have ended, so the span covers their whole start);
- Pool(2).map: `pool.map(square, range(1000))` at the default chunksize, on a pool built once
  (and warmed by one untimed map).

Each row is run once untimed (the forkserver's server is launched by the first forkserver
start, as in Rust where the start server is launched on first use), then `--runs` timed runs
(`--spawn-runs` for the slower spawn rows); the median is printed as `key=value` words."""
import argparse
import statistics
import sys
import time
import multiprocessing as mp

METHODS = ("fork", "forkserver", "spawn")
WORKERS = 2


def nothing():
    pass


def square(x):
    return x * x


def median_seconds(runs, body):
    body()  # untimed: the forkserver's server, imports and first touches out of the way
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        body()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rows(method, runs, items):
    ctx = mp.get_context(method)

    def start_join():
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
        assert p.exitcode == 0

    def pool_lifecycle():
        pool = ctx.Pool(WORKERS)
        pool.close()
        pool.join()

    got = {
        "start_join": median_seconds(runs, start_join),
        "pool_create_close_join": median_seconds(runs, pool_lifecycle),
    }
    want = [x * x for x in range(items)]
    with ctx.Pool(WORKERS) as pool:
        def map_squares():
            assert pool.map(square, range(items)) == want

        got["pool_map"] = median_seconds(runs * 4, map_squares)
        pool.close()
        pool.join()
    return got


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=25,
                    help="timed runs per row for fork and forkserver (map: 4x as many)")
    ap.add_argument("--spawn-runs", type=int, default=10,
                    help="timed runs per row for spawn (map: 4x as many)")
    ap.add_argument("--items", type=int, default=1000, help="how many squares map computes")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="comma-separated start methods to measure")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    if args.runs < 1 or args.spawn_runs < 1 or args.items < 1:
        ap.error("need --runs >= 1, --spawn-runs >= 1, --items >= 1")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        ap.error(f"unknown start method {unknown}: choose among {','.join(METHODS)}")

    print(f"CPython {sys.version.split()[0]}, Pool({WORKERS}), map of {args.items} squares at "
          f"the default chunksize; medians of {args.runs} runs ({args.spawn_runs} for spawn), "
          f"map rows 4x as many:")
    for method in methods:
        got = rows(method, args.spawn_runs if method == "spawn" else args.runs, args.items)
        print(f"method={method}: start_join_seconds={got['start_join']:.6f} "
              f"pool_create_close_join_seconds={got['pool_create_close_join']:.6f} "
              f"pool_map_seconds={got['pool_map']:.6f}")


if __name__ == "__main__":
    main()
