//! Running one job on its thread: [`runner`] runs its phases — the submit/reap loop
//! ([`main_phase`]) through the job's buffers and I/O path ([`issuer`]), then the read-back
//! ([`verify_phase`]) — from the job's parts: offsets ([`workload`], [`random`]), data
//! ([`data`], [`verify`], [`state`]), pacing ([`rate`], [`flow`], [`hold`], [`latency`], [`steady`]),
//! priorities and CPUs ([`prio`], [`cpu`]), logs ([`logs`]), file layout ([`layout`]).
//! What it produces is [`outcome`]'s.

pub mod clock;
pub mod control;
pub mod cpu;
pub mod crash;
pub mod data;
pub mod flow;
pub mod hold;
pub mod issuer;
pub mod latency;
pub mod layout;
pub mod logs;
pub mod main_phase;
pub mod outcome;
pub mod prio;
pub mod random;
pub mod rate;
pub mod runner;
pub mod state;
pub mod steady;
pub mod verify;
pub mod verify_phase;
pub mod workload;
