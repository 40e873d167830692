//! What the scheduler and a running job share: the stop conditions it watches, and the live
//! counters the progress line reads.

use crate::run::outcome::{JobResult, DIRS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What ends a job early: Ctrl-C (the run's flag; the job reports itself interrupted) or,
/// under fio's `exitall`, another job's end (this job's flag; it just ends, without its verify
/// phase, as fio's terminated jobs do).
#[derive(Clone, Copy)]
pub struct Stop<'a> {
    pub run: &'a AtomicBool,
    pub job: &'a AtomicBool,
}

impl Stop<'_> {
    pub fn any(&self) -> bool {
        // Relaxed: flags polled between I/Os; they order nothing.
        self.run.load(Ordering::Relaxed) || self.job.load(Ordering::Relaxed)
    }

    pub fn interrupted(&self) -> bool {
        // Relaxed: as above.
        self.run.load(Ordering::Relaxed)
    }
}

/// Live counters for the progress line, per direction. Written once per reap by the job thread alone (Relaxed: counters
/// read for display, ordering nothing).
#[derive(Default)]
pub struct Progress {
    pub ios: [AtomicU64; DIRS],
    pub bytes: [AtomicU64; DIRS],
    /// fio's `status-interval`: how often the job publishes a snapshot of its results.
    pub status_every: Option<Duration>,
    /// The latest snapshot (for the status printer).
    pub status: std::sync::Mutex<Option<JobResult>>,
}
