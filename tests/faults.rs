fn main() -> std::process::ExitCode {
    harness::forked::run(Vec::new())
}
