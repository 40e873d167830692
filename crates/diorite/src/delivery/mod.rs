//! How completions reach futures: the driver thread that completes them when no runtime's
//! reactor watches the context, and the tokio reactor integration (a watcher on the completion
//! fd, and a rescue thread). The context starts them; the futures ([`crate::future`]) only
//! register wakers.

pub(crate) mod driver;
pub(crate) mod reactor;
