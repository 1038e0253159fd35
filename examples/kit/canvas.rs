//! Seed 001's Mandelbrot canvas as the examples that render it share it: a grid of escape
//! orbits, its checksum (so two renderings, by any distribution of the work, can be
//! compared with one word), and the PNG `imshow` would draw of it, written to a file opened
//! before any work ([`PngOutput`]).
//!
//! Whoever computes the orbits (a queue pipeline of processes, MPI ranks, one loop) fills a
//! [`Canvas`]; the checksum and the PNG bytes depend only on the orbits.

use crate::workloads::{View, mandelbrot};
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A `pixdim` × `pixdim` grid of orbits, row-major: `orbits[row * pixdim + col]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    pub pixdim: usize,
    pub orbits: Vec<u32>,
}

impl Canvas {
    /// A canvas of zeros, to be filled.
    pub fn blank(pixdim: usize) -> Canvas {
        Canvas {
            pixdim,
            orbits: vec![0; pixdim * pixdim],
        }
    }

    /// SHA-256 of the orbits, each as 4 little-endian bytes, row by row, in lowercase hex:
    /// equal for equal canvases, whoever computed them.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for o in &self.orbits {
            h.update(o.to_le_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RGB pixels as matplotlib's `imshow` draws the array: values scaled from the
    /// canvas's minimum to its maximum onto the viridis colour map.
    pub fn rgb(&self) -> Vec<u8> {
        let lo = self.orbits.iter().copied().min().unwrap_or(0);
        let hi = self.orbits.iter().copied().max().unwrap_or(0);
        let span = f64::from(hi.saturating_sub(lo)).max(1.0);
        self.orbits
            .iter()
            .flat_map(|&o| viridis(f64::from(o - lo) / span))
            .collect()
    }

    /// Write the canvas as an 8-bit RGB PNG to `file`, opened at `path` (named in every
    /// error).
    pub fn save_png(&self, file: std::fs::File, path: &Path) -> std::io::Result<()> {
        let side = self.pixdim as u32;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side, side);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let png_error = |e: png::EncodingError| {
            std::io::Error::other(format!("writing the PNG {}: {e}", path.display()))
        };
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&self.rgb()).map_err(png_error)?;
        writer.finish().map_err(png_error)
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

/// matplotlib's viridis at nine evenly spaced stops, interpolated linearly; `t` in 0..=1.
pub fn viridis(t: f64) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [0x44, 0x01, 0x54],
        [0x47, 0x2d, 0x7b],
        [0x3b, 0x52, 0x8b],
        [0x2c, 0x72, 0x8e],
        [0x21, 0x91, 0x8c],
        [0x28, 0xae, 0x80],
        [0x5e, 0xc9, 0x62],
        [0xad, 0xdc, 0x30],
        [0xfd, 0xe7, 0x25],
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
}

/// The PNG's file, opened before any work so that a bad `--output` fails at once.
pub enum PngOutput {
    /// `--output`: created, or emptied, as the user asked.
    Given(std::fs::File, PathBuf),
    /// The default: a new file `<prefix>XXXXXX.png` in the temp directory (created
    /// exclusively, so never through a symlink or over someone else's file), removed if the
    /// run fails before [`PngOutput::keep`].
    Temp(tempfile::NamedTempFile),
}

impl PngOutput {
    /// Open `given`, or a new temp file named after `prefix`; the error names the path.
    pub fn open(given: Option<&Path>, prefix: &str) -> std::io::Result<PngOutput> {
        let named = |path: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        };
        match given {
            Some(path) => std::fs::File::create(path)
                .map(|file| PngOutput::Given(file, path.to_path_buf()))
                .map_err(|e| named(path, e)),
            None => {
                let dir = std::env::temp_dir();
                tempfile::Builder::new()
                    .prefix(prefix)
                    .suffix(".png")
                    .tempfile_in(&dir)
                    .map(PngOutput::Temp)
                    .map_err(|e| named(&dir, e))
            }
        }
    }

    /// The file to write and its path; a temp file is kept from now on.
    pub fn keep(self) -> std::io::Result<(std::fs::File, PathBuf)> {
        match self {
            PngOutput::Given(file, path) => Ok((file, path)),
            PngOutput::Temp(temp) => temp.keep().map_err(|e| e.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn viridis_ends() {
        assert_eq!(viridis(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(viridis(1.0), [0xfd, 0xe7, 0x25]);
        assert_eq!(viridis(2.0), viridis(1.0));
    }
}
