//! The same workload written idiomatically for each Rust async I/O runtime: 4 KiB random reads
//! with O_DIRECT over a whole file or block device, `QD` reads in flight (one task per read
//! slot, each awaiting its read and issuing the next), for `SECONDS`. Prints
//! `ios=N seconds=S`; `bench/peers.sh` measures each run's whole-process CPU from outside and
//! interleaves the peers.
//!
//!   diorite-peers PEER TARGET QD SECONDS
//!
//! PEER: diorite-local (a `LocalContext` loop: submit, `get_events`), diorite-tokio (futures on
//! tokio's current-thread runtime, `Reactor::Tokio`), tokio-uring, monoio (io_uring driver),
//! compio (io_uring driver), glommio (`DmaFile::read_at_aligned`), tokio-blocking
//! (`tokio::task::spawn_blocking` with `pread`, the multi-thread runtime).

use std::cell::Cell;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BS: usize = 4096;

use diorite::SubmitBatching as Batch;

/// A zeroed 4 KiB-aligned buffer, handed to each runtime through its own buffer traits.
struct Aligned {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the buffer owns its allocation; nothing else points into it.
unsafe impl Send for Aligned {}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        Aligned { ptr, len }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, 4096).expect("layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

// SAFETY: (this impl and each below) the pointer stays valid and unmoved for the buffer's life (it is a
// heap allocation the value owns), and all `len` bytes are initialized (zeroed at allocation).
unsafe impl tokio_uring::buf::IoBuf for Aligned {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.len
    }
}
// SAFETY: as above.
unsafe impl tokio_uring::buf::IoBufMut for Aligned {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}
// SAFETY: as above.
unsafe impl monoio::buf::IoBuf for Aligned {
    fn read_ptr(&self) -> *const u8 {
        self.ptr
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
}
// SAFETY: as above.
unsafe impl monoio::buf::IoBufMut for Aligned {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
    fn bytes_total(&mut self) -> usize {
        self.len
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}
impl compio::buf::IoBuf for Aligned {
    fn as_init(&self) -> &[u8] {
        // SAFETY: `len` initialized bytes at `ptr`, borrowed with `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
impl compio::buf::SetLen for Aligned {
    unsafe fn set_len(&mut self, _len: usize) {}
}
impl compio::buf::IoBufMut for Aligned {
    fn as_uninit(&mut self) -> &mut [std::mem::MaybeUninit<u8>] {
        // SAFETY: `len` bytes at `ptr`, exclusively borrowed with `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast(), self.len) }
    }
}

/// xorshift64: each task's own offsets.
fn next_off(x: &mut u64, blocks: u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    (*x % blocks) * BS as u64
}

/// The target's size in bytes (a block device's too).
fn size_of(path: &str) -> u64 {
    use std::io::Seek;
    let mut f = std::fs::File::open(path).expect("open target");
    f.seek(std::io::SeekFrom::End(0)).expect("seek")
}

fn open_direct(path: &str) -> std::fs::File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .expect("open with O_DIRECT")
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: diorite-peers PEER TARGET QD SECONDS");
        std::process::exit(2);
    }
    let (peer, target) = (a[1].as_str(), a[2].clone());
    let qd: usize = a[3].parse().expect("QD");
    let secs: u64 = a[4].parse().expect("SECONDS");
    let blocks = size_of(&target) / BS as u64;
    let run = Duration::from_secs(secs);
    let t0 = Instant::now();
    let ios = match peer {
        "diorite-local" => diorite_local(&target, qd, blocks, run),
        "diorite-tokio" => diorite_tokio(&target, qd, blocks, run, Batch::Always),
        "diorite-tokio-adaptive" => diorite_tokio(&target, qd, blocks, run, Batch::Adaptive),
        "diorite-tokio-never" => diorite_tokio(&target, qd, blocks, run, Batch::Never),
        "tokio-uring" => tokio_uring_peer(&target, qd, blocks, run),
        "monoio" => monoio_peer(&target, qd, blocks, run),
        "compio" => compio_peer(&target, qd, blocks, run),
        "glommio" => glommio_peer(&target, qd, blocks, run),
        "tokio-blocking" => tokio_blocking(&target, qd, blocks, run),
        other => {
            eprintln!("unknown peer {other}");
            std::process::exit(2);
        }
    };
    println!("ios={ios} seconds={:.3}", t0.elapsed().as_secs_f64());
}

/// diorite's blocking loop on one thread: keep `qd` reads in flight, reap one or more, reissue.
fn diorite_local(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, Request};
    let f = DirectFile::open(path).expect("open");
    let ctx = Context::builder()
        .depth(qd as u32)
        .backend(BackendChoice::IoUring)
        .register_file(&f)
        .build_local()
        .expect("context");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..qd {
        let b = AlignedBuf::for_file(&f, BS).expect("buf");
        ctx.submit(Request::read(&f, next_off(&mut x, blocks), b))
            .map_err(|e| e.error)
            .expect("submit");
    }
    let (mut ios, end) = (0u64, Instant::now() + run);
    let mut done = Vec::with_capacity(qd);
    loop {
        done.clear();
        ctx.get_events(1, qd, None, &mut done).expect("get_events");
        for c in &mut done {
            assert_eq!(*c.result.as_ref().expect("read"), BS);
            ios += 1;
            if Instant::now() < end {
                let b = c.take_buf().expect("buf");
                ctx.submit(Request::read(&f, next_off(&mut x, blocks), b))
                    .map_err(|e| e.error)
                    .expect("submit");
            }
        }
        if ctx.in_flight() == 0 {
            return ios;
        }
    }
}

/// diorite's futures, one task per slot, on tokio's current-thread runtime with the context's
/// completions in tokio's reactor.
fn diorite_tokio(path: &str, qd: usize, blocks: u64, run: Duration, batch: Batch) -> u64 {
    use diorite::{AlignedBuf, BackendChoice, Context, DirectFile, Reactor};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = DirectFile::open(path).expect("open");
    rt.block_on(async {
        let ctx = Arc::new(
            Context::builder()
                .depth(qd as u32)
                .backend(BackendChoice::IoUring)
                .reactor(Reactor::Tokio)
                .submit_batching(batch)
                .build()
                .expect("context"),
        );
        let ios = Rc::new(Cell::new(0u64));
        let end = Instant::now() + run;
        let local = tokio::task::LocalSet::new();
        for t in 0..qd as u64 {
            let (ctx, f, ios) = (ctx.clone(), f.clone(), ios.clone());
            local.spawn_local(async move {
                let mut buf = AlignedBuf::for_file(&f, BS).expect("buf");
                let mut x = t + 1;
                while Instant::now() < end {
                    let (r, b) = ctx.read(&f, next_off(&mut x, blocks), buf).await;
                    assert_eq!(r.expect("read"), BS);
                    ios.set(ios.get() + 1);
                    buf = b;
                }
            });
        }
        local.await;
        ios.get()
    })
}

fn tokio_uring_peer(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    tokio_uring::start(async {
        use std::os::unix::fs::OpenOptionsExt;
        let f = Rc::new(
            tokio_uring::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .await
                .expect("open"),
        );
        let ios = Rc::new(Cell::new(0u64));
        let end = Instant::now() + run;
        let tasks: Vec<_> = (0..qd as u64)
            .map(|t| {
                let (f, ios) = (f.clone(), ios.clone());
                tokio_uring::spawn(async move {
                    let mut buf = Aligned::new(BS);
                    let mut x = t + 1;
                    while Instant::now() < end {
                        let (r, b) = f.read_at(buf, next_off(&mut x, blocks)).await;
                        assert_eq!(r.expect("read"), BS);
                        ios.set(ios.get() + 1);
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
        ios.get()
    })
}

fn monoio_peer(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(256)
        .build()
        .expect("monoio runtime");
    rt.block_on(async {
        use std::os::unix::fs::OpenOptionsExt;
        let f = Rc::new(
            monoio::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .await
                .expect("open"),
        );
        let ios = Rc::new(Cell::new(0u64));
        let end = Instant::now() + run;
        let tasks: Vec<_> = (0..qd as u64)
            .map(|t| {
                let (f, ios) = (f.clone(), ios.clone());
                monoio::spawn(async move {
                    let mut buf = Aligned::new(BS);
                    let mut x = t + 1;
                    while Instant::now() < end {
                        let (r, b) = f.read_at(buf, next_off(&mut x, blocks)).await;
                        assert_eq!(r.expect("read"), BS);
                        ios.set(ios.get() + 1);
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        ios.get()
    })
}

fn compio_peer(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    let rt = compio::runtime::Runtime::new().expect("compio runtime");
    rt.block_on(async {
        use compio::io::AsyncReadAt;
        let f = Rc::new(
            compio::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .await
                .expect("open"),
        );
        let ios = Rc::new(Cell::new(0u64));
        let end = Instant::now() + run;
        let tasks: Vec<_> = (0..qd as u64)
            .map(|t| {
                let (f, ios) = (f.clone(), ios.clone());
                compio::runtime::spawn(async move {
                    let mut buf = Aligned::new(BS);
                    let mut x = t + 1;
                    while Instant::now() < end {
                        let compio::BufResult(r, b) =
                            f.read_at(buf, next_off(&mut x, blocks)).await;
                        assert_eq!(r.expect("read"), BS);
                        ios.set(ios.get() + 1);
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        ios.get()
    })
}

fn glommio_peer(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    let path = path.to_string();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let f = Rc::new(glommio::io::DmaFile::open(&path).await.expect("open"));
            let ios = Rc::new(Cell::new(0u64));
            let end = Instant::now() + run;
            let tasks: Vec<_> = (0..qd as u64)
                .map(|t| {
                    let (f, ios) = (f.clone(), ios.clone());
                    glommio::spawn_local(async move {
                        let mut x = t + 1;
                        while Instant::now() < end {
                            let r = f
                                .read_at_aligned(next_off(&mut x, blocks), BS)
                                .await
                                .expect("read");
                            assert_eq!(r.len(), BS);
                            ios.set(ios.get() + 1);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            ios.get()
        })
        .expect("glommio executor")
        .join()
        .expect("glommio join")
}

/// `spawn_blocking` with `pread` on tokio's multi-thread runtime: the blocking pool does the
/// reads (the usual way to do file I/O from tokio, with O_DIRECT added).
fn tokio_blocking(path: &str, qd: usize, blocks: u64, run: Duration) -> u64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(qd)
        .enable_time()
        .build()
        .expect("runtime");
    let f = Arc::new(open_direct(path));
    let ios = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let tasks: Vec<_> = (0..qd as u64)
            .map(|t| {
                let (f, ios, stop) = (f.clone(), ios.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut buf = Aligned::new(BS);
                    let mut x = t + 1;
                    while !stop.load(Ordering::Relaxed) {
                        let off = next_off(&mut x, blocks);
                        let f = f.clone();
                        let (n, b) = tokio::task::spawn_blocking(move || {
                            // SAFETY: `buf` is a live 4 KiB allocation moved into this closure.
                            let n = unsafe {
                                libc::pread(f.as_raw_fd(), buf.ptr.cast(), BS, off as libc::off_t)
                            };
                            (n, buf)
                        })
                        .await
                        .expect("blocking task");
                        assert_eq!(n, BS as isize);
                        ios.fetch_add(1, Ordering::Relaxed);
                        buf = b;
                    }
                })
            })
            .collect();
        tokio::time::sleep(run).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("task");
        }
    });
    ios.load(Ordering::Relaxed)
}
