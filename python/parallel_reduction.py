"""CPython version of examples/parallel_reduction.rs (seed 003): the data 0..n cut into one
chunk per process, partial sums with pool.imap(sum, chunks, chunksize=1), against sum(data).
Pool start-up is not timed, as in the Rust example."""
import argparse
import math
import os
import time
from multiprocessing import Pool


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    data = list(range(args.n))

    with Pool(args.workers) as pool:
        t = time.perf_counter()
        chunk = max(1, math.ceil(len(data) / args.workers))
        chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        pooled = sum(pool.imap(sum, chunks, chunksize=1))
        pool_time = time.perf_counter() - t

    t = time.perf_counter()
    serial = sum(data)
    serial_time = time.perf_counter() - t

    assert serial == pooled
    print(f"sum={serial}")
    print(f"serial_seconds={serial_time:.9f}")
    print(f"pool_seconds={pool_time:.9f}")


if __name__ == "__main__":
    main()
