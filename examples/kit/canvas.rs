//! The Mandelbrot examples' canvas and its picture: a grid of escape orbits, its SHA-256
//! (to compare canvases made different ways), and the PNG that matplotlib's `imshow` would
//! draw of it (the viridis colour map, from the `colorous` crate, spread over the canvas's
//! smallest to largest orbit). Also the PNG's file, opened before any work so that a bad
//! path fails at once, and `{:,}`-style numbers.

use crate::workloads::{View, mandelbrot};
use multiproc::Error;
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The flags that choose the seed's view and its orbits, shared by every Mandelbrot example
/// (`#[command(flatten)]`), so they read and reject the same values everywhere.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct ViewArgs {
    /// Pixels per side of the square canvas (the seed: 1600).
    #[arg(long, default_value_t = View::SEED.pixdim as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub pixdim: u32,
    /// Real part of the view's centre (the seed: 0.1015).
    #[arg(long, default_value_t = View::SEED.x, allow_negative_numbers = true, value_parser = crate::cli::finite)]
    pub x: f64,
    /// Imaginary part of the view's centre (the seed: -0.633).
    #[arg(long, default_value_t = View::SEED.y, allow_negative_numbers = true, value_parser = crate::cli::finite)]
    pub y: f64,
    /// Side of the square view in the complex plane (the seed: 0.01).
    #[arg(long, default_value_t = View::SEED.size, value_parser = crate::cli::positive)]
    pub size: f64,
    /// Iterations before a point counts as inside the set (the seed: 255).
    #[arg(long, default_value_t = 255, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub orbits: u32,
}

impl ViewArgs {
    /// The view these flags describe.
    pub fn view(&self) -> View {
        View {
            pixdim: self.pixdim as usize,
            x: self.x,
            y: self.y,
            size: self.size,
        }
    }
}

/// A `pixdim` × `pixdim` grid of orbits, row-major (the seed's `canvas` array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    pub pixdim: usize,
    pub orbits: Vec<u32>,
}

impl Canvas {
    /// All zeros, as the seed's `np.zeros((pixdim, pixdim))`.
    pub fn blank(pixdim: usize) -> Canvas {
        Canvas {
            pixdim,
            orbits: vec![0; pixdim * pixdim],
        }
    }

    /// `canvas[row, col] = orbit`.
    pub fn set(&mut self, (row, col): (u32, u32), orbit: u32) {
        self.orbits[row as usize * self.pixdim + col as usize] = orbit;
    }

    /// SHA-256 of the orbits (little-endian u32s, row-major), in hex.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for o in &self.orbits {
            h.update(o.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RGB pixels as `imshow` draws the array: values scaled from the canvas's minimum to
    /// its maximum onto viridis.
    pub fn rgb(&self) -> Vec<u8> {
        let lo = self.orbits.iter().copied().min().unwrap_or(0);
        let hi = self.orbits.iter().copied().max().unwrap_or(0);
        let span = f64::from(hi.saturating_sub(lo)).max(1.0);
        (self.orbits.iter())
            .flat_map(|&o| {
                let c = colorous::VIRIDIS.eval_continuous(f64::from(o - lo) / span);
                [c.r, c.g, c.b]
            })
            .collect()
    }

    /// Write the canvas as an 8-bit RGB PNG into `png` and keep the file; its path.
    pub fn save_png(&self, png: PngFile) -> multiproc::Result<PathBuf> {
        let (file, path) = png.keep()?;
        let side = self.pixdim as u32;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let png_error = |e: png::EncodingError| {
            multiproc::Error::Io(std::io::Error::other(format!(
                "writing the PNG {}: {e}",
                path.display()
            )))
        };
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.rgb()).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
        Ok(path)
    }
}

/// The orbits of the rows `rows` of `view`, row-major (`rows.len() * view.pixdim` values):
/// what one worker computes when the canvas is cut into blocks of rows.
pub fn orbit_rows(view: View, rows: Range<usize>, orbits: u32) -> Vec<u32> {
    let mut out = Vec::with_capacity(rows.len() * view.pixdim);
    for row in rows {
        for col in 0..view.pixdim {
            out.push(mandelbrot(view.point(row, col), orbits));
        }
    }
    out
}

/// The rows of a `pixdim`-row canvas that worker `k` of `n` computes: consecutive blocks,
/// the first `pixdim % n` of them one row longer, covering every row once, in order.
pub fn row_block(pixdim: usize, k: usize, n: usize) -> Range<usize> {
    assert!(n > 0 && k < n, "row_block: worker {k} of {n}");
    let (base, extra) = (pixdim / n, pixdim % n);
    let start = k * base + k.min(extra);
    start..start + base + usize::from(k < extra)
}

/// The PNG's file, opened before any work so that a bad `--output` fails at once.
pub enum PngFile {
    /// A path the user gave: created, or emptied, as asked.
    Given(std::fs::File, PathBuf),
    /// The default: a new file `<prefix>XXXXXX.png` in the temp directory (created
    /// exclusively, so never through a symlink or over someone else's file), removed if the
    /// program fails before [`Canvas::save_png`].
    Temp(tempfile::NamedTempFile),
}

impl PngFile {
    /// Create `given`, or a new temp file named after `prefix`.
    pub fn open(given: Option<&Path>, prefix: &str) -> multiproc::Result<PngFile> {
        let named = |path: &Path, e: std::io::Error| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", path.display()),
            ))
        };
        match given {
            Some(path) => std::fs::File::create(path)
                .map(|file| PngFile::Given(file, path.to_path_buf()))
                .map_err(|e| named(path, e)),
            None => {
                let dir = std::env::temp_dir();
                tempfile::Builder::new()
                    .prefix(prefix)
                    .suffix(".png")
                    .tempfile_in(&dir)
                    .map(PngFile::Temp)
                    .map_err(|e| named(&dir, e))
            }
        }
    }

    /// The file to write and its path; a temp file is kept from now on.
    fn keep(self) -> multiproc::Result<(std::fs::File, PathBuf)> {
        match self {
            PngFile::Given(file, path) => Ok((file, path)),
            PngFile::Temp(temp) => temp.keep().map_err(|e| Error::Io(e.error)),
        }
    }
}

/// `2560000` as `2,560,000`, as Python's `{:,}`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_by_three() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_560_000), "2,560,000");
    }

    #[test]
    fn the_colours_run_from_viridis_purple_to_yellow() {
        let canvas = Canvas {
            pixdim: 2,
            orbits: vec![0, 85, 170, 255],
        };
        let rgb = canvas.rgb();
        assert_eq!(&rgb[..3], [68, 1, 84], "viridis(0)");
        assert_eq!(&rgb[9..], [253, 231, 37], "viridis(1)");
        assert_eq!(canvas.sha256().len(), 64);
    }

    #[test]
    fn row_blocks_cover_every_row_once_in_order() {
        for pixdim in [0, 1, 2, 7, 100] {
            for n in 1..=9 {
                let rows: Vec<usize> = (0..n).flat_map(|k| row_block(pixdim, k, n)).collect();
                assert_eq!(rows, (0..pixdim).collect::<Vec<_>>(), "{pixdim} rows, {n}");
                let lens: Vec<usize> = (0..n).map(|k| row_block(pixdim, k, n).len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn rows_in_blocks_make_the_whole_canvas() {
        let view = View {
            pixdim: 24,
            ..View::SEED
        };
        let whole = orbit_rows(view, 0..24, 255);
        let blocks: Vec<u32> = (0..5)
            .flat_map(|k| orbit_rows(view, row_block(24, k, 5), 255))
            .collect();
        assert_eq!(whole, blocks);
        assert_eq!(whole[3 * 24 + 5], mandelbrot(view.point(3, 5), 255));
        let canvas = Canvas {
            pixdim: 24,
            orbits: whole,
        };
        assert_eq!(canvas.sha256().len(), 64);
        assert_ne!(canvas.sha256(), Canvas::blank(24).sha256());
        assert_eq!(canvas.rgb().len(), 24 * 24 * 3);
    }
}
