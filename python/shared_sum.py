"""CPython column of benches/shared.rs (issue 13), written the way a Python user would: the sum
of 10M uint64 held in one `multiprocessing.shared_memory.SharedMemory` and viewed as a NumPy
array, by `Pool(2)` tasks that each attach by name and `np.sum` their half, against serial
`np.sum` and against 2 threads (NumPy releases the GIL while it sums). Then handing a 1 GiB
`SharedMemory` to a worker (a task that attaches by name and answers with the length), beside
an empty pool round trip and copying the gibibyte once in the parent.

Spans as in benches/shared.rs, the pool already started: serial is the sum alone; processes
is building the two tasks, `pool.map(..., chunksize=1)` and adding the partial sums; threads
is starting one thread for the first half, summing the second half here, joining. Each
variant is timed `--runs` times after one untimed run, and the median is printed. One more
processes variant shows the other habit: the block attached once per worker in the Pool's
initializer, the tasks carrying only their ranges (a fresh attachment page-faults on every
page it reads; a kept one does not).

Needs NumPy (`apt-get install python3-numpy`, or pip); without it the script says so and
exits 0, so nothing in the project depends on it."""
import argparse
import statistics
import sys
import threading
import time
from multiprocessing import Pool, shared_memory

try:
    import numpy as np
except ImportError:
    np = None

WORKERS = 2


def sum_range(task):
    """The worker's task: attach to the block by name, view it, sum [lo, hi)."""
    name, n, lo, hi = task
    shm = shared_memory.SharedMemory(name=name)
    try:
        data = np.ndarray((n,), dtype=np.uint64, buffer=shm.buf)
        total = int(np.sum(data[lo:hi]))
        del data  # the view must go before the mapping closes
    finally:
        shm.close()
    return total


def len_of(name):
    """Attach to the block by name and answer with its length (touches no page of it)."""
    shm = shared_memory.SharedMemory(name=name)
    try:
        return shm.size
    finally:
        shm.close()


def nothing(_):
    return None


# The other way a Python user can go: attach once per worker, in the Pool's initializer, and
# keep the view in a global; a task then carries only its range. A fresh attachment maps the
# block anew, so its first read of every page is a page fault; a kept one pays that once.
ATTACHED = None


def attach(name, n):
    global ATTACHED
    shm = shared_memory.SharedMemory(name=name)
    ATTACHED = (shm, np.ndarray((n,), dtype=np.uint64, buffer=shm.buf))


def sum_attached(bounds):
    lo, hi = bounds
    return int(np.sum(ATTACHED[1][lo:hi]))


def median_seconds(runs, body):
    body()  # one untimed run: first-touch and imports out of the way
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        body()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_sum_data(n):
    """The bench's data, x * 2654435761 (wrapping) % 1000, in a new block."""
    shm = shared_memory.SharedMemory(create=True, size=n * 8)
    data = np.ndarray((n,), dtype=np.uint64, buffer=shm.buf)
    data[:] = np.arange(n, dtype=np.uint64) * np.uint64(2654435761) % np.uint64(1000)
    return shm, data


def make_big(mib):
    """A block of `mib` MiB filled in place with i as u8."""
    shm = shared_memory.SharedMemory(create=True, size=mib << 20)
    data = np.ndarray((mib << 20,), dtype=np.uint8, buffer=shm.buf)
    data.reshape(-1, 256)[:] = np.arange(256, dtype=np.uint8)
    return shm, data


def reduction(pool, shm, data, runs):
    n = len(data)
    expected = int(np.sum(data))
    half = -(-n // WORKERS)

    def serial():
        assert int(np.sum(data)) == expected

    def processes():
        tasks = [(shm.name, n, 0, half), (shm.name, n, half, n)]
        assert sum(pool.map(sum_range, tasks, chunksize=1)) == expected

    def threads():
        part = [0]

        def first():
            part[0] = int(np.sum(data[:half]))

        t = threading.Thread(target=first)
        t.start()
        rest = int(np.sum(data[half:]))
        t.join()
        assert part[0] + rest == expected

    return {
        "serial_seconds": median_seconds(runs, serial),
        "pool_seconds": median_seconds(runs, processes),
        "threads_seconds": median_seconds(runs, threads),
    }


def attached(pool, data, runs):
    """The processes variant with the block attached once per worker (same span)."""
    n = len(data)
    expected = int(np.sum(data))
    half = -(-n // WORKERS)

    def processes():
        assert sum(pool.map(sum_attached, [(0, half), (half, n)], chunksize=1)) == expected

    return median_seconds(runs, processes)


def handing(pool, shm, data, runs):
    size = len(data)

    def handle():
        assert pool.apply(len_of, (shm.name,)) >= size

    def empty():
        pool.apply(nothing, (None,))

    def copy():
        assert len(data.copy()) == size

    return {
        "handle_seconds": median_seconds(runs, handle),
        "empty_seconds": median_seconds(runs, empty),
        "copy_seconds": median_seconds(max(3, runs // 4), copy),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000_000, help="how many uint64 to sum")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per variant (median)")
    ap.add_argument("--handing-mib", type=int, default=1024,
                    help="size of the block handed to a worker, MiB; 0 skips that part")
    args = ap.parse_args()
    if args.n < WORKERS or args.runs < 1 or args.handing_mib < 0:
        ap.error("need --n >= 2, --runs >= 1, --handing-mib >= 0")
    if np is None:
        print(f"skipped=numpy: NumPy is not installed for {sys.executable}; "
              "install python3-numpy (or pip install numpy) to measure the CPython column")
        return

    # The data first, then the pool, as in the Rust bench: the workers are forked after the
    # blocks exist, and so share the parent's resource tracker (a worker that started its
    # own would unlink the blocks as "leaked" when it exits, CPython issue 82300).
    blocks = [make_sum_data(args.n)]
    if args.handing_mib:
        blocks.append(make_big(args.handing_mib))
    try:
        with Pool(WORKERS) as pool:
            pool.map(nothing, range(WORKERS), chunksize=1)  # the workers are up
            got = reduction(pool, *blocks[0], args.runs)
            if args.handing_mib:
                got.update(handing(pool, *blocks[1], args.runs))
        shm, data = blocks[0]
        with Pool(WORKERS, initializer=attach, initargs=(shm.name, len(data))) as pool:
            got["attached_seconds"] = attached(pool, data, args.runs)
    finally:
        shms = [shm for shm, _ in blocks]
        del blocks  # the NumPy views must go before the mappings close
        for shm in shms:
            shm.close()
            shm.unlink()

    print(f"CPython {sys.version.split()[0]}, NumPy {np.__version__}, Pool({WORKERS}), "
          f"median of {args.runs} runs each:")
    print(f"Sum of n={args.n} uint64: serial_seconds={got['serial_seconds']:.6f} "
          f"pool_seconds={got['pool_seconds']:.6f} threads_seconds={got['threads_seconds']:.6f}, "
          f"so pool_over_threads={got['pool_seconds'] / got['threads_seconds']:.2f} and "
          f"serial_over_pool={got['serial_seconds'] / got['pool_seconds']:.2f}; attached once "
          f"per worker (Pool initializer): attached_seconds={got['attached_seconds']:.6f}, "
          f"attached_over_threads={got['attached_seconds'] / got['threads_seconds']:.2f}")
    if args.handing_mib:
        print(f"Handing {args.handing_mib} MiB to a worker: "
              f"handle_seconds={got['handle_seconds']:.6f} "
              f"(empty round trip empty_seconds={got['empty_seconds']:.6f}), "
              f"copying it once copy_seconds={got['copy_seconds']:.6f}")


if __name__ == "__main__":
    main()
