//! The legend: the corner that hides the fewest points, and its box.

use plotters::prelude::*;

use super::panel::{Chart, DrawResult, Legend, Plotted};

/// Where `wanted` puts the legend on a panel spanning `x` × `y`: the emptiest corner for
/// [`Legend::Auto`], else where it says.
pub fn place(wanted: Legend, curves: &[Plotted], x: (f64, f64), y: (f64, f64)) -> Legend {
    match wanted {
        Legend::Auto => emptiest_corner(curves, x, y),
        fixed => fixed,
    }
}

/// The legend corner that hides the fewest points: each corner's box is a third of the width
/// and a third of the height of the plot.
fn emptiest_corner(curves: &[Plotted], x: (f64, f64), y: (f64, f64)) -> Legend {
    let corners = [
        Legend::LowerRight,
        Legend::UpperRight,
        Legend::LowerLeft,
        Legend::UpperLeft,
    ];
    let hidden = |corner: Legend| {
        let (right, upper) = match corner {
            Legend::LowerRight => (true, false),
            Legend::UpperRight => (true, true),
            Legend::LowerLeft => (false, false),
            _ => (false, true),
        };
        curves
            .iter()
            .flat_map(|(_, points)| points.iter())
            .filter(|p| {
                let fx = (p.0 - x.0) / (x.1 - x.0);
                let fy = (p.1 - y.0) / (y.1 - y.0);
                (if right {
                    fx > 2.0 / 3.0
                } else {
                    fx < 1.0 / 3.0
                }) && (if upper {
                    fy > 2.0 / 3.0
                } else {
                    fy < 1.0 / 3.0
                })
            })
            .count()
    };
    corners
        .into_iter()
        .min_by_key(|c| hidden(*c))
        .unwrap_or(Legend::UpperRight)
}

/// The legend box with every labelled series' key, in the `legend` corner.
pub fn draw<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    legend: Legend,
) -> DrawResult<DB> {
    let position = match legend {
        Legend::Auto | Legend::LowerRight => SeriesLabelPosition::LowerRight,
        Legend::UpperRight => SeriesLabelPosition::UpperRight,
        Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
        Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
    };
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 15))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::panel::{BN_COLOR, Curve};

    #[test]
    fn auto_legend_avoids_the_data() {
        let rising = Curve::line(
            "a",
            BN_COLOR,
            vec![(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)],
        );
        let points: Vec<(f64, f64, f64)> = rising.points.iter().map(|p| (p.0, p.1, 0.0)).collect();
        let corner = emptiest_corner(&[(&rising, points)], (0.0, 3.0), (0.0, 3.0));
        assert!(
            matches!(corner, Legend::LowerRight | Legend::UpperLeft),
            "{corner:?}"
        );
    }
}
