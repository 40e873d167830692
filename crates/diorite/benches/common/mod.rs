//! What the benches share: a target of 128 MiB of incompressible data (zram as root, else — or
//! with `DIORITE_BENCH_TARGET=file` — a file in /var/tmp; removed on drop) and random block
//! offsets.

#![allow(dead_code)] // each bench uses a part

pub const BS: u64 = 4096;
pub const SIZE: u64 = 128 << 20;

/// A zram device (root) or a file, filled with incompressible bytes; removed on drop.
pub struct Target {
    pub name: &'static str,
    pub path: std::path::PathBuf,
    zram: Option<String>,
}

impl Target {
    pub fn new() -> Target {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // DIORITE_BENCH_TARGET=file: a file on /var/tmp's filesystem even as root (a
        // device-bound target, where zram is CPU-bound).
        let want_file = std::env::var("DIORITE_BENCH_TARGET").as_deref() == Ok("file");
        if let Some(Ok(id)) =
            (!want_file).then(|| std::fs::read_to_string("/sys/class/zram-control/hot_add"))
        {
            let id = id.trim().to_string();
            let dev = std::path::PathBuf::from(format!("/dev/zram{id}"));
            if std::fs::write(format!("/sys/block/zram{id}/disksize"), SIZE.to_string()).is_ok()
                && std::fs::write(&dev, &data).is_ok()
            {
                return Target {
                    name: "zram",
                    path: dev,
                    zram: Some(id),
                };
            }
            let _ = std::fs::write("/sys/class/zram-control/hot_remove", &id);
        }
        let path = std::path::PathBuf::from(format!(
            "/var/tmp/diorite-bench-futures-{}.dat",
            std::process::id()
        ));
        std::fs::write(&path, &data).expect("bench file");
        Target {
            name: "file",
            path,
            zram: None,
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        match &self.zram {
            Some(id) => {
                let _ = std::fs::write(format!("/sys/block/zram{id}/reset"), "1");
                let _ = std::fs::write("/sys/class/zram-control/hot_remove", id);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// The next random block offset.
pub fn next_off(x: &mut u64, blocks: u64) -> u64 {
    *x = x
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*x >> 33) % blocks) * BS
}
