//! The seeds' compute kernels, shared by the examples that reproduce them and by the
//! benches that measure them, so both run exactly the same code.
//!
//! Inputs pass through `std::hint::black_box` where the compiler could otherwise compute a
//! result at compile time: a timing of a constant is meaningless.

use multiproc::Event;
use serde::{Deserialize, Serialize};
use std::hint::black_box;

/// Seed 000/002's `calculate_e`: sum 1/k! until told to stop, checking the event every 1,000
/// iterations, as the seed does. After a few dozen iterations the sum is `e` to the last bit;
/// the rest of the time is the "work" that keeps a core busy until `exit` is set.
pub fn calculate_e(exit: &Event) -> f64 {
    let mut k = 1.0f64;
    let mut e_value = 0.0f64;
    let mut iteration = 0u64;
    while !iteration.is_multiple_of(1000) || !exit.is_set() {
        e_value += 1.0 / k;
        k *= (iteration + 1) as f64;
        iteration += 1;
    }
    e_value
}

/// Seed 004's `f(n)`: the sum of x² for x below 10,000 (the seed ignores `n`; so do we).
/// `f` summed over 0..10,000 is 3,332,833,350,000,000.
///
/// Every `x` passes through `black_box`, so each of the 10,000 steps really runs, as in the
/// seed. An opaque bound alone is not enough: LLVM recognises `sum += x * x` over a range
/// and replaces the loop with the closed form `(b-1)b(2b-1)/6`, which made a whole serial
/// run of the seed take 15 µs instead of tens of milliseconds.
pub fn sum_of_squares(_n: u64) -> u64 {
    let bound = black_box(10_000u64);
    let mut sum = 0u64;
    for x in 0..bound {
        let x = black_box(x);
        sum += x * x;
    }
    sum
}

/// A complex number, as Python's `complex` (only what Mandelbrot needs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl Complex {
    pub const fn new(re: f64, im: f64) -> Complex {
        Complex { re, im }
    }
}

/// Seed 001's `mandelbrot(z0, orbits)`: the iteration at which `z -> z² + z0` escapes the
/// radius-2 disc, or `orbits` if it never does. `mandelbrot(0.0965-0.638j) == 17`.
pub fn mandelbrot(z0: Complex, orbits: u32) -> u32 {
    let (mut re, mut im) = (z0.re, z0.im);
    for n in 0..orbits {
        // abs(z) > 2.0, without the square root.
        if re * re + im * im > 4.0 {
            return n;
        }
        let next_re = re * re - im * im + z0.re;
        im = 2.0 * re * im + z0.im;
        re = next_re;
    }
    orbits
}

/// The view seed 001 renders: centre `x + iy`, side `size`, `pixdim` × `pixdim` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub pixdim: usize,
    pub x: f64,
    pub y: f64,
    pub size: f64,
}

impl View {
    /// The seed's defaults: 1600 pixels around 0.1015 - 0.633i, side 0.01.
    pub const SEED: View = View {
        pixdim: 1600,
        x: 0.1015,
        y: -0.633,
        size: 0.01,
    };

    /// The point at `(row, col)`, computed as `produce_points` does.
    pub fn point(&self, row: usize, col: usize) -> Complex {
        let p = self.pixdim as f64;
        Complex {
            re: self.x - self.size / 2.0 + self.size * col as f64 / p,
            im: self.y - self.size / 2.0 + self.size * row as f64 / p,
        }
    }
}

/// The 15 points of seed 001's `Pool` section.
pub const SEED_POINTS: [Complex; 15] = [
    Complex::new(0.102125, -0.63780625),
    Complex::new(0.098375, -0.6378),
    Complex::new(0.104625, -0.6378),
    Complex::new(0.100875, -0.63779375),
    Complex::new(0.097125, -0.6377875),
    Complex::new(0.103375, -0.6377875),
    Complex::new(0.099625, -0.63778125),
    Complex::new(0.105875, -0.63778125),
    Complex::new(0.102125, -0.637775),
    Complex::new(0.098375, -0.63776875),
    Complex::new(0.104625, -0.63776875),
    Complex::new(0.100875, -0.6377625),
    Complex::new(0.097125, -0.63775625),
    Complex::new(0.103375, -0.63775625),
    Complex::new(0.099625, -0.63775),
];

/// What `mandelbrot` gives for [`SEED_POINTS`] with 255 orbits, as the seed prints it.
pub const SEED_POINT_ORBITS: [u32; 15] =
    [49, 23, 47, 43, 18, 39, 59, 69, 60, 23, 47, 43, 18, 39, 57];

/// Seed 003's `operator.add`, for `pool.starmap(add, zip(A, B))`.
pub fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Seed 003's `A` and `B`: `A = 0..n`, `B = n..2n`. Element-wise, `A + B` sums to
/// `n(2n - 1)`.
pub fn seed_ab(n: u64) -> (Vec<u64>, Vec<u64>) {
    ((0..n).collect(), (n..2 * n).collect())
}

/// Python's builtin `sum` over a list, as a pool task: `pool.map(sum_list, chunks)`.
pub fn sum_list(values: Vec<u64>) -> u64 {
    values.iter().sum()
}

/// Seed 003's `chunk_list(list, chunks=k)`: consecutive pieces of `ceil(len / k)` items, so
/// at most `k` of them (fewer when `len` is not much bigger than `k`: 10 items in 7 chunks
/// gives 5 pieces of 2), and none for an empty list. `k` must be at least 1.
pub fn chunk_list<T: Clone>(items: &[T], chunks: usize) -> Vec<Vec<T>> {
    assert!(chunks > 0, "chunk_list needs at least one chunk");
    let size = items.len().div_ceil(chunks).max(1);
    items.chunks(size).map(<[T]>::to_vec).collect()
}

/// One row of seed 003's display of `A`, `B` and `A + B`: `prefix` then the values,
/// right-aligned in two columns, in brackets: `"+ [ 10, 11, 12 ]"`.
pub fn aligned_row(prefix: &str, values: &[u64]) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:>2}")).collect();
    format!("{prefix:<1} [ {} ]", cells.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandelbrot_matches_the_seed() {
        assert_eq!(mandelbrot(Complex::new(0.0965, -0.638), 255), 17);
        let orbits: Vec<u32> = SEED_POINTS.iter().map(|&c| mandelbrot(c, 255)).collect();
        assert_eq!(orbits, SEED_POINT_ORBITS);
        assert_eq!(
            mandelbrot(Complex::new(0.0, 0.0), 255),
            255,
            "0 never escapes"
        );
    }

    #[test]
    fn sum_of_squares_matches_the_seed() {
        let total: u64 = (0..10_000).map(sum_of_squares).sum();
        assert_eq!(total, 3_332_833_350_000_000);
    }

    #[test]
    fn calculate_e_converges_and_stops_when_told() {
        let stop = Event::new();
        let setter = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            setter.set();
        });
        // Stops at the next multiple of 1,000 iterations, long after convergence.
        assert!((calculate_e(&stop) - std::f64::consts::E).abs() < 1e-12);
        t.join().unwrap();
        // As in the seed, an event set before the start stops it at iteration 0.
        assert_eq!(calculate_e(&stop), 0.0);
    }

    #[test]
    fn view_spans_the_seed_square() {
        let v = View::SEED;
        assert_eq!(v.point(0, 0), Complex::new(0.1015 - 0.005, -0.633 - 0.005));
        let last = v.point(1599, 1599);
        assert!((last.re - (0.1015 + 0.005 - 0.01 / 1600.0)).abs() < 1e-15);
    }

    #[test]
    fn chunk_list_follows_the_seed() {
        let items: Vec<u64> = (0..10).collect();
        let sizes = |k| {
            chunk_list(&items, k)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(3), [4, 4, 2]);
        assert_eq!(sizes(7), [2, 2, 2, 2, 2]);
        assert_eq!(sizes(1), [10]);
        assert_eq!(sizes(20), [1; 10]);
        assert_eq!(chunk_list(&items, 3).concat(), items);
        assert!(chunk_list::<u64>(&[], 4).is_empty());
    }

    #[test]
    fn seed_ab_sums_to_n_2n_minus_1() {
        let (a, b) = seed_ab(10);
        let added: Vec<u64> = a.iter().zip(&b).map(|(&a, &b)| add(a, b)).collect();
        assert_eq!(added, (0..10).map(|i| 2 * i + 10).collect::<Vec<_>>());
        assert_eq!(sum_list(added), 10 * 19);
        assert_eq!(aligned_row("+", &b[..3]), "+ [ 10, 11, 12 ]");
        assert_eq!(aligned_row(" ", &a[..2]), "  [  0,  1 ]");
        assert_eq!(aligned_row("", &[]), "  [  ]");
    }
}
