# multiproc: every recipe is a plain cargo command underneath; `just` is a convenience.
set shell := ["bash", "-cu"]
set positional-arguments

# List the examples and what each one shows.
default:
    @cargo run -q -p harness --bin catalogue -- list

# Run one example, optimised: `just run bank_account --rounds 10`.
run name *args:
    cargo run -q --release --bin "$1" -- "${@:2}"

# The whole test suite (the README's test command).
test:
    cargo test

# Regenerate the README's example catalogue from Cargo.toml.
readme:
    cargo run -q -p harness --bin catalogue -- readme

# Formatting, lints and tests, as CI runs them.
ci:
    .ci/run
