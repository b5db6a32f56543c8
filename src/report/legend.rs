//! Where a chart's legend box sits: a fixed corner, or the one that hides the fewest points.

use super::charts::Curve;

/// Where the legend box sits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Legend {
    /// The corner with the fewest data points under it.
    Auto,
    LowerRight,
    UpperRight,
    LowerLeft,
    UpperLeft,
}

/// The legend corner that hides the fewest points: each corner's box is a third of the width
/// and a third of the height of the plot.
pub(super) fn emptiest_corner(
    curves: &[(&Curve, Vec<(f64, f64, f64)>)],
    x: (f64, f64),
    y: (f64, f64),
) -> Legend {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::charts::BN_COLOR;

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
