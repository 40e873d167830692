//! fio's `flow` (flow.c): jobs sharing a `flow_id` keep their I/O counts in proportion to their
//! `flow` weights. Each flow has a shared counter (starting at 1) and the total weight of its
//! running jobs; before each I/O a job compares its own count's share of the shared counter
//! with its weight's share of the total, and when it is ahead it is held back (fio: drain what
//! is in flight and sleep `flow_sleep`); otherwise it counts the I/O in both counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// One flow's shared state. Relaxed throughout, as fio's: the counters are ratios read by the
/// jobs to pace themselves; they guard no memory and order nothing.
#[derive(Debug)]
pub struct Flow {
    /// 1 + the I/Os counted by the flow's running jobs (fio starts it at 1).
    counter: AtomicU64,
    /// The weights of the flow's running jobs.
    total_weight: AtomicU64,
}

impl Default for Flow {
    fn default() -> Flow {
        Flow {
            counter: AtomicU64::new(1),
            total_weight: AtomicU64::new(0),
        }
    }
}

/// One job's part in a flow, from its start to its end.
pub struct FlowJob<'a> {
    flow: &'a Flow,
    weight: u64,
    mine: u64,
}

impl<'a> FlowJob<'a> {
    /// The job joins the flow (fio's `flow_init_job`).
    pub fn join(flow: &'a Flow, weight: u64) -> FlowJob<'a> {
        // Relaxed: see `Flow`.
        flow.total_weight.fetch_add(weight, Ordering::Relaxed);
        FlowJob {
            flow,
            weight,
            mine: 0,
        }
    }

    /// Whether the job is ahead of its share and must be held back (fio's
    /// `flow_threshold_exceeded`); if not, the I/O it is about to issue is counted.
    pub fn exceeded(&mut self) -> bool {
        // Relaxed: see `Flow`.
        let shared = self.flow.counter.load(Ordering::Relaxed).max(1);
        let total = self.flow.total_weight.load(Ordering::Relaxed).max(1);
        if self.mine as f64 / shared as f64 > self.weight as f64 / total as f64 {
            return true;
        }
        // Relaxed: see `Flow`.
        self.flow.counter.fetch_add(1, Ordering::Relaxed);
        self.mine += 1;
        false
    }
}

impl Drop for FlowJob<'_> {
    /// The job leaves the flow with its counts (fio's `flow_exit_job`).
    fn drop(&mut self) {
        // Relaxed: see `Flow`.
        self.flow.counter.fetch_sub(self.mine, Ordering::Relaxed);
        self.flow
            .total_weight
            .fetch_sub(self.weight, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two jobs taking turns as fast as the flow lets them end up in their weights' ratio.
    #[test]
    fn counts_follow_the_weights() {
        let f = Flow::default();
        let (mut a, mut b) = (FlowJob::join(&f, 1), FlowJob::join(&f, 8));
        for _ in 0..9000 {
            a.exceeded();
            b.exceeded();
        }
        let ratio = b.mine as f64 / a.mine as f64;
        assert!((7.5..8.5).contains(&ratio), "{} {}", a.mine, b.mine);
        drop(a);
        drop(b);
        assert_eq!(f.counter.load(Ordering::Relaxed), 1);
        assert_eq!(f.total_weight.load(Ordering::Relaxed), 0);
    }
}
