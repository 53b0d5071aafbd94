//! Ranking metrics with binary relevance, exactly as `shared/baselines/PROTOCOLS.md` defines them, under
//! Personalize's metric names where one exists.

use std::collections::HashSet;

use serde::Serialize;

/// Per-list metrics of one top-k answer against a set of relevant items.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ListScore {
    /// precision@5, @10, @25.
    pub precision: [f64; 3],
    /// recall@10, @25 (hits / min(k, |truth|)).
    pub recall: [f64; 2],
    /// NDCG@5, @10, @25.
    pub ndcg: [f64; 3],
    /// Reciprocal rank of the first hit within 25, else 0.
    pub mrr_25: f64,
    /// 1 if any hit in the top 10.
    pub hit_10: f64,
}

fn dcg_at(ranked: &[u32], truth: &HashSet<u32>, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, i)| truth.contains(i))
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum()
}

fn ideal_dcg(k: usize, relevant: usize) -> f64 {
    (0..k.min(relevant)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum()
}

fn hits_at(ranked: &[u32], truth: &HashSet<u32>, k: usize) -> usize {
    ranked.iter().take(k).filter(|i| truth.contains(i)).count()
}

/// Scores one ranked list (best first) against the relevant items. `truth` must not be empty.
pub fn score_list(ranked: &[u32], truth: &HashSet<u32>) -> ListScore {
    let t = truth.len().max(1);
    let precision = [5, 10, 25].map(|k| hits_at(ranked, truth, k) as f64 / k as f64);
    let recall = [10, 25].map(|k| hits_at(ranked, truth, k) as f64 / k.min(t) as f64);
    let ndcg = [5, 10, 25].map(|k| dcg_at(ranked, truth, k) / ideal_dcg(k, t));
    let mrr_25 = ranked.iter().take(25).position(|i| truth.contains(i)).map(|r| 1.0 / (r + 1) as f64).unwrap_or(0.0);
    let hit_10 = if hits_at(ranked, truth, 10) > 0 { 1.0 } else { 0.0 };
    ListScore { precision, recall, ndcg, mrr_25, hit_10 }
}

/// Averages of [`ListScore`] over users, plus coverage: the HOLDOUT and PERSONALIZE report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OfflineMetrics {
    /// Distinct items recommended (top 25) over all evaluated users / distinct items in training data.
    pub coverage: f64,
    /// MRR@25.
    pub mean_reciprocal_rank_at_25: f64,
    /// NDCG@5.
    pub normalized_discounted_cumulative_gain_at_5: f64,
    /// NDCG@10.
    pub normalized_discounted_cumulative_gain_at_10: f64,
    /// NDCG@25.
    pub normalized_discounted_cumulative_gain_at_25: f64,
    /// precision@5.
    pub precision_at_5: f64,
    /// precision@10.
    pub precision_at_10: f64,
    /// precision@25.
    pub precision_at_25: f64,
    /// recall@10.
    pub recall_at_10: f64,
    /// recall@25.
    pub recall_at_25: f64,
    /// hit rate@10.
    pub hit_rate_at_10: f64,
    /// Users evaluated.
    pub evaluated_users: usize,
}

/// Accumulates list scores into [`OfflineMetrics`].
#[derive(Debug, Default)]
pub struct OfflineAccumulator {
    sum: ListScore,
    users: usize,
    recommended: HashSet<u32>,
}

impl OfflineAccumulator {
    /// Adds one user's top-25 answer.
    pub fn add(&mut self, ranked: &[u32], truth: &HashSet<u32>) {
        let s = score_list(ranked, truth);
        for k in 0..3 {
            self.sum.precision[k] += s.precision[k];
            self.sum.ndcg[k] += s.ndcg[k];
        }
        for k in 0..2 {
            self.sum.recall[k] += s.recall[k];
        }
        self.sum.mrr_25 += s.mrr_25;
        self.sum.hit_10 += s.hit_10;
        self.users += 1;
        self.recommended.extend(ranked.iter().take(25));
    }

    /// The averages; coverage is relative to `catalogue` distinct training items.
    pub fn finish(&self, catalogue: usize) -> OfflineMetrics {
        let n = self.users.max(1) as f64;
        OfflineMetrics {
            coverage: self.recommended.len() as f64 / catalogue.max(1) as f64,
            mean_reciprocal_rank_at_25: self.sum.mrr_25 / n,
            normalized_discounted_cumulative_gain_at_5: self.sum.ndcg[0] / n,
            normalized_discounted_cumulative_gain_at_10: self.sum.ndcg[1] / n,
            normalized_discounted_cumulative_gain_at_25: self.sum.ndcg[2] / n,
            precision_at_5: self.sum.precision[0] / n,
            precision_at_10: self.sum.precision[1] / n,
            precision_at_25: self.sum.precision[2] / n,
            recall_at_10: self.sum.recall[0] / n,
            recall_at_25: self.sum.recall[1] / n,
            hit_rate_at_10: self.sum.hit_10 / n,
            evaluated_users: self.users,
        }
    }
}

/// The NEXT (prequential) report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NextMetrics {
    /// Hit rate@10 over evaluated events.
    pub hit_rate_at_10: f64,
    /// MRR@10 over evaluated events.
    pub mean_reciprocal_rank_at_10: f64,
    /// Events evaluated.
    pub evaluated_events: usize,
    /// Test events skipped because the user had no earlier event.
    pub skipped_new_user: usize,
    /// Test events skipped because the item had no earlier event.
    pub skipped_new_item: usize,
    /// Test events skipped because the user already had the item.
    pub skipped_repeat: usize,
    /// Mean seconds per recommendation.
    pub seconds_per_recommendation: f64,
    /// Mean seconds to feed one event until it is reflected.
    pub seconds_per_event: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[u32]) -> HashSet<u32> {
        items.iter().copied().collect()
    }

    #[test]
    fn hand_computed_list() {
        // Hits at ranks 2 and 4 of a 25-long list; 3 relevant items.
        let mut ranked: Vec<u32> = (100..125).collect();
        ranked[1] = 1;
        ranked[3] = 2;
        let s = score_list(&ranked, &set(&[1, 2, 3]));
        assert_eq!(s.precision, [2.0 / 5.0, 2.0 / 10.0, 2.0 / 25.0]);
        assert_eq!(s.recall, [2.0 / 3.0, 2.0 / 3.0]);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((s.ndcg[0] - dcg / idcg).abs() < 1e-12);
        assert!((s.ndcg[2] - dcg / idcg).abs() < 1e-12);
        assert_eq!(s.mrr_25, 0.5);
        assert_eq!(s.hit_10, 1.0);
    }

    #[test]
    fn recall_divides_by_min_k_truth() {
        // 30 relevant items, 10 hits in the top 10: recall@10 = 10/10, recall@25 = 10/25.
        let ranked: Vec<u32> = (0..25).collect();
        let truth: HashSet<u32> = (0..10).chain(1000..1020).collect();
        let s = score_list(&ranked, &truth);
        assert_eq!(s.recall, [1.0, 10.0 / 25.0]);
        assert_eq!(s.ndcg[1], 1.0);
    }

    #[test]
    fn misses_score_zero_and_coverage_counts_distinct_items() {
        let mut acc = OfflineAccumulator::default();
        acc.add(&[5, 6, 7], &set(&[1]));
        acc.add(&[5, 8], &set(&[8]));
        let m = acc.finish(10);
        assert_eq!(m.evaluated_users, 2);
        assert_eq!(m.coverage, 4.0 / 10.0);
        assert_eq!(m.mean_reciprocal_rank_at_25, 0.25);
        assert_eq!(m.hit_rate_at_10, 0.5);
        assert_eq!(m.precision_at_5, (0.0 + 1.0 / 5.0) / 2.0);
    }
}
