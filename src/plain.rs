//! `Plain`: the element types a shared `Value` or `Array` can hold (Python's typecodes).

use std::fmt::Debug;
use std::sync::atomic::{
    AtomicBool, AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16,
    AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed,
};

mod sealed {
    pub trait Sealed {}
}

/// `Plain`: the element types a shared `Value` or `Array` can hold (Python's typecodes).
///
/// Each type is stored in shared memory as the atomic of the same width, so even the
/// unsynchronised path (`load`/`store`, Python's `v.value` without the lock) is defined
/// behaviour in Rust: a separate atomic load and store, which loses concurrent updates
/// exactly as Python's `v.value += 1` does, but is never a data race.
///
/// A `Copy` type that can live in shared memory: the integers, `f32`, `f64` and `bool`
/// (Python typecodes `'b' 'h' 'i' 'l' 'q' 'B' 'H' 'I' 'L' 'Q' 'f' 'd'` and `c_bool`).
/// Zero bits are its default value.
pub trait Plain:
    Copy + Default + PartialEq + Debug + Send + Sync + 'static + sealed::Sealed
{
    /// The atomic that stores it.
    #[doc(hidden)]
    type Atomic: Send + Sync;
    #[doc(hidden)]
    fn load(cell: &Self::Atomic) -> Self;
    #[doc(hidden)]
    fn store(cell: &Self::Atomic, value: Self);
}

macro_rules! plain_int {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {
            type Atomic = $a;
            fn load(cell: &$a) -> $t { cell.load(Relaxed) }
            fn store(cell: &$a, value: $t) { cell.store(value, Relaxed) }
        }
    )*};
}

plain_int!(
    i8 => AtomicI8, i16 => AtomicI16, i32 => AtomicI32, i64 => AtomicI64, isize => AtomicIsize,
    u8 => AtomicU8, u16 => AtomicU16, u32 => AtomicU32, u64 => AtomicU64, usize => AtomicUsize,
    bool => AtomicBool,
);

macro_rules! plain_float {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Plain for $t {
            type Atomic = $a;
            fn load(cell: &$a) -> $t { <$t>::from_bits(cell.load(Relaxed)) }
            fn store(cell: &$a, value: $t) { cell.store(value.to_bits(), Relaxed) }
        }
    )*};
}

plain_float!(f32 => AtomicU32, f64 => AtomicU64);

/// `AnyBits`: the [`Plain`] types every bit pattern of which is a value: the integers,
/// `f32` and `f64`, not `bool`. Only these view memory that another program may write
/// any byte into: the element types of a [`SharedMemory`](crate::SharedMemory) view.
pub trait AnyBits: Plain {}

macro_rules! any_bits {
    ($($t:ty),*) => {$( impl AnyBits for $t {} )*};
}

any_bits!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);
