//! Order statistics of a set of samples, the way BENCHMARKS.md reports them.

use std::time::Duration;

/// Sorted samples.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        Self(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile, `p` in 0–100.
    pub fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn min(&self) -> Duration {
        self.0[0]
    }

    pub fn max(&self) -> Duration {
        self.0[self.0.len() - 1]
    }

    /// `median (min – max, IQR a – b)`, in milliseconds.
    pub fn spread_ms(&self) -> String {
        format!(
            "median {} (min {} – max {}, IQR {} – {}; n={})",
            ms(self.median()),
            ms(self.min()),
            ms(self.max()),
            ms(self.percentile(25.0)),
            ms(self.percentile(75.0)),
            self.len()
        )
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = Samples::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(samples.median(), Duration::from_millis(50));
        assert_eq!(samples.percentile(95.0), Duration::from_millis(95));
        assert_eq!(samples.percentile(99.0), Duration::from_millis(99));
        assert_eq!(samples.percentile(100.0), Duration::from_millis(100));
        assert_eq!((samples.min(), samples.max()), (Duration::from_millis(1), Duration::from_millis(100)));
        let one = Samples::new(vec![Duration::from_millis(7)]);
        assert_eq!((one.median(), one.percentile(99.0)), (Duration::from_millis(7), Duration::from_millis(7)));
    }
}
