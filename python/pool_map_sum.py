"""CPython version of examples/pool_map_sum.rs (seed 004): f(n) = sum of x*x for x < 10000,
over range(n), serially and with Pool.map (timed from the pool's start to its join, as in
Rust). Prints the same key=value lines as the Rust
example so compare.py can put them side by side."""
import argparse
import os
import time
from multiprocessing import Pool


def f(n):
    total = 0
    for x in range(10000):
        total += x * x
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()

    t = time.perf_counter()
    serial = sum(f(x) for x in range(args.n))
    serial_time = time.perf_counter() - t

    # The same span as the Rust example: start the pool, map, close and join it.
    t = time.perf_counter()
    pool = Pool(args.workers)
    pooled = sum(pool.map(f, range(args.n)))
    pool.close()
    pool.join()
    pool_time = time.perf_counter() - t

    assert serial == pooled
    print(f"sum={serial}")
    print(f"serial_seconds={serial_time:.9f}")
    print(f"pool_seconds={pool_time:.9f}")


if __name__ == "__main__":
    main()
