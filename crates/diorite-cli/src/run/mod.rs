//! Running jobs: laying out their files ([`layout`]), generating their offsets ([`workload`]),
//! driving the engine ([`runner`]) and checking what was written ([`verify`]).

pub mod clock;
pub mod control;
pub mod cpu;
pub mod data;
pub mod flow;
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
