//! Named shared memory (`SharedMemory`) between programs started separately: each check
//! re-executes this test binary (`/proc/self/exe <ROLE> <role> <name>`) for the other
//! program, which is exec'd, not a fork sharing anything with the check. See
//! tests/process.rs for why checks run under `harness::forked`.

use harness::checks;
use multiproc::{Error, InvalidKind, Process, SharedMemory};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The argument that makes this binary play a role instead of running the checks.
const ROLE: &str = "__shared_memory_named_role";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == ROLE {
        role(&args[2], &args[3]);
        std::process::exit(0);
    }
    harness::forked::run(checks![
        a_separately_started_program_reads_the_writers_values_and_writes_back,
        bad_names_are_refused,
        attaching_a_missing_name_or_a_too_small_segment_is_an_error,
        a_segment_with_another_mode_or_a_planted_link_is_refused,
        racing_creators_exactly_one_wins,
        the_creators_drop_unlinks_unless_kept_and_an_attacher_never_unlinks,
        a_sigkilled_creator_leaves_the_name_and_unlink_name_reclaims_it,
        a_segment_shrunk_under_a_mapping_raises_sigbus_and_views_stay_in_bounds,
    ])
}

/// What a re-executed copy of this binary does (`role`, on the segment `name`).
fn role(role: &str, name: &str) {
    match role {
        // Attach, check the creator's 1000 values, write 1000 of its own after them.
        "reader" => {
            let shm = SharedMemory::attach_len::<u64>(name, 2000).expect("attach");
            let v = shm.view::<u64>();
            for i in 0..1000 {
                assert_eq!(v.load(i), i as u64 * 3 + 1, "element {i}");
            }
            for i in 1000..2000 {
                v.store(i, i as u64 * 7);
            }
        }
        // Try to create: exit 0 if this one won (and keep it), 3 if the name existed.
        "race" => match SharedMemory::create(name, 4096) {
            Ok(shm) => {
                shm.keep();
                println!("won");
            }
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::process::exit(3)
            }
            Err(e) => panic!("unexpected: {e:?}"),
        },
        // Create, write, say so, and wait to be killed.
        "create_and_hang" => {
            let shm = SharedMemory::create(name, 4096).expect("create");
            shm.view::<u32>().store(5, 0xfeed);
            println!("ready");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// Start this binary in `role` on `name`, stdout piped.
fn start(role: &str, name: &str) -> Child {
    Command::new("/proc/self/exe")
        .args([ROLE, role, name])
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-execute the test binary")
}

/// Wait for `child` at most `timeout`; kill it (and fail) if it hangs.
fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the re-executed program hung for {timeout:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A name nobody else uses: random, per check.
fn unique(what: &str) -> String {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom");
    format!("multiproc-test-{what}-{:016x}", u64::from_ne_bytes(bytes))
}

fn in_dev_shm(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

fn a_separately_started_program_reads_the_writers_values_and_writes_back() {
    let name = unique("rw");
    let shm = SharedMemory::create(&name, 2000 * 8).unwrap();
    assert_eq!((shm.name(), shm.size()), (name.as_str(), 16_000));
    let v = shm.view::<u64>();
    assert_eq!(v.len(), 2000);
    assert!(v.iter().all(|x| x == 0), "created zeroed");
    for i in 0..1000 {
        v.store(i, i as u64 * 3 + 1);
    }
    let mut reader = start("reader", &name);
    assert!(wait(&mut reader, Duration::from_secs(20)).success());
    for i in 1000..2000 {
        assert_eq!(v.load(i), i as u64 * 7, "the reader's element {i}");
    }
    // Other element types view the same bytes.
    assert_eq!(shm.view::<u8>().len(), 16_000);
    assert_eq!(shm.view::<u32>().load(2), 4, "low half of element 1 (4)");
    drop(shm);
    assert!(!in_dev_shm(&name));
}

fn bad_names_are_refused() {
    let long = "x".repeat(SharedMemory::MAX_NAME_LEN + 1);
    for bad in [
        "",
        "a/b",
        "/lead",
        "trail/",
        ".",
        "..",
        "nul\0byte",
        long.as_str(),
    ] {
        let kinds = [
            SharedMemory::create(bad, 64).unwrap_err().invalid_kind(),
            SharedMemory::attach(bad).unwrap_err().invalid_kind(),
            SharedMemory::unlink_name(bad).unwrap_err().invalid_kind(),
        ];
        assert_eq!(kinds, [Some(InvalidKind::Name); 3], "{bad:?}");
    }
    let zero = SharedMemory::create(&unique("zero"), 0).unwrap_err();
    assert_eq!(zero.invalid_kind(), Some(InvalidKind::Argument));
    // The longest name allowed works.
    let longest = format!(
        "{}{}",
        unique("max"),
        "y".repeat(SharedMemory::MAX_NAME_LEN)
    );
    let longest = &longest[..SharedMemory::MAX_NAME_LEN];
    let shm = SharedMemory::create(longest, 8).unwrap();
    assert!(in_dev_shm(longest));
    drop(shm);
}

fn attaching_a_missing_name_or_a_too_small_segment_is_an_error() {
    let name = unique("missing");
    match SharedMemory::attach(&name) {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            assert!(e.to_string().contains(&name), "{e}");
        }
        other => panic!("attach of a missing name: {other:?}"),
    }
    assert!(SharedMemory::unlink_name(&name).is_err());

    let name = unique("small");
    let shm = SharedMemory::create(&name, 100).unwrap();
    let e = SharedMemory::attach_len::<u64>(&name, 13).unwrap_err();
    assert_eq!(e.invalid_kind(), Some(InvalidKind::Segment), "{e}");
    let ok = SharedMemory::attach_len::<u64>(&name, 12).unwrap();
    assert_eq!(ok.size(), 100);
    assert_eq!(ok.view::<u64>().len(), 12, "whole elements only");
    assert_eq!(
        ok.view_len::<u64>(13).unwrap_err().invalid_kind(),
        Some(InvalidKind::Segment)
    );
    assert_eq!(ok.view_len::<u8>(100).unwrap().len(), 100);
    drop(shm);
}

fn a_segment_with_another_mode_or_a_planted_link_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let name = unique("mode");
    let shm = SharedMemory::create(&name, 64).unwrap();
    let path = Path::new("/dev/shm").join(&name);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600,
        "created 0600"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = SharedMemory::attach(&name).unwrap_err();
    assert_eq!(e.invalid_kind(), Some(InvalidKind::Segment), "{e}");
    assert!(e.to_string().contains("0666"), "{e}");
    // A segment planted by hand with the right mode but empty is refused too.
    let planted = unique("planted");
    let file = std::fs::File::create(Path::new("/dev/shm").join(&planted)).unwrap();
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let e = SharedMemory::attach(&planted).unwrap_err();
    assert_eq!(e.invalid_kind(), Some(InvalidKind::Segment), "{e}");
    SharedMemory::unlink_name(&planted).unwrap();
    // A symbolic link planted in /dev/shm to a 0600 file of ours elsewhere is refused, and
    // the file is not touched.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("target"));
    std::fs::write(&target, [7u8; 4096]).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = unique("symlink");
    std::os::unix::fs::symlink(&target, Path::new("/dev/shm").join(&link)).unwrap();
    let e = SharedMemory::attach(&link).unwrap_err();
    assert_eq!(e.invalid_kind(), Some(InvalidKind::Segment), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), [7u8; 4096]);
    std::fs::remove_file(Path::new("/dev/shm").join(&link)).unwrap();
    std::fs::remove_file(&target).unwrap();
    // A hard link beside a real segment: two names, refused.
    let hard = unique("hardlink");
    std::fs::hard_link(&path, Path::new("/dev/shm").join(&hard)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = SharedMemory::attach(&hard).unwrap_err();
    assert!(e.to_string().contains("names link"), "{e}");
    SharedMemory::unlink_name(&hard).unwrap();
    drop(shm);
    // (A segment of another user cannot be made without privileges here; the uid check
    // sits beside the mode check in `attach`.)
}

fn racing_creators_exactly_one_wins() {
    for _ in 0..5 {
        let name = unique("race");
        let mut racers: Vec<Child> = (0..8).map(|_| start("race", &name)).collect();
        let codes: Vec<i32> = racers
            .iter_mut()
            .map(|c| wait(c, Duration::from_secs(20)).code().expect("exited"))
            .collect();
        assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
        assert_eq!(codes.iter().filter(|&&c| c == 3).count(), 7, "{codes:?}");
        assert!(in_dev_shm(&name), "the winner kept it");
        // In this process too: the name exists, so create fails clearly.
        match SharedMemory::create(&name, 64) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
                assert!(e.to_string().contains("exists already"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        SharedMemory::unlink_name(&name).unwrap();
    }
}

fn the_creators_drop_unlinks_unless_kept_and_an_attacher_never_unlinks() {
    let name = unique("drop");
    let shm = SharedMemory::create(&name, 64).unwrap();
    let attacher = SharedMemory::attach(&name).unwrap();
    drop(attacher);
    assert!(in_dev_shm(&name), "an attacher's drop leaves it");
    // A forked copy of the creator's handle, dropped in the child, does not unlink either.
    // SAFETY: this check's process is single-threaded (harness::forked runs it in a fork
    // of a single-threaded main); the child only drops its copy of the handle and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        drop(shm);
        // SAFETY: ends the child at once, running none of the check's code after this.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert!(in_dev_shm(&name), "the fork's drop leaves it");
    let attacher = SharedMemory::attach(&name).unwrap();
    drop(shm);
    assert!(!in_dev_shm(&name), "the creator's drop unlinks");
    attacher.view::<u8>().store(0, 1); // still mapped here
    drop(attacher);

    let name = unique("kept");
    let shm = SharedMemory::create(&name, 64).unwrap();
    shm.view::<i64>().store(7, -5);
    shm.keep();
    drop(shm);
    assert!(in_dev_shm(&name), "kept");
    let again = SharedMemory::attach(&name).unwrap();
    assert_eq!(again.view::<i64>().load(7), -5);
    again.unlink().unwrap();
    assert!(!in_dev_shm(&name), "attach + unlink reclaims it");
    assert!(again.unlink().is_err(), "gone already");

    // An explicit unlink by the creator: its drop does not touch a new segment of the name.
    let name = unique("renamed");
    let first = SharedMemory::create(&name, 64).unwrap();
    first.unlink().unwrap();
    let second = SharedMemory::create(&name, 64).unwrap();
    drop(first);
    assert!(in_dev_shm(&name), "the second segment stays");
    drop(second);
    assert!(!in_dev_shm(&name));
}

fn a_sigkilled_creator_leaves_the_name_and_unlink_name_reclaims_it() {
    let name = unique("killed");
    let mut creator = start("create_and_hang", &name);
    // Wait (bounded) until its write is visible; kill it and fail if it never comes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !SharedMemory::attach(&name).is_ok_and(|s| s.view::<u32>().load(5) == 0xfeed) {
        if Instant::now() > deadline {
            let _ = creator.kill();
            let _ = creator.wait();
            panic!("the creator never wrote its value: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    creator.kill().unwrap(); // SIGKILL: no destructor runs
    let status = wait(&mut creator, Duration::from_secs(10));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9));
    assert!(in_dev_shm(&name), "the name stays after SIGKILL");
    let shm = SharedMemory::attach(&name).unwrap();
    assert_eq!(
        shm.view::<u32>().load(5),
        0xfeed,
        "the dead creator's write"
    );
    drop(shm);
    assert!(in_dev_shm(&name), "an attacher's drop leaves it");
    SharedMemory::unlink_name(&name).unwrap();
    assert!(!in_dev_shm(&name), "unlink_name reclaims it");
}

fn a_segment_shrunk_under_a_mapping_raises_sigbus_and_views_stay_in_bounds() {
    let name = unique("shrunk");
    let shm = SharedMemory::create(&name, 3 * 4096).unwrap();
    let other = SharedMemory::attach(&name).unwrap();
    // Views end at the size found at attach, whatever the file grows to later.
    std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new("/dev/shm").join(&name))
        .unwrap()
        .set_len(10 * 4096)
        .unwrap();
    assert_eq!(other.view::<u8>().len(), 3 * 4096);
    assert!(
        std::panic::catch_unwind(|| other.view::<u8>().load(3 * 4096)).is_err(),
        "bounds-checked"
    );
    // Shrunk by another program: reading the lost pages is SIGBUS, a death, not a read of
    // other memory.
    std::fs::OpenOptions::new()
        .write(true)
        .open(Path::new("/dev/shm").join(&name))
        .unwrap()
        .set_len(4096)
        .unwrap();
    assert_eq!(
        other.view::<u8>().load(10),
        0,
        "the first page is still there"
    );
    let mut reader = Process::spawn(move || {
        let _ = other.view::<u8>().load(2 * 4096 + 1);
        0
    })
    .unwrap();
    assert_eq!(reader.join().unwrap(), -libc::SIGBUS, "killed by SIGBUS");
    drop(shm);
    assert!(!in_dev_shm(&name));
}
