//! Synchronisation primitives the engine is built from, each a lock-free protocol with its
//! invariants on its fields and loom models beside it: the completion [`ring`], the [`tags`]
//! allocator, the drain lock, and the reactor's kick.

pub(crate) mod drain;
#[cfg_attr(not(any(feature = "tokio", diorite_loom)), allow(dead_code))]
pub(crate) mod kick;
pub mod ring;
pub mod tags;
