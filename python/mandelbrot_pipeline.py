"""CPython version of examples/mandelbrot_pipeline.rs (seed 001, the INE lesson): a producer
process batches points into a todo queue, consumer processes compute escape counts into a
result queue, the main process fills the canvas; first all in one process, then in
parallel. As in the Rust example (and unlike the seed, which waits on 1-second queue
timeouts), the producer ends the work with one sentinel per consumer."""
import argparse
import time
from itertools import product
from multiprocessing import Process, Queue


def mandelbrot(z0, orbits=255):
    z = z0
    for n in range(orbits):
        if abs(z) > 2.0:
            return n
        z = z * z + z0
    return orbits


def produce_points(q_todo, pixdim, x, y, size, batch_size, consumers):
    batch = []
    for row, col in product(range(pixdim), range(pixdim)):
        real = x - (size / 2) + (size * col / pixdim)
        imag = y - (size / 2) + (size * row / pixdim)
        batch.append(((row, col), complex(real, imag)))
        if len(batch) == batch_size:
            q_todo.put(batch)
            batch = []
    if batch:
        q_todo.put(batch)
    for _ in range(consumers):
        q_todo.put(None)


def process_points(q_todo, q_result, orbits):
    while (batch := q_todo.get()) is not None:
        q_result.put([((row, col), mandelbrot(z0, orbits)) for (row, col), z0 in batch])
    q_result.put(None)


def fill_canvas(q_result, canvas, producers_done):
    done = 0
    while done < producers_done:
        batch = q_result.get()
        if batch is None:
            done += 1
            continue
        for (row, col), orbit in batch:
            canvas[row][col] = orbit


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pixdim", type=int, default=1600)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--orbits", type=int, default=255)
    args = ap.parse_args()
    view = (args.pixdim, 0.1015, -0.633, 0.01, args.batch)

    t = time.perf_counter()
    q_todo, q_result = Queue(), Queue()
    sequential = [[0] * args.pixdim for _ in range(args.pixdim)]
    produce_points(q_todo, *view, 1)
    process_points(q_todo, q_result, args.orbits)
    fill_canvas(q_result, sequential, 1)
    sequential_time = time.perf_counter() - t

    t = time.perf_counter()
    q_todo, q_result = Queue(), Queue()
    parallel = [[0] * args.pixdim for _ in range(args.pixdim)]
    procs = [Process(target=produce_points, args=(q_todo, *view, args.workers))]
    procs += [Process(target=process_points, args=(q_todo, q_result, args.orbits))
              for _ in range(args.workers)]
    for p in procs:
        p.start()
    fill_canvas(q_result, parallel, args.workers)
    for p in procs:
        p.join()
    parallel_time = time.perf_counter() - t

    print(f"canvases_equal={'true' if sequential == parallel else 'false'}")
    print(f"sequential_seconds={sequential_time:.3f}")
    print(f"parallel_seconds={parallel_time:.3f}")


if __name__ == "__main__":
    main()
