//! The pictures of `bnx eval`: the confusion matrix as a heat map with counts, and a grid of
//! the test images the network got wrong most confidently.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::charts::{BN_COLOR, encode_png, register};
use super::error::ReportError;
use crate::data::idx::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::runtime::write_atomic;

const CELL: i32 = 62;
/// Each digit of the mistakes grid is drawn at this many screen pixels per image pixel.
const ZOOM: i32 = 4;
const COLUMNS: usize = 8;

/// A 10×10 heat map: rows are the true classes, columns the predictions. Each cell shows its
/// count; its colour is the count's share of its row (so the off-diagonal errors show against
/// the ~1,000 correct ones), on a square-root scale.
pub fn render_confusion(
    path: &Path,
    title: &str,
    confusion: &[Vec<usize>],
    names: &[&str],
) -> Result<(), ReportError> {
    let classes = confusion.len() as i32;
    let label_width = names.iter().map(|n| n.len()).max().unwrap_or(1) as i32 * 8 + 60;
    let (left, top) = (label_width, 110);
    let width = (left + classes * CELL + 110) as u32;
    let height = (top + classes * CELL + 60) as u32;
    render_png(path, (width, height), |root| {
        let text = |size: i32| ("sans-serif", size).into_font().color(&BLACK);
        let centred = Pos::new(HPos::Center, VPos::Center);
        root.draw(&Text::new(title, (20, 18), text(20)))?;
        root.draw(&Text::new(
            "predicted",
            (left + classes * CELL / 2, 58),
            text(16).pos(centred),
        ))?;
        root.draw(&Text::new(
            "true",
            (18, top + classes * CELL / 2),
            text(16).pos(centred).transform(FontTransform::Rotate270),
        ))?;
        for (i, name) in names.iter().enumerate() {
            let at = i as i32 * CELL + CELL / 2;
            let short = shorten(name);
            root.draw(&Text::new(
                short.clone(),
                (left + at, top - 16),
                text(13).pos(centred),
            ))?;
            root.draw(&Text::new(
                short,
                (left - 10, top + at),
                text(13).pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        draw_cells(root, confusion, (left, top))?;
        root.draw(&Text::new(
            "samples",
            (left + classes * CELL + 12, top - 16),
            text(13).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        root.draw(&Text::new(
            "colour: share of the row (square-root scale); numbers: counts",
            (left, top + classes * CELL + 30),
            text(13),
        ))?;
        Ok(())
    })
}

/// The matrix's cells from `(left, top)`, each shaded by its share of the row and labelled with
/// its count, and each row's total on the right.
fn draw_cells<'a>(
    root: &Area<'a>,
    confusion: &[Vec<usize>],
    (left, top): (i32, i32),
) -> Result<(), DrawError<'a>> {
    let classes = confusion.len() as i32;
    let centred = Pos::new(HPos::Center, VPos::Center);
    for (row, counts) in confusion.iter().enumerate() {
        let total: usize = counts.iter().sum::<usize>().max(1);
        for (column, &count) in counts.iter().enumerate() {
            let share = (count as f64 / total as f64).sqrt();
            let (x, y) = (left + column as i32 * CELL, top + row as i32 * CELL);
            root.draw(&Rectangle::new(
                [(x, y), (x + CELL, y + CELL)],
                blend(share).filled(),
            ))?;
            root.draw(&Rectangle::new(
                [(x, y), (x + CELL, y + CELL)],
                RGBColor(220, 220, 220),
            ))?;
            if count > 0 {
                let ink = if share > 0.6 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    count.to_string(),
                    (x + CELL / 2, y + CELL / 2),
                    ("sans-serif", 15).into_font().color(&ink).pos(centred),
                ))?;
            }
        }
        // Row total on the right: how many samples of the class there are.
        root.draw(&Text::new(
            format!("{total}"),
            (
                left + classes * CELL + 12,
                top + row as i32 * CELL + CELL / 2,
            ),
            ("sans-serif", 13)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// One picture of the mistakes grid: the image as the network saw it and its caption.
pub struct Tile {
    pub pixels: [u8; IMAGE_PIXELS],
    pub caption: String,
}

/// The tiles in rows of eight, each image enlarged four times, white ink on black as MNIST
/// stores it, with its caption underneath.
pub fn render_mistakes(path: &Path, title: &str, tiles: &[Tile]) -> Result<(), ReportError> {
    let side = IMAGE_SIDE as i32 * ZOOM;
    let (tile_width, tile_height) = (side + 60, side + 40);
    let rows = tiles.len().div_ceil(COLUMNS).max(1) as i32;
    let width = (COLUMNS as i32 * tile_width + 20) as u32;
    let height = (60 + rows * tile_height + 10) as u32;
    render_png(path, (width, height), |root| {
        let text = |size: i32| ("sans-serif", size).into_font().color(&BLACK);
        root.draw(&Text::new(title, (20, 18), text(20)))?;
        if tiles.is_empty() {
            root.draw(&Text::new("no mistakes", (20, 70), text(16)))?;
        }
        for (i, tile) in tiles.iter().enumerate() {
            let x = 10 + (i % COLUMNS) as i32 * tile_width + 30;
            let y = 60 + (i / COLUMNS) as i32 * tile_height;
            for (p, &value) in tile.pixels.iter().enumerate() {
                let (px, py) = ((p % IMAGE_SIDE) as i32, (p / IMAGE_SIDE) as i32);
                let corner = (x + px * ZOOM, y + py * ZOOM);
                root.draw(&Rectangle::new(
                    [corner, (corner.0 + ZOOM, corner.1 + ZOOM)],
                    RGBColor(value, value, value).filled(),
                ))?;
            }
            root.draw(&Text::new(
                tile.caption.clone(),
                (x + side / 2, y + side + 16),
                text(13).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
        Ok(())
    })
}

/// White to the BatchNorm blue, by `share` in [0, 1].
fn blend(share: f64) -> RGBColor {
    let mix = |to: u8| (255.0 - share * (255.0 - f64::from(to))).round() as u8;
    RGBColor(mix(BN_COLOR.0), mix(BN_COLOR.1), mix(BN_COLOR.2))
}

/// Class names as axis labels: at most 11 characters ("T-shirt/top" fits).
fn shorten(name: &str) -> String {
    name.chars().take(11).collect()
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type DrawError<'a> = DrawingAreaErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

fn render_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl for<'a> FnOnce(&Area<'a>) -> Result<(), DrawError<'a>>,
) -> Result<(), ReportError> {
    register();
    let fail = |e: &dyn std::fmt::Display| ReportError::Chart {
        path: path.into(),
        message: e.to_string(),
    };
    let mut rgb = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        draw(&root).map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
    }
    let bytes = encode_png(&rgb, width, height).map_err(|e| fail(&e))?;
    Ok(write_atomic(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info.width, info.height, buf)
    }

    #[test]
    fn confusion_cells_are_coloured_by_their_share_of_the_row() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("confusion.png");
        let mut confusion = vec![vec![0; 10]; 10];
        for (i, row) in confusion.iter_mut().enumerate() {
            row[i] = 100;
        }
        confusion[3][5] = 100;
        let names = crate::data::DatasetKind::Mnist.class_names();
        render_confusion(&path, "test", &confusion, &names).unwrap();
        let (width, _, rgb) = decode(&path);
        let pixel = |x: i32, y: i32| {
            let at = ((y as u32 * width + x as u32) * 3) as usize;
            [rgb[at], rgb[at + 1], rgb[at + 2]]
        };
        // The widest MNIST class name is one character: 8 pixels plus the margin.
        let label_width = 8 + 60;
        // A full diagonal cell is the full colour; row 3's two halves are lighter; an empty
        // cell stays white. Sampled near a cell corner, away from the count.
        let cell =
            |row: i32, column: i32| pixel(label_width + column * CELL + 5, 110 + row * CELL + 5);
        assert_eq!(cell(0, 0), [BN_COLOR.0, BN_COLOR.1, BN_COLOR.2]);
        let half = blend(0.5f64.sqrt());
        assert_eq!(cell(3, 5), [half.0, half.1, half.2]);
        assert_eq!(cell(3, 3), cell(3, 5));
        assert_eq!(cell(0, 1), [255, 255, 255]);
    }

    #[test]
    fn mistakes_grid_shows_each_digit_enlarged() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("mistakes.png");
        let mut pixels = [0u8; IMAGE_PIXELS];
        pixels[0] = 255;
        let tiles: Vec<Tile> = (0..9)
            .map(|i| Tile {
                pixels,
                caption: format!("true {i} → 3 (99%)"),
            })
            .collect();
        render_mistakes(&path, "test", &tiles).unwrap();
        let (width, height, rgb) = decode(&path);
        let side = IMAGE_SIDE as i32 * ZOOM;
        assert_eq!(width, (COLUMNS as i32 * (side + 60) + 20) as u32);
        assert_eq!(
            height,
            (60 + 2 * (side + 40) + 10) as u32,
            "two rows for nine tiles"
        );
        // The first tile's top-left image pixel is white and ZOOM screen pixels wide; the
        // next image pixel is black.
        let at = |x: i32, y: i32| rgb[((y as u32 * width + x as u32) * 3) as usize];
        let (x, y) = (40, 60);
        assert_eq!(at(x, y), 255);
        assert_eq!(at(x + ZOOM - 1, y + ZOOM - 1), 255);
        assert_eq!(at(x + ZOOM, y), 0);
    }
}
