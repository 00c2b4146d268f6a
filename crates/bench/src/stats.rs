//! Latency percentiles over raw samples (nanoseconds), reported in microseconds.

use serde::Serialize;

/// Percentiles of one set of samples, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Nearest-rank percentile of sorted samples; `p` in 0–100.
fn rank(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let idx = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[idx.clamp(1, n) - 1]
}

/// Sorts `samples` (nanoseconds) and summarises them; `None` when there are none.
pub fn summarize(samples: &mut [u64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let us = |ns: u64| ns as f64 / 1_000.0;
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    Some(Summary {
        count: samples.len(),
        mean: sum as f64 / samples.len() as f64 / 1_000.0,
        p50: us(rank(samples, 50.0)),
        p90: us(rank(samples, 90.0)),
        p99: us(rank(samples, 99.0)),
        p999: us(rank(samples, 99.9)),
        max: us(samples[samples.len() - 1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<u64> = (1..=100).map(|i| i * 1_000).collect();
        v.reverse();
        let s = summarize(&mut v).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, 50.0);
        assert_eq!(s.p90, 90.0);
        assert_eq!(s.p99, 99.0);
        assert_eq!(s.p999, 100.0);
        assert_eq!(s.max, 100.0);
        assert!((s.mean - 50.5).abs() < 1e-9);
    }

    #[test]
    fn one_and_none() {
        assert!(summarize(&mut []).is_none());
        let s = summarize(&mut [2_500]).unwrap();
        assert_eq!((s.p50, s.p99, s.max), (2.5, 2.5, 2.5));
    }
}
