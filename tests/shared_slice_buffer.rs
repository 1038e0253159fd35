//! Zero-copy shared data (issue 13): `SharedSlice` read in processes and pool tasks through
//! typed, unforgeable handles; `SharedBuffer` written in disjoint claimed ranges, overlap
//! refused across processes, a dead claimant's range taken back, a claim inherited by a
//! forked child unable to write, then frozen and read as a plain slice. That a frozen
//! `SharedSlice` cannot be written is checked at compile time (the `compile_fail` doctests
//! of `multiproc::shared_slice`). Each check runs in its own forked process group.

use harness::checks;
use multiproc::{
    Array, Barrier, Error, Event, InvalidKind, Pipe, Pool, Process, SharedBuffer, SharedSlice,
    Value,
};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn main() -> std::process::ExitCode {
    harness::forked::run(checks![
        pool_tasks_read_their_ranges_of_a_shared_slice,
        a_child_reads_a_shared_slice_sent_through_a_pipe,
        a_shared_slice_handle_decoded_as_another_type_is_refused,
        a_forged_or_later_shared_slice_handle_is_refused,
        the_length_comes_from_the_receivers_record_not_the_message,
        pool_workers_fill_disjoint_ranges_and_the_frozen_buffer_is_the_serial_result,
        of_two_processes_claiming_overlapping_ranges_exactly_one_succeeds,
        overlapping_claims_in_one_process_are_refused,
        a_frozen_buffer_refuses_claims_in_every_process,
        freeze_waits_for_every_live_claim,
        a_dead_claimants_range_is_taken_back_and_counted,
        a_claim_copied_into_a_forked_child_cannot_write,
        a_leaked_claim_keeps_the_buffer_mapped,
        a_shared_buffer_handle_decoded_as_another_type_is_refused,
    ])
}

fn sum_range((data, from, to): (SharedSlice<u64>, usize, usize)) -> u64 {
    data[from..to].iter().sum()
}

fn pool_tasks_read_their_ranges_of_a_shared_slice() {
    let n = 1_000_003usize;
    let data: SharedSlice<u64> = (0..n as u64).map(|x| x * 3 + 1).collect();
    // Also built in place, and from a Vec without a copy: the Vec's buffer is the data.
    let v: Vec<u64> = (0..1000).collect();
    let at = v.as_ptr();
    let from_vec = SharedSlice::from_vec(v);
    assert_eq!(from_vec.as_ptr(), at, "from_vec copied the data");
    let built = SharedSlice::<u64>::build(1000, |s| {
        for (i, x) in s.iter_mut().enumerate() {
            *x = i as u64;
        }
    });
    assert_eq!(&*built, &*from_vec);
    let pool = Pool::new(2).unwrap();
    let chunk = 100_000;
    let parts: Vec<(SharedSlice<u64>, usize, usize)> = (0..n)
        .step_by(chunk)
        .map(|f| (data.clone(), f, (f + chunk).min(n)))
        .collect();
    let partials = pool.map(sum_range, parts).unwrap();
    let expected: Vec<u64> = data.chunks(chunk).map(|c| c.iter().sum()).collect();
    assert_eq!(partials, expected);
    assert_eq!(
        partials.iter().sum::<u64>(),
        (0..n as u64).map(|x| x * 3 + 1).sum::<u64>()
    );
    let parts = [(built.clone(), 0, 500), (from_vec.clone(), 500, 1000)];
    assert_eq!(pool.map(sum_range, parts).unwrap(), [124_750, 374_750]);
}

fn a_child_reads_a_shared_slice_sent_through_a_pipe() {
    let data = SharedSlice::<f64>::from_fn(4096, |i| i as f64 * 0.5);
    let (parent, child) = Pipe::new();
    let mut p = Process::spawn(move || {
        let got: SharedSlice<f64> = child.recv().unwrap();
        child.send(&(got.len(), got.iter().sum::<f64>())).unwrap();
    })
    .unwrap();
    parent.send(&data).unwrap();
    let (len, sum): (usize, f64) = parent.recv().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(len, 4096);
    assert_eq!(sum, data.iter().sum::<f64>());
}

fn refused<T: serde::de::DeserializeOwned>(conn: &multiproc::Connection) -> bool {
    conn.recv::<T>().is_err()
}

fn a_shared_slice_handle_decoded_as_another_type_is_refused() {
    let data = SharedSlice::<u64>::from_vec(vec![1, 2, 3]);
    let json = serde_json::to_string(&data).unwrap();
    assert!(serde_json::from_str::<SharedSlice<u32>>(&json).is_err());
    assert!(serde_json::from_str::<SharedSlice<i64>>(&json).is_err());
    assert!(serde_json::from_str::<SharedBuffer<u64>>(&json).is_err());
    assert!(serde_json::from_str::<Array<u64>>(&json).is_err());
    let same: SharedSlice<u64> = serde_json::from_str(&json).unwrap();
    assert!(same.ptr_eq(&data));
    // And in another process, over a pipe.
    let (parent, child) = Pipe::new();
    let mut p = Process::spawn(move || {
        let wrong = [
            refused::<SharedSlice<u8>>(&child),
            refused::<SharedSlice<f64>>(&child),
            refused::<SharedBuffer<u64>>(&child),
            refused::<Array<u64>>(&child),
        ];
        let right: SharedSlice<u64> = child.recv().unwrap();
        child.send(&(wrong.to_vec(), right.to_vec())).unwrap();
    })
    .unwrap();
    for _ in 0..5 {
        parent.send(&data).unwrap();
    }
    let (wrong, right): (Vec<bool>, Vec<u64>) = parent.recv().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(wrong, [true; 4], "decoded as another type: {wrong:?}");
    assert_eq!(right, [1, 2, 3]);
}

fn a_forged_or_later_shared_slice_handle_is_refused() {
    let data = SharedSlice::<u64>::from_vec(vec![5; 10]);
    let json = serde_json::to_string(&data).unwrap();
    let id: u128 = json
        .trim_start_matches(r#"{"data":"#)
        .trim_end_matches('}')
        .parse()
        .unwrap_or_else(|e| panic!("a SharedSlice serialises as its id only ({json}): {e}"));
    for bit in [0, 1, 63, 64, 127] {
        let forged = format!(r#"{{"data":{}}}"#, id ^ (1u128 << bit));
        assert!(serde_json::from_str::<SharedSlice<u64>>(&forged).is_err());
    }
    for small in 0..64u128 {
        let forged = format!(r#"{{"data":{small}}}"#);
        assert!(serde_json::from_str::<SharedSlice<u64>>(&forged).is_err());
    }
    // Frozen after the pool's workers were forked: not in their tables.
    let pool = Pool::new(1).unwrap();
    let later = SharedSlice::<u64>::from_vec(vec![1, 2, 3]);
    assert!(pool.apply(sum_range, (later, 0, 3)).is_err());
    assert_eq!(pool.apply(sum_range, (data, 0, 10)).unwrap(), 50);
}

/// Whether `n` is one of the numbers in `v` (the random id is not, but may contain its digits).
fn carries_number(v: &serde_json::Value, n: u64) -> bool {
    match v {
        serde_json::Value::Number(x) => x.as_u64() == Some(n),
        serde_json::Value::Array(items) => items.iter().any(|i| carries_number(i, n)),
        serde_json::Value::Object(fields) => fields.values().any(|f| carries_number(f, n)),
        _ => false,
    }
}

fn the_length_comes_from_the_receivers_record_not_the_message() {
    let data = SharedSlice::<u8>::from_vec(vec![9; 16]);
    let json = serde_json::to_string(&data).unwrap();
    assert!(
        !carries_number(&serde_json::from_str(&json).unwrap(), 16),
        "the length travelled: {json}"
    );
    let tampered = json.replace('}', r#","len":1099511627776}"#);
    if let Ok(d) = serde_json::from_str::<SharedSlice<u8>>(&tampered) {
        assert_eq!(d.len(), 16, "the length came from the message");
    }
    let buffer = SharedBuffer::<u8>::new(16);
    let json = serde_json::to_string(&buffer).unwrap();
    let tampered = json.replace('}', r#","len":1099511627776}"#);
    if let Ok(b) = serde_json::from_str::<SharedBuffer<u8>>(&tampered) {
        assert_eq!(b.len(), 16, "the length came from the message");
        assert!(b.claim(0..1 << 30).is_err());
    }
}

fn fill_rows((canvas, width, from, to): (SharedBuffer<u32>, usize, usize, usize)) -> bool {
    let Ok(mut rows) = canvas.claim(from * width..to * width) else {
        return false;
    };
    rows.fill_with(|i| pixel(i / width, i % width));
    true
}

fn pixel(row: usize, col: usize) -> u32 {
    (row as u32).wrapping_mul(2_654_435_761) ^ col as u32
}

fn pool_workers_fill_disjoint_ranges_and_the_frozen_buffer_is_the_serial_result() {
    let (width, height) = (300, 211);
    let canvas = SharedBuffer::<u32>::new(width * height);
    let pool = Pool::new(2).unwrap();
    let tasks: Vec<_> = (0..height)
        .step_by(10)
        .map(|r| (canvas.clone(), width, r, (r + 10).min(height)))
        .collect();
    let claimed = pool.chunksize(1).map(fill_rows, tasks).unwrap();
    assert!(claimed.iter().all(|&c| c), "a disjoint claim was refused");
    assert_eq!(canvas.live_claims(), 0);
    let pixels: &[u32] = canvas.freeze().unwrap();
    let serial: Vec<u32> = (0..height)
        .flat_map(|r| (0..width).map(move |c| pixel(r, c)))
        .collect();
    assert!(
        pixels == serial.as_slice(),
        "the canvas differs from the serial one"
    );
    assert_eq!(canvas.abandoned(), 0);
}

fn of_two_processes_claiming_overlapping_ranges_exactly_one_succeeds() {
    for round in 0..20 {
        let buffer = SharedBuffer::<u64>::new(100);
        let start = Barrier::new(2);
        let tried = Barrier::new(2);
        let wins = Value::new(0u32);
        let mut children: Vec<Process> = [(0..60), (40..100)]
            .into_iter()
            .map(|range| {
                let (buffer, start, tried, wins) =
                    (buffer.clone(), start.clone(), tried.clone(), wins.clone());
                Process::spawn(move || {
                    start.wait().unwrap();
                    match buffer.claim(range.clone()) {
                        Ok(mut c) => {
                            *wins.lock().unwrap() += 1;
                            for i in range {
                                c.set(i, round);
                            }
                            // Hold the claim until the other has tried.
                            tried.wait().unwrap();
                        }
                        Err(_) => {
                            tried.wait().unwrap();
                        }
                    }
                })
                .unwrap()
            })
            .collect();
        multiproc::join_all(&mut children).unwrap();
        for c in &mut children {
            assert_eq!(c.exitcode(), Some(0));
        }
        assert_eq!(wins.load(), 1, "round {round}: not exactly one claim won");
        assert_eq!(buffer.live_claims(), 0);
    }
}

fn overlapping_claims_in_one_process_are_refused() {
    let b = SharedBuffer::<i32>::new(10);
    let first = b.claim(2..5).unwrap();
    for bad in [0..3, 4..6, 2..5, 3..4, 0..10] {
        assert!(
            matches!(
                b.claim(bad.clone()),
                Err(Error::Invalid {
                    kind: InvalidKind::Claimed,
                    ..
                })
            ),
            "{bad:?} overlaps 2..5"
        );
    }
    let left = b.claim(0..2).unwrap();
    let right = b.claim(5..10).unwrap();
    let empty = b.claim(3..3).unwrap();
    assert!(b.claim(5..11).is_err(), "out of bounds");
    #[allow(clippy::reversed_empty_ranges)]
    let backwards = 5..4;
    assert!(b.claim(backwards).is_err());
    assert_eq!(b.live_claims(), 4);
    drop((first, left, right, empty));
    assert_eq!(b.live_claims(), 0);
    let mut again = b.claim(0..10).unwrap();
    again.copy_from_slice(&[7; 10]);
    assert_eq!(again.get(9), 7);
    drop(again);
    // At most MAX_CLAIMS at once.
    let many = SharedBuffer::<u8>::new(1000);
    let held: Vec<_> = (0..SharedBuffer::<u8>::MAX_CLAIMS)
        .map(|i| many.claim(i..i + 1).unwrap())
        .collect();
    assert!(many.claim(999..1000).is_err());
    drop(held);
    assert!(many.claim(999..1000).is_ok());
}

fn a_frozen_buffer_refuses_claims_in_every_process() {
    let b = SharedBuffer::<u16>::new(8);
    b.claim(0..8).unwrap().fill_with(|i| i as u16 * 2);
    let frozen = b.freeze().unwrap();
    assert_eq!(frozen, [0, 2, 4, 6, 8, 10, 12, 14]);
    assert!(b.claim(0..1).is_err());
    assert!(b.is_frozen());
    let b2 = b.clone();
    let mut p = Process::spawn(move || {
        assert!(b2.claim(3..4).is_err(), "a frozen buffer was claimed");
        assert_eq!(b2.freeze().unwrap()[7], 14);
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(frozen[3], 6);
}

fn freeze_waits_for_every_live_claim() {
    let b = SharedBuffer::<u64>::new(4);
    let claimed = Event::new();
    let release = Event::new();
    let (b2, c2, r2) = (b.clone(), claimed.clone(), release.clone());
    let mut p = Process::spawn(move || {
        let mut c = b2.claim(1..3).unwrap();
        c.set(1, 11);
        c.set(2, 12);
        c2.set();
        r2.wait();
    })
    .unwrap();
    claimed.wait();
    assert!(
        b.freeze().is_err(),
        "frozen while another process held a claim"
    );
    assert!(!b.is_frozen());
    release.set();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(b.freeze().unwrap(), [0, 11, 12, 0]);
    assert_eq!(b.abandoned(), 0);
}

fn a_dead_claimants_range_is_taken_back_and_counted() {
    let b = SharedBuffer::<u32>::new(10);
    let b2 = b.clone();
    let mut p = Process::spawn(move || {
        let mut c = b2.claim(0..5).unwrap();
        c.set(0, 1);
        // Dies holding the claim.
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), -9);
    assert_eq!(b.abandoned(), 0, "counted before anyone met the claim");
    // A disjoint claim does not meet it.
    drop(b.claim(5..10).unwrap());
    let mut redo = b
        .claim(3..4)
        .expect("the dead claimant's range is claimable again");
    assert_eq!(b.abandoned(), 1);
    redo.set(3, 3);
    drop(redo);
    assert_eq!(b.freeze().unwrap(), [1, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.abandoned(), 1);

    // freeze also takes a dead claim back.
    let b = SharedBuffer::<u32>::new(4);
    let b2 = b.clone();
    let mut p = Process::spawn(move || {
        std::mem::forget(b2.claim(0..4).unwrap());
        // Returns: the child `_exit`s with the claim's mutex held.
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(b.freeze().unwrap(), [0; 4]);
    assert_eq!(b.abandoned(), 1);
}

fn a_claim_copied_into_a_forked_child_cannot_write() {
    let b: &'static SharedBuffer<u64> = Box::leak(Box::new(SharedBuffer::new(4)));
    let claim = b.claim(0..4).unwrap();
    // The claim (not `Send`, but `'static`) is moved into the child's closure, which
    // `Process` only needs to be `'static`: the child gets a copy of the guard.
    let mut p = Process::spawn(move || {
        let mut claim = claim;
        let wrote = catch_unwind(AssertUnwindSafe(|| claim.set(0, 99))).is_ok();
        let filled = catch_unwind(AssertUnwindSafe(|| claim.fill_with(|_| 98))).is_ok();
        let copied = catch_unwind(AssertUnwindSafe(|| claim.copy_from_slice(&[97; 4]))).is_ok();
        drop(claim); // must not release the parent's claim either
        i32::from(wrote) + 2 * i32::from(filled) + 4 * i32::from(copied)
    })
    .unwrap();
    assert_eq!(
        p.join().unwrap(),
        0,
        "a forked child wrote through its parent's claim"
    );
    assert_eq!(b.to_vec(), [0; 4]);
    assert_eq!(b.live_claims(), 0);
    assert!(b.freeze().is_ok());
}

fn a_leaked_claim_keeps_the_buffer_mapped() {
    let mut p = Process::spawn(|| {
        let other = SharedBuffer::<u8>::new(4);
        let b = SharedBuffer::<u64>::new(4);
        std::mem::forget(b.claim(0..2).unwrap());
        drop(b);
        // glibc links the next robust mutex this thread locks to the leaked one: it must
        // still be mapped.
        for _ in 0..16 {
            drop(other.claim(0..4).unwrap());
        }
        assert_eq!(other.live_claims(), 0);
    })
    .unwrap();
    assert_eq!(p.join().unwrap(), 0, "the process did not exit cleanly");
}

fn a_shared_buffer_handle_decoded_as_another_type_is_refused() {
    let b = SharedBuffer::<u32>::new(3);
    let json = serde_json::to_string(&b).unwrap();
    assert!(serde_json::from_str::<SharedBuffer<u64>>(&json).is_err());
    assert!(serde_json::from_str::<SharedBuffer<i32>>(&json).is_err());
    assert!(serde_json::from_str::<SharedSlice<u32>>(&json).is_err());
    assert!(serde_json::from_str::<Array<u32>>(&json).is_err());
    let same: SharedBuffer<u32> = serde_json::from_str(&json).unwrap();
    same.claim(0..3).unwrap().set(2, 5);
    assert_eq!(b.load(2), 5);
}
