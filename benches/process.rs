//! Process start + join: `Process::spawn(..).join()` beside raw `fork` + `_exit` + `waitpid`.
//! Target: at most 1.3x raw.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use multiproc::Process;

fn start_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("process start+join");
    g.bench_function("raw fork+_exit+waitpid", |b| {
        b.iter(common::raw::fork_exit_wait)
    });
    g.bench_function("multiproc Process", |b| {
        b.iter(|| {
            common::assert_single_threaded();
            let mut p = Process::spawn(|| ()).expect("start");
            assert_eq!(p.join().expect("join"), 0);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = start_join
}
criterion_main!(benches);
