//! A picture of a digit (or garment), of any size, shaped the way MNIST shaped its samples, so
//! that `bnx predict` sees what the networks were trained on:
//!
//! 1. decoded to grayscale, transparency laid over white;
//! 2. inverted if the background is light (MNIST is white ink on black), judged by the border;
//! 3. the background level subtracted, so a grey scan's paper becomes 0;
//! 4. a picture that is now 28×28 is taken as it is: that is MNIST's own format;
//! 5. otherwise the ink's bounding box is scaled, keeping its aspect ratio, so its longer side
//!    is 20 pixels, and placed in a 28×28 frame with its centre of mass at the centre
//!    (LeCun et al.'s description of how MNIST was made).

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, Luma};
use thiserror::Error;

use super::idx::{IMAGE_PIXELS, IMAGE_SIDE};

/// The longer side of the ink's box in MNIST's frame.
const DIGIT_BOX: u32 = 20;
/// A pixel counts as ink above this level (of 255) once the background is removed.
const INK_LEVEL: u8 = 32;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[derive(Debug, Error)]
pub enum ImageError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PNG image (bnx predict reads PNG files)")]
    NotPng { path: PathBuf },
    #[error("{path} is not a readable PNG image: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path} shows nothing to classify: no pixel stands out from the background")]
    Blank { path: PathBuf },
}

/// The PNG at `path` as MNIST's 28×28 bytes (white ink on black).
pub fn read_digit(path: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Read {
        path: path.into(),
        source,
    })?;
    if !bytes.starts_with(PNG_SIGNATURE) {
        return Err(ImageError::NotPng { path: path.into() });
    }
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Png).map_err(|e| {
        ImageError::Decode {
            path: path.into(),
            message: e.to_string(),
        }
    })?;
    mnist_shape(&over_white(&image.to_luma_alpha8())).ok_or(ImageError::Blank { path: path.into() })
}

/// Grayscale with transparency laid over white, as an image viewer shows it.
fn over_white(image: &image::GrayAlphaImage) -> GrayImage {
    GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let [value, alpha] = image.get_pixel(x, y).0;
        let (value, alpha) = (u32::from(value), u32::from(alpha));
        Luma([((value * alpha + 255 * (255 - alpha) + 127) / 255) as u8])
    })
}

/// Steps 2–5 above; `None` when no pixel is ink.
pub fn mnist_shape(gray: &GrayImage) -> Option<[u8; IMAGE_PIXELS]> {
    let ink = ink_on_black(gray);
    let side = IMAGE_SIDE as u32;
    if ink.dimensions() == (side, side) {
        if ink.pixels().all(|p| p.0[0] <= INK_LEVEL) {
            return None;
        }
        return Some(to_array(&ink));
    }
    let (x0, y0, x1, y1) = ink_box(&ink)?;
    let (width, height) = (x1 - x0 + 1, y1 - y0 + 1);
    let crop = imageops::crop_imm(&ink, x0, y0, width, height).to_image();
    let scale = f64::from(DIGIT_BOX) / f64::from(width.max(height));
    let (new_width, new_height) = (
        ((f64::from(width) * scale).round() as u32).clamp(1, DIGIT_BOX),
        ((f64::from(height) * scale).round() as u32).clamp(1, DIGIT_BOX),
    );
    let digit = if (new_width, new_height) == (width, height) {
        crop
    } else {
        // Triangle widens with the scale factor when shrinking, so it averages the pixels a
        // target pixel covers instead of sampling a few (no aliasing on large photos).
        imageops::resize(&crop, new_width, new_height, FilterType::Triangle)
    };
    let (cx, cy) = centre_of_mass(&digit)?;
    let place = |centre: f64, size: u32| {
        ((f64::from(side) / 2.0 - centre).round() as i64).clamp(0, i64::from(side - size))
    };
    let mut frame = GrayImage::new(side, side);
    imageops::replace(
        &mut frame,
        &digit,
        place(cx, new_width),
        place(cy, new_height),
    );
    Some(to_array(&frame))
}

/// White ink on black with the background at 0: inverted when the border is light, then the
/// border's median level subtracted and the rest stretched back to 0–255.
fn ink_on_black(gray: &GrayImage) -> GrayImage {
    let (width, height) = gray.dimensions();
    let mut border: Vec<u8> = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == width || *y + 1 == height)
        .map(|(_, _, p)| p.0[0])
        .collect();
    border.sort_unstable();
    let median = border[border.len() / 2];
    let invert = median > 127;
    let background = if invert { 255 - median } else { median };
    let range = f64::from(255 - background).max(1.0);
    GrayImage::from_fn(width, height, |x, y| {
        let value = gray.get_pixel(x, y).0[0];
        let ink = if invert { 255 - value } else { value };
        let level = f64::from(ink.saturating_sub(background)) * 255.0 / range;
        Luma([level.round().min(255.0) as u8])
    })
}

/// The smallest box (inclusive corners) holding every ink pixel.
fn ink_box(ink: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    let mut found: Option<(u32, u32, u32, u32)> = None;
    for (x, y, pixel) in ink.enumerate_pixels() {
        if pixel.0[0] > INK_LEVEL {
            found = Some(match found {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    found
}

/// The intensity-weighted centre, in pixel coordinates (pixel centres at +0.5).
fn centre_of_mass(image: &GrayImage) -> Option<(f64, f64)> {
    let (mut total, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y, pixel) in image.enumerate_pixels() {
        let weight = f64::from(pixel.0[0]);
        total += weight;
        sx += weight * (f64::from(x) + 0.5);
        sy += weight * (f64::from(y) + 0.5);
    }
    (total > 0.0).then(|| (sx / total, sy / total))
}

fn to_array(image: &GrayImage) -> [u8; IMAGE_PIXELS] {
    image.as_raw().as_slice().try_into().expect("a 28×28 frame")
}

/// Writes 28×28 MNIST bytes as a grayscale PNG (white ink on black), for tests and examples.
pub fn write_digit_png(path: &Path, pixels: &[u8; IMAGE_PIXELS]) -> Result<(), ImageError> {
    let side = IMAGE_SIDE as u32;
    let image = GrayImage::from_raw(side, side, pixels.to_vec()).expect("28×28 bytes");
    image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|e| ImageError::Decode {
            path: path.into(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "7"-like stroke in MNIST's frame: a bar and a diagonal, 20 pixels tall.
    fn seven() -> [u8; IMAGE_PIXELS] {
        let mut pixels = [0u8; IMAGE_PIXELS];
        for x in 8..20 {
            pixels[4 * IMAGE_SIDE + x] = 255;
            pixels[5 * IMAGE_SIDE + x] = 200;
        }
        for y in 6..24 {
            let x = 19 - (y - 6) / 3;
            pixels[y * IMAGE_SIDE + x] = 255;
            pixels[y * IMAGE_SIDE + x - 1] = 180;
        }
        pixels
    }

    fn image(pixels: &[u8], side: u32) -> GrayImage {
        GrayImage::from_raw(side, side, pixels.to_vec()).unwrap()
    }

    fn mean_abs_difference(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum::<f64>()
            / a.len() as f64
    }

    #[test]
    fn an_mnist_sample_is_taken_as_it_is_even_black_on_white() {
        let seven = seven();
        assert_eq!(mnist_shape(&image(&seven, 28)).unwrap(), seven);
        let inverted: Vec<u8> = seven.iter().map(|p| 255 - p).collect();
        assert_eq!(mnist_shape(&image(&inverted, 28)).unwrap(), seven);
    }

    #[test]
    fn a_large_grey_scan_is_shrunk_into_the_mnist_frame() {
        // Four times larger, dark ink on light-grey paper, off-centre on a wide canvas.
        let seven = seven();
        let big = imageops::resize(&image(&seven, 28), 112, 112, FilterType::Nearest);
        let mut scan = GrayImage::from_pixel(300, 200, Luma([230]));
        for (x, y, p) in big.enumerate_pixels() {
            let ink = f64::from(p.0[0]) / 255.0;
            scan.put_pixel(x + 20, y + 70, Luma([(230.0 - ink * 200.0) as u8]));
        }
        let shaped = mnist_shape(&scan).unwrap();
        // The same shape, moved so that its centre of mass is the frame's centre, up to
        // resampling blur.
        let (ox, oy) = centre_of_mass(&image(&seven, 28)).unwrap();
        let (dx, dy) = ((14.0 - ox).round() as i64, (14.0 - oy).round() as i64);
        let mut moved = GrayImage::new(28, 28);
        imageops::replace(&mut moved, &image(&seven, 28), dx, dy);
        let difference = mean_abs_difference(&shaped, moved.as_raw());
        assert!(difference < 12.0, "{difference}");
        let (cx, cy) = centre_of_mass(&image(&shaped, 28)).unwrap();
        assert!(
            (cx - 14.0).abs() <= 1.0 && (cy - 14.0).abs() <= 1.0,
            "{cx} {cy}"
        );
        let (x0, y0, x1, y1) = ink_box(&image(&shaped, 28)).unwrap();
        assert_eq!((x1 - x0 + 1).max(y1 - y0 + 1), DIGIT_BOX);
    }

    #[test]
    fn transparency_is_laid_over_white() {
        let mut drawing = image::GrayAlphaImage::new(2, 1);
        drawing.put_pixel(0, 0, image::LumaA([0, 0]));
        drawing.put_pixel(1, 0, image::LumaA([0, 255]));
        assert_eq!(over_white(&drawing).as_raw(), &vec![255, 0]);
    }

    #[test]
    fn unreadable_images_are_named_with_the_reason() {
        let dir = tempfile::TempDir::new().unwrap();
        let text = dir.path().join("digit.png");
        std::fs::write(&text, "not an image").unwrap();
        let err = read_digit(&text).unwrap_err().to_string();
        assert!(err.contains("digit.png is not a PNG image"), "{err}");
        let truncated = dir.path().join("cut.png");
        std::fs::write(&truncated, [PNG_SIGNATURE, &[0, 0, 0]].concat()).unwrap();
        let err = read_digit(&truncated).unwrap_err().to_string();
        assert!(err.contains("cut.png is not a readable PNG image"), "{err}");
        let blank = dir.path().join("blank.png");
        GrayImage::from_pixel(50, 40, Luma([255]))
            .save(&blank)
            .unwrap();
        let err = read_digit(&blank).unwrap_err().to_string();
        assert!(err.contains("shows nothing to classify"), "{err}");
        let missing = read_digit(&dir.path().join("none.png")).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }

    #[test]
    fn written_digits_read_back_unchanged() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("7.png");
        write_digit_png(&path, &seven()).unwrap();
        assert_eq!(read_digit(&path).unwrap(), seven());
    }
}
