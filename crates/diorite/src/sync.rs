//! Synchronization facade: std types normally, loom's under `cfg(diorite_loom)` so the lock-free code in
//! [`crate::primitives::ring`] and [`crate::primitives::tags`] can be model-checked unchanged (the tokio/crossbeam pattern).
//! Every atomic of the crate comes from here, except process-wide statics, which need a const
//! constructor (the fork counter, the SUBMIT_ALL probe, the tokio context ids) and take part in
//! no modelled protocol.

#[cfg(diorite_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(diorite_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(diorite_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(diorite_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(diorite_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure-based access API, so call sites are identical.
#[cfg(not(diorite_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(diorite_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    /// Runs `f` with a shared raw pointer to the contents; the caller's `unsafe` dereference
    /// carries the aliasing argument.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a mutable raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks a mutex, treating poisoning as recoverable: every critical section in this crate leaves
/// its data consistent at each step, so a panic elsewhere does not invalidate it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(diorite_loom)]
    {
        m.lock().unwrap()
    }
    #[cfg(not(diorite_loom))]
    {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Exponential backoff for contended retry loops: crossbeam's `Backoff`, or a loom yield so the
/// model checker schedules the thread we are waiting for.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    #[cfg(not(diorite_loom))]
    inner: crossbeam_utils::Backoff,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff::default()
    }

    /// Backs off in a lock-free retry loop (another thread made progress).
    pub(crate) fn spin(&self) {
        #[cfg(not(diorite_loom))]
        self.inner.spin();
        #[cfg(diorite_loom)]
        loom::thread::yield_now();
    }

    /// Whether backing off has gone on long enough that the caller should block instead (under
    /// loom at once: a model does not spin).
    pub(crate) fn is_completed(&self) -> bool {
        #[cfg(not(diorite_loom))]
        return self.inner.is_completed();
        #[cfg(diorite_loom)]
        true
    }

    /// Backs off while waiting for another thread to finish a short critical step.
    pub(crate) fn snooze(&self) {
        #[cfg(not(diorite_loom))]
        self.inner.snooze();
        #[cfg(diorite_loom)]
        loom::thread::yield_now();
    }
}
