//! Owned, aligned I/O memory: [`AlignedBuf`] and the per-context cache [`BufPool`].
//!
//! A request owns its buffers until its completion hands them back (the owned-buffer model):
//! dropping a [`Context`](crate::Context) or canceling a request never frees memory that the
//! kernel may still write into, because the memory is only reachable through the request's slot
//! until the I/O has finished.

use crate::direct::file::DirectFile;
use crate::error::{Error, ErrorKind, Result};
use crate::primitives::ring::Ring;
use std::alloc::{self, Layout};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::Arc;

/// A heap buffer whose address is aligned for direct I/O. Zeroed when created with
/// [`AlignedBuf::new`]; a buffer from a [`BufPool`] holds whatever its last user left in it.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    /// The alignment (a power of two, at most 2^31).
    align: u32,
    /// The buffer's index in `pool`, when pooled.
    index: u32,
    /// `Some` when the memory belongs to a pool: dropping returns it there instead of freeing.
    pool: Option<Arc<PoolInner>>,
}

// SAFETY: AlignedBuf uniquely owns its memory (like `Box<[u8]>`); the pool handle is an `Arc`
// of a `Sync` type.
unsafe impl Send for AlignedBuf {}
// SAFETY: `&AlignedBuf` only gives out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

fn check_layout(op: &'static str, len: usize, align: usize) -> Result<Layout> {
    if len == 0 {
        return Err(Error::new(ErrorKind::InvalidInput, op)
            .with_detail("buffer length 0 (required: at least 1 byte)"));
    }
    if !align.is_power_of_two() || align > 1 << 31 {
        return Err(Error::new(ErrorKind::InvalidInput, op).with_detail(format!(
            "alignment {align} is not a power of two up to 2^31"
        )));
    }
    Layout::from_size_align(len, align).map_err(|_| {
        Error::new(ErrorKind::InvalidInput, op).with_detail(format!(
            "buffer of {len} bytes aligned to {align} is too large"
        ))
    })
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes at an address aligned to `align`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when `len` is 0, `align` is not a power of two, or the size
    /// overflows; [`ErrorKind::Os`] (`ENOMEM`) when the allocation fails.
    ///
    /// # Examples
    /// ```
    /// let mut b = diorite::AlignedBuf::new(4096, 512)?;
    /// assert_eq!(b.as_ptr() as usize % 512, 0);
    /// b[0] = 1;
    /// # Ok::<(), diorite::Error>(())
    /// ```
    pub fn new(len: usize, align: usize) -> Result<AlignedBuf> {
        let layout = check_layout("AlignedBuf::new", len, align)?;
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).ok_or_else(|| Error::os("AlignedBuf::new", libc::ENOMEM))?;
        Ok(AlignedBuf {
            ptr,
            len,
            align: align as u32,
            index: 0,
            pool: None,
        })
    }

    /// A zeroed buffer of `len` bytes aligned for `file`: at
    /// [`Geometry::buf_align`](crate::Geometry::buf_align) (`max(mem_align, page size)`), so a
    /// block-sized buffer never straddles two pages. `mem_align` stays the minimum that
    /// validation accepts for memory the caller aligns itself.
    ///
    /// # Errors
    /// As [`AlignedBuf::new`].
    pub fn for_file(file: &DirectFile, len: usize) -> Result<AlignedBuf> {
        AlignedBuf::new(len, file.geometry().buf_align() as usize)
    }

    /// A buffer of no bytes that owns no memory: what a single-buffer future that was polled
    /// again after it completed hands back (`future.rs`), so misuse gets an error, not a panic.
    pub(crate) fn empty() -> AlignedBuf {
        AlignedBuf {
            ptr: NonNull::dangling(),
            len: 0,
            align: 1,
            index: 0,
            pool: None,
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is zero (never for a constructed buffer; only for the placeholder a
    /// future polled after completion returns).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The alignment the buffer was created with.
    pub fn align(&self) -> usize {
        self.align as usize
    }

    /// Whether the buffer came from a [`BufPool`].
    pub fn is_pooled(&self) -> bool {
        self.pool.is_some()
    }

    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` initialized bytes (zeroed at allocation, or written
        // since) and uniquely owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        match self.pool.take() {
            Some(pool) => pool.put(self.index),
            // `empty`: nothing was allocated.
            None if self.len == 0 => {}
            None => {
                // SAFETY: allocated in `new` with exactly this layout (checked there).
                unsafe {
                    alloc::dealloc(
                        self.ptr.as_ptr(),
                        Layout::from_size_align_unchecked(self.len, self.align as usize),
                    )
                }
            }
        }
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("addr", &format_args!("{:#x}", self.addr()))
            .field("len", &self.len)
            .field("align", &self.align)
            .field("pooled", &self.pool.is_some())
            .finish()
    }
}

struct PoolInner {
    /// One allocation holding `count` buffers of `stride` bytes (`stride` = `len` rounded up to
    /// `align`); freed when the pool and every buffer from it are gone.
    base: NonNull<u8>,
    layout: Layout,
    stride: usize,
    len: usize,
    align: usize,
    count: u32,
    /// Indices of free buffers. Capacity >= count, so returning a buffer never fails.
    free: Ring<u32>,
}

// SAFETY: the memory is only handed out through `AlignedBuf`s, one owner per index; the free list
// is a `Sync` ring.
unsafe impl Send for PoolInner {}
// SAFETY: as above.
unsafe impl Sync for PoolInner {}

impl PoolInner {
    fn put(&self, index: u32) {
        // The ring holds every index at once, so `push_wait` (whose "full" verdict is exact)
        // cannot fail; should the invariant ever break, the index is lost (the pool shrinks)
        // rather than a panic inside a `Drop`.
        let r = self.free.push_wait(index);
        debug_assert!(r.is_ok(), "BufPool free list overflow (invariant broken)");
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: allocated in `BufPool::new` with `self.layout`; no buffer is outstanding, since
        // every buffer holds an `Arc` of this pool.
        unsafe { alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// A bounded, preallocated cache of equal-sized aligned buffers. Getting and returning a buffer
/// takes no lock and no allocation; a pooled buffer returns to its pool when dropped.
///
/// # Examples
/// ```
/// let pool = diorite::BufPool::new(4, 4096, 512)?;
/// let b = pool.get().unwrap();
/// assert_eq!(pool.available(), 3);
/// drop(b);
/// assert_eq!(pool.available(), 4);
/// # Ok::<(), diorite::Error>(())
/// ```
#[derive(Clone)]
pub struct BufPool {
    inner: Arc<PoolInner>,
}

impl BufPool {
    /// A pool of `count` buffers of `len` bytes aligned to `align`, all allocated (and zeroed) now.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for `count == 0`, `count > 2^31` or a bad `len`/`align`;
    /// [`ErrorKind::Os`] (`ENOMEM`) when the allocation fails.
    pub fn new(count: usize, len: usize, align: usize) -> Result<BufPool> {
        const OP: &str = "BufPool::new";
        check_layout(OP, len, align)?;
        if count == 0 || count > crate::primitives::ring::MAX_CAPACITY {
            return Err(Error::new(ErrorKind::InvalidInput, OP)
                .with_detail(format!("count {count} is out of range")));
        }
        let stride = len.div_ceil(align) * align;
        let total = stride.checked_mul(count).ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, OP)
                .with_detail(format!("{count} buffers of {len} bytes overflow"))
        })?;
        let layout = check_layout(OP, total, align)?;
        // SAFETY: non-zero size (checked).
        let base = NonNull::new(unsafe { alloc::alloc_zeroed(layout) })
            .ok_or_else(|| Error::os(OP, libc::ENOMEM))?;
        let free = match Ring::with_capacity(count) {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: allocated just above with `layout`; nothing refers to it yet.
                unsafe { alloc::dealloc(base.as_ptr(), layout) };
                return Err(e);
            }
        };
        for i in 0..count as u32 {
            let r = free.try_push(i);
            debug_assert!(r.is_ok());
        }
        Ok(BufPool {
            inner: Arc::new(PoolInner {
                base,
                layout,
                stride,
                len,
                align,
                count: count as u32,
                free,
            }),
        })
    }

    /// A pool of `count` buffers of `len` bytes aligned for `file`: at
    /// [`Geometry::buf_align`](crate::Geometry::buf_align), `max(mem_align, page size)`.
    ///
    /// # Errors
    /// As [`BufPool::new`].
    pub fn for_file(file: &DirectFile, count: usize, len: usize) -> Result<BufPool> {
        BufPool::new(count, len, file.geometry().buf_align() as usize)
    }

    /// Takes a free buffer, or `None` when all are in use.
    pub fn get(&self) -> Option<AlignedBuf> {
        let index = self.inner.free.try_pop()?;
        // SAFETY: index < count, so the offset stays inside the pool's allocation.
        let ptr = unsafe { self.inner.base.add(index as usize * self.inner.stride) };
        Some(AlignedBuf {
            ptr,
            len: self.inner.len,
            align: self.inner.align as u32,
            index,
            pool: Some(self.inner.clone()),
        })
    }

    /// Buffers currently free.
    pub fn available(&self) -> usize {
        self.inner.free.len()
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.inner.count as usize
    }

    /// The length of each buffer.
    pub fn buf_len(&self) -> usize {
        self.inner.len
    }

    /// The pool's whole memory as `(address, length)`, e.g. to register it with the kernel.
    pub fn region(&self) -> (*const u8, usize) {
        (self.inner.base.as_ptr(), self.inner.layout.size())
    }
}

impl fmt::Debug for BufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufPool")
            .field("count", &self.inner.count)
            .field("len", &self.inner.len)
            .field("align", &self.inner.align)
            .field("available", &self.available())
            .finish()
    }
}

#[cfg(all(test, not(diorite_loom)))]
mod tests {
    use super::*;

    #[test]
    fn new_validates_and_zeroes() {
        assert_eq!(
            AlignedBuf::new(0, 512).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            AlignedBuf::new(512, 3).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            AlignedBuf::new(usize::MAX - 10, 4096).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let b = AlignedBuf::new(8192, 4096).unwrap();
        assert_eq!(b.addr() % 4096, 0);
        assert!(b.iter().all(|x| *x == 0));
        assert_eq!((b.len(), b.align()), (8192, 4096));
    }

    #[test]
    fn pool_is_bounded_and_buffers_come_back() {
        assert_eq!(
            BufPool::new(0, 512, 512).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let pool = BufPool::new(3, 1000, 512).unwrap();
        let mut held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
        assert!(pool.get().is_none());
        for b in &held {
            assert_eq!(b.addr() % 512, 0);
            assert_eq!(b.len(), 1000);
        }
        held[1][999] = 7;
        held.pop();
        assert_eq!(pool.available(), 1);
        drop(pool); // buffers keep the memory alive
        assert_eq!(held[1][999], 7);
    }
}
