//! Quality measures, small enough to own: ROC-AUC (rank statistic with ties),
//! log loss, a calibration table, silhouette and the adjusted Rand index.

/// ROC-AUC: the chance that a random positive scores above a random negative
/// (ties count half). 0.5 is guessing, 1 is perfect.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks over ties.
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in &order[i..=j] {
            ranks[*k] = rank;
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Mean negative log-likelihood of the labels (natural log; lower is better).
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(labels)
        .map(|(p, l)| {
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            if *l {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n
}

/// One row of a calibration table: examples whose predicted chance fell in
/// a band, what was predicted on average and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationRow {
    pub from: f64,
    pub to: f64,
    pub count: usize,
    pub predicted: f64,
    pub observed: f64,
}

/// Five bands of equal size by predicted chance (quintiles).
pub fn calibration(probabilities: &[f64], labels: &[bool]) -> Vec<CalibrationRow> {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let bands = 5.min(order.len());
    let mut out = Vec::new();
    for b in 0..bands {
        let lo = b * order.len() / bands;
        let hi = (b + 1) * order.len() / bands;
        let slice = &order[lo..hi];
        if slice.is_empty() {
            continue;
        }
        let n = slice.len() as f64;
        out.push(CalibrationRow {
            from: probabilities[slice[0]],
            to: probabilities[slice[slice.len() - 1]],
            count: slice.len(),
            predicted: slice.iter().map(|&i| probabilities[i]).sum::<f64>() / n,
            observed: slice.iter().filter(|&&i| labels[i]).count() as f64 / n,
        });
    }
    out
}

fn distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Mean silhouette (−1 to 1; near 1: each point much closer to its own
/// cluster than to the next). Quadratic, so computed on at most `limit`
/// points taken evenly through the list.
pub fn silhouette(points: &[Vec<f64>], clusters: &[usize], limit: usize) -> f64 {
    let step = points.len().div_ceil(limit.max(1)).max(1);
    let idx: Vec<usize> = (0..points.len()).step_by(step).collect();
    let k = clusters.iter().copied().max().map_or(0, |m| m + 1);
    if k < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    let mut counted = 0;
    for &i in &idx {
        let mut sum = vec![0.0; k];
        let mut count = vec![0usize; k];
        for &j in &idx {
            if i != j {
                sum[clusters[j]] += distance(&points[i], &points[j]);
                count[clusters[j]] += 1;
            }
        }
        let own = clusters[i];
        if count[own] == 0 {
            continue;
        }
        let a = sum[own] / count[own] as f64;
        let b = (0..k)
            .filter(|&c| c != own && count[c] > 0)
            .map(|c| sum[c] / count[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            total += (b - a) / a.max(b).max(1e-12);
            counted += 1;
        }
    }
    if counted == 0 {
        0.0
    } else {
        total / counted as f64
    }
}

/// Adjusted Rand index of two labelings (1: the same partition, about 0: chance).
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let ka = a.iter().copied().max().map_or(0, |m| m + 1);
    let kb = b.iter().copied().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0u64; kb]; ka];
    for (x, y) in a.iter().zip(b) {
        table[*x][*y] += 1;
    }
    let c2 = |n: u64| (n * n.saturating_sub(1) / 2) as f64;
    let index: f64 = table.iter().flatten().map(|&n| c2(n)).sum();
    let rows: f64 = table.iter().map(|r| c2(r.iter().sum())).sum();
    let cols: f64 = (0..kb).map(|j| c2(table.iter().map(|r| r[j]).sum())).sum();
    let total = c2(a.len() as u64);
    let expected = rows * cols / total.max(1.0);
    let max = (rows + cols) / 2.0;
    if (max - expected).abs() < 1e-12 {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_known_orders() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            1.0
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            0.0
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), 0.5);
    }

    #[test]
    fn rand_index_ignores_label_names() {
        assert!(
            (adjusted_rand_index(&[0, 0, 1, 1, 2, 2], &[2, 2, 0, 0, 1, 1]) - 1.0).abs() < 1e-12
        );
        assert!(adjusted_rand_index(&[0, 0, 1, 1], &[0, 1, 0, 1]) < 0.1);
    }

    #[test]
    fn log_loss_and_calibration() {
        assert!((log_loss(&[0.5, 0.5], &[true, false]) - std::f64::consts::LN_2).abs() < 1e-12);
        let rows = calibration(
            &[0.1, 0.2, 0.3, 0.4, 0.5],
            &[false, false, true, false, true],
        );
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[2].observed, 1.0);
    }
}
