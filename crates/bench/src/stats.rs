//! Medians and ratios. Round-trip rates on a shared machine vary up to 2× between runs, so the
//! bench repeats each measurement in interleaved rounds and quotes medians, not means.

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// The median of the per-round ratios `a[i] / b[i]`.
///
/// Pairing by round cancels most of the machine's drift: both servers ran in the same
/// round, a few seconds apart, so a slow moment hurts both.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, b)| **b > 0.0)
        .map(|(a, b)| a / b)
        .collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn ratios_are_paired_by_round() {
        assert_eq!(
            paired_ratio(&[2.0, 10.0, 3.0], &[1.0, 10.0, 1.0]),
            Some(2.0)
        );
        assert_eq!(paired_ratio(&[1.0], &[0.0]), None);
    }
}
