# multiproc: every recipe is a plain cargo command underneath; `just` is a convenience.
set shell := ["bash", "-cu"]
set positional-arguments

# List the examples and what each one shows.
default:
    @cargo run -q -p harness --bin catalogue -- list

# Run one example, optimised: `just run bank_account --rounds 10`.
run name *args:
    @cargo run -q --release --bin "$1" -- "${@:2}"

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
