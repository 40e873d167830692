//! Latency and throughput accounting: per direction, submission (`slat`), completion (`clat`)
//! and total (`lat`) latency in nanoseconds — exact min/max/mean/stddev plus an HDR histogram
//! for percentiles. Recording allocates nothing.

use hdrhistogram::Histogram;

/// One latency series.
#[derive(Clone)]
pub struct Lat {
    pub hist: Histogram<u64>,
    pub n: u64,
    pub min: u64,
    pub max: u64,
    sum: f64,
    sumsq: f64,
}

impl Lat {
    pub fn new() -> Lat {
        Lat {
            // 1 ns .. 1 hour, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds"),
            n: 0,
            min: u64::MAX,
            max: 0,
            sum: 0.0,
            sumsq: 0.0,
        }
    }

    pub fn record(&mut self, ns: u64) {
        let ns = ns.max(1);
        self.hist.saturating_record(ns);
        self.n += 1;
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
        let x = ns as f64;
        self.sum += x;
        self.sumsq += x * x;
    }

    /// A series another program measured (fio's `io_stat` and histogram, from a server):
    /// `n` samples, their extremes, mean and `s` — the sum of squared differences from the
    /// mean — and `(value, count)` pairs for the histogram (fio's bucket values).
    pub fn from_summary(
        (n, min, max, mean, s): (u64, u64, u64, f64, f64),
        buckets: impl Iterator<Item = (u64, u64)>,
    ) -> Lat {
        let mut l = Lat::new();
        if n == 0 {
            return l;
        }
        for (v, c) in buckets.filter(|b| b.1 > 0) {
            l.hist.saturating_record_n(v.max(1), c);
        }
        l.n = n;
        l.min = min.max(1);
        l.max = max;
        l.sum = mean * n as f64;
        l.sumsq = s + n as f64 * mean * mean;
        l
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    pub fn stddev(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sumsq - self.sum * self.sum / n) / (n - 1.0))
            .max(0.0)
            .sqrt()
    }

    pub fn min(&self) -> u64 {
        if self.n == 0 {
            0
        } else {
            self.min
        }
    }

    /// Samples at or below `ns` (to the histogram's resolution).
    pub fn count_at_most(&self, ns: u64) -> u64 {
        if self.n == 0 || ns == 0 {
            return 0;
        }
        self.hist.count_between(0, ns.min(self.hist.high()))
    }

    pub fn percentile(&self, p: f64) -> u64 {
        if self.n == 0 {
            0
        } else {
            self.hist.value_at_percentile(p)
        }
    }

    pub fn merge(&mut self, o: &Lat) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.hist.add(&o.hist);
        self.n += o.n;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
        self.sumsq += o.sumsq;
    }
}

/// Everything measured for one direction (read, write, or sync).
#[derive(Clone)]
pub struct DirStats {
    pub ios: u64,
    pub bytes: u64,
    pub short_ios: u64,
    pub slat: Lat,
    pub clat: Lat,
    pub lat: Lat,
}

impl DirStats {
    pub fn new() -> DirStats {
        DirStats {
            ios: 0,
            bytes: 0,
            short_ios: 0,
            slat: Lat::new(),
            clat: Lat::new(),
            lat: Lat::new(),
        }
    }

    pub fn merge(&mut self, o: &DirStats) {
        self.ios += o.ios;
        self.bytes += o.bytes;
        self.short_ios += o.short_ios;
        self.slat.merge(&o.slat);
        self.clat.merge(&o.clat);
        self.lat.merge(&o.lat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_moments_and_histogram_percentiles() {
        let mut l = Lat::new();
        for v in 1..=1000u64 {
            l.record(v * 1000);
        }
        assert_eq!((l.n, l.min(), l.max), (1000, 1000, 1_000_000));
        assert!((l.mean() - 500_500.0).abs() < 1e-6);
        assert!((l.stddev() - 288_819.0).abs() < 1.0, "{}", l.stddev());
        let p50 = l.percentile(50.0);
        assert!((499_000..=501_000).contains(&p50), "{p50}");
        let mut m = Lat::new();
        m.record(5);
        m.merge(&l);
        assert_eq!((m.n, m.min(), m.max), (1001, 5, 1_000_000));
        assert_eq!(Lat::new().min(), 0);
    }
}
