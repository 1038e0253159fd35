# multiproc: every recipe is a plain cargo command underneath; `just` is a convenience.
set shell := ["bash", "-cu"]
set positional-arguments

# List the examples and what each one shows.
default:
    @cargo run -q -p harness --bin catalogue -- list

# Run one example, optimised: `just run bank_account --rounds 10`.
run name *args:
    @cargo run -q --release --features full --bin "$1" -- "${@:2}"

# Run an MPI example on N ranks of this machine, optimised: `just mpi mpi_reduction 2`,
# `just mpi mpi_mandelbrot 2 --pixdim 800`. Needs Open MPI (README: "When one machine is not
# enough"). --oversubscribe: more ranks than cores is allowed; the OMPI_ALLOW_RUN_AS_ROOT pair
# lets mpirun run as root, as in a container.
mpi name ranks *args:
    cargo build -q --release -p multiproc-examples --features mpi --bin "$1"
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n "$2" "${CARGO_TARGET_DIR:-target}/release/$1" "${@:3}"

# The whole test suite (the README's test command).
test:
    cargo test

# Regenerate the README's generated blocks: the example catalogue (from examples/Cargo.toml)
# and the Python → Rust table (from src/python.md).
readme:
    cargo run -q -p harness --bin catalogue -- readme

# Formatting, lints and tests, as CI runs them.
ci:
    .ci/run

# Criterion benches, each primitive beside its raw baseline (see BENCHMARKS.md):
# `just bench`, or one target: `just bench --bench pool`.
bench *args:
    cargo bench "$@"

# The three workloads in CPython and in Rust, same parameters: CPython / Rust time ratios.
compare:
    @if command -v python3 >/dev/null; then python3 python/compare.py; else echo "python3 not found: skipping the CPython comparison"; fi
