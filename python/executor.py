"""CPython twin of benches/executor.rs: the round trip of a trivial task through
concurrent.futures.ProcessPoolExecutor(2), waited for by `executor.submit(f, x).result()`
and awaited by `await loop.run_in_executor(executor, f, x)` (asyncio), one task at a time;
and the throughput of 64 asyncio submitters each awaiting `--each` tasks in turn. Prints
per-task microseconds as key=value lines (the best of `--trials` timed runs of `--tasks`
tasks each, after a warm-up), the figures BENCHMARKS.md puts beside the Rust ones."""
import argparse
import asyncio
import time
from concurrent.futures import ProcessPoolExecutor


def inc(x):
    return x + 1


def submit_result(executor, tasks):
    t = time.perf_counter()
    for x in range(tasks):
        assert executor.submit(inc, x).result() == x + 1
    return time.perf_counter() - t


async def awaited(executor, tasks):
    loop = asyncio.get_running_loop()
    t = time.perf_counter()
    for x in range(tasks):
        assert await loop.run_in_executor(executor, inc, x) == x + 1
    return time.perf_counter() - t


async def submitters(executor, n, each):
    loop = asyncio.get_running_loop()

    async def one(s):
        total = 0
        for i in range(each):
            total += await loop.run_in_executor(executor, inc, s * each + i)
        return total

    t = time.perf_counter()
    sums = await asyncio.gather(*(one(s) for s in range(n)))
    took = time.perf_counter() - t
    assert sum(sums) == sum(range(1, n * each + 1))
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--each", type=int, default=100, help="tasks per submitter (64 of them)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    with ProcessPoolExecutor(args.workers) as executor:
        submit_result(executor, 200)  # start the workers, warm up
        best = min(submit_result(executor, args.tasks) for _ in range(args.trials))
        print(f"submit_result_us={best / args.tasks * 1e6:.3f}")

        asyncio.run(awaited(executor, 200))
        best = min(asyncio.run(awaited(executor, args.tasks)) for _ in range(args.trials))
        print(f"run_in_executor_us={best / args.tasks * 1e6:.3f}")

        items = 64 * args.each
        best = min(asyncio.run(submitters(executor, 64, args.each)) for _ in range(args.trials))
        print(f"submitters_64_per_task_us={best / items * 1e6:.3f}")
        print(f"submitters_64_tasks_per_second={items / best:.0f}")


if __name__ == "__main__":
    main()
