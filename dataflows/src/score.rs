//! Pure scoring functions shared by the dataflows and the reference model, so both compute bit-identical values.

use crate::types::{Affinity, AffinityParams, EventTypeId, Seconds, Similarity, AFFINITY_SCALE};

/// Normalised similarity of items `a` and `b` from their co-count `c` and their window counts `na`, `nb`.
pub fn similarity(kind: Similarity, c: isize, na: isize, nb: isize) -> f64 {
    let (c, na, nb) = (c as f64, na.max(1) as f64, nb.max(1) as f64);
    match kind {
        Similarity::Cosine => c / (na * nb).sqrt(),
        Similarity::Jaccard => c / (na + nb - c).max(1.0),
        Similarity::Lift => c / (na * nb),
    }
}

/// Trend bucket of an event time.
pub fn trend_bucket(timestamp: Seconds, width: Seconds) -> i64 {
    timestamp.div_euclid(width.max(1))
}

/// The decayed affinity of one (user, item) from its events, given in ascending `(timestamp, event_type)`
/// order with multiplicities. Summed in log space (`max + log2 Σ 2^(x − max)`) so it cannot overflow.
pub fn affinity<'a>(
    events: impl Iterator<Item = (&'a (Seconds, EventTypeId), isize)> + Clone,
    params: &AffinityParams,
) -> Option<Affinity> {
    let half_life = params.half_life_secs.max(1) as f64;
    let exponent = |ts: Seconds| (ts - params.origin) as f64 / half_life;
    let max =
        events.clone().filter(|(_, n)| *n > 0).map(|((ts, _), _)| exponent(*ts)).fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return None;
    }
    let sum: f64 = events
        .filter(|(_, n)| *n > 0)
        .map(|((ts, et), n)| n as f64 * params.weight(*et) * (exponent(*ts) - max).exp2())
        .sum();
    if sum <= 0.0 {
        return None;
    }
    Some(Affinity { log2_fixed: ((max + sum.log2()) * AFFINITY_SCALE).round() as i64 })
}

/// The activity (event count) at the `percentile`-th percentile of users, from a histogram of
/// `(events, users with that many events)` in ascending order: the smallest count `n` such that at least
/// `ceil(percentile / 100 · users)` users have `n` events or fewer. Users above it are extreme.
pub fn activity_threshold(histogram: impl Iterator<Item = (isize, isize)> + Clone, percentile: f64) -> Option<isize> {
    let users: isize = histogram.clone().map(|(_, c)| c).sum();
    if users <= 0 {
        return None;
    }
    let target = ((percentile.clamp(0.0, 100.0) / 100.0) * users as f64).ceil().max(1.0) as isize;
    let mut seen = 0;
    for (n, c) in histogram {
        seen += c;
        if seen >= target {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_threshold_is_the_percentile_of_users() {
        // 8 users with 1 event, 1 with 5, 1 with 100.
        let histogram = [(1, 8), (5, 1), (100, 1)];
        assert_eq!(activity_threshold(histogram.iter().copied(), 80.0), Some(1));
        assert_eq!(activity_threshold(histogram.iter().copied(), 90.0), Some(5));
        assert_eq!(activity_threshold(histogram.iter().copied(), 100.0), Some(100));
        assert_eq!(activity_threshold(std::iter::empty(), 90.0), None);
    }
}
