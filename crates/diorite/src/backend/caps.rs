//! What this machine offers the engine, each item probed rather than assumed: the backends
//! (as [`super::probe`] finds them), io_uring's opcodes, features and setup flags, the
//! system-wide AIO limit. For `diorite info` and for users who pick setups themselves.

use super::{BackendKind, BackendStatus};

/// One probed capability: whether it is available, and why (not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// The kernel's name for it (`SQPOLL` for `IORING_SETUP_SQPOLL`).
    pub name: &'static str,
    /// Whether it can be used here.
    pub available: bool,
    /// What the probe saw.
    pub reason: String,
}

/// io_uring as this kernel offers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uring {
    /// Opcodes the engine uses or could (`IORING_REGISTER_PROBE`): name, supported.
    pub opcodes: Vec<(&'static str, bool)>,
    /// `IORING_FEAT_*` of a plain ring: name, present.
    pub features: Vec<(&'static str, bool)>,
    /// Setup flags, each tried on a small ring.
    pub setup: Vec<Feature>,
}

/// Everything [`capabilities`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The running kernel's release (`uname -r`).
    pub kernel: String,
    /// Every backend, in `Auto`'s order of preference.
    pub backends: Vec<BackendStatus>,
    /// io_uring's details, or why no ring could be built.
    pub uring: Result<Uring, String>,
    /// `fs.aio-nr` and `fs.aio-max-nr` (Linux AIO contexts in use and allowed, system-wide).
    pub aio_nr: Option<(u64, u64)>,
}

/// Probes this machine (a few ring setups and reads of `/proc`; not for a hot path).
pub fn capabilities() -> Capabilities {
    let backends = super::probe();
    let uring_ok = backends
        .iter()
        .any(|b| b.kind == BackendKind::IoUring && b.available);
    let read = |n: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/proc/sys/fs/{n}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Capabilities {
        kernel: crate::sys::kernel_release(),
        uring: if uring_ok {
            super::uring::capabilities()
        } else {
            Err(backends
                .iter()
                .find(|b| b.kind == BackendKind::IoUring)
                .map_or_else(String::new, |b| b.reason.clone()))
        },
        backends,
        aio_nr: read("aio-nr").zip(read("aio-max-nr")),
    }
}
