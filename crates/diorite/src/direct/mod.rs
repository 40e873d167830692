//! The O_DIRECT model: files and their probed geometry ([`file`]), aligned buffers ([`buf`]),
//! requests ([`request`]), their validation against the geometry (`dio`), bounce buffers for
//! unaligned I/O ([`bounce`]), the ordered-size protocol of extending writes (`size`), a request
//! performed in the calling thread (`execute`, and `space` for discard and write-zeroes: shared
//! by the thread pool, AIO's in-caller path and the kernel backends' fallbacks), and the
//! one-shot calls (`oneshot`).

pub mod bounce;
pub mod buf;
pub(crate) mod dio;
pub(crate) mod execute;
pub mod file;
pub(crate) mod oneshot;
pub mod request;
pub(crate) mod size;
pub(crate) mod space;
