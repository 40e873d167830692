//! The layout of fio's client/server structs, per protocol version: byte offsets and sizes as
//! fio's own headers define them. Each supported version is a `layout_vNN.rs` module generated
//! from that fio's headers by `tools/fio-layout/gen.sh` (a C program compiled in the fio tree
//! prints `offsetof`/`sizeof`), holding one [`Layout`] value; [`for_version`] picks one.
//! Adding a version is regenerating a module from that fio's source and listing it here.

/// fio's array lengths and constants.
#[derive(Debug)]
#[allow(dead_code, reason = "some fields are only checked by the layout tests")]
pub struct Consts {
    pub jobname_size: usize,
    pub verror_size: usize,
    pub jobdesc_size: usize,
    pub ddir_rwdir_cnt: usize,
    pub list_max_len: usize,
    pub map_nr: usize,
    pub lat_cnt: usize,
    pub plat_nr: usize,
    pub plat_bits: usize,
    pub plat_val: usize,
    pub max_fragment: usize,
    pub port: usize,
    /// `sizeof(fio_fp64_t)`: a union with a long double, 16 bytes on x86-64.
    pub fp64: usize,
    pub du_name_size: usize,
}

/// `struct io_stat`.
#[derive(Debug)]
pub struct IoStat {
    pub size: usize,
    pub max_val: usize,
    pub min_val: usize,
    pub samples: usize,
    pub mean: usize,
    pub s: usize,
}

/// `struct thread_stat` (the fields diorite fills).
#[derive(Debug)]
#[allow(dead_code, reason = "some fields are only checked by the layout tests")]
pub struct ThreadStat {
    pub size: usize,
    pub name: usize,
    pub verror: usize,
    pub error: usize,
    pub thread_number: usize,
    pub groupid: usize,
    pub pid: usize,
    pub description: usize,
    pub members: usize,
    pub unified_rw_rep: usize,
    pub sync_stat: usize,
    pub clat_stat: usize,
    pub slat_stat: usize,
    pub lat_stat: usize,
    pub bw_stat: usize,
    pub iops_stat: usize,
    pub usr_time: usize,
    pub sys_time: usize,
    pub ctx: usize,
    pub minf: usize,
    pub majf: usize,
    pub clat_percentiles: usize,
    pub lat_percentiles: usize,
    pub slat_percentiles: usize,
    pub percentile_precision: usize,
    pub percentile_list: usize,
    pub io_u_map: usize,
    pub io_u_submit: usize,
    pub io_u_complete: usize,
    pub io_u_lat_n: usize,
    pub io_u_lat_u: usize,
    pub io_u_lat_m: usize,
    pub io_u_plat: usize,
    pub io_u_sync_plat: usize,
    pub total_io_u: usize,
    pub short_io_u: usize,
    pub total_submit: usize,
    pub total_complete: usize,
    pub io_bytes: usize,
    pub runtime: usize,
    pub total_run_time: usize,
    pub continue_on_error: usize,
    pub first_error: usize,
    pub total_err_count: usize,
    pub kb_base: usize,
    pub unit_base: usize,
    pub latency_depth: usize,
    pub latency_target: usize,
    pub latency_percentile: usize,
    pub latency_window: usize,
    pub sig_figs: usize,
    /// The steady-state fields, and where its two rings start in the TS payload.
    pub ss_dur: usize,
    pub ss_state: usize,
    pub ss_head: usize,
    pub ss_limit: usize,
    pub ss_slope: usize,
    pub ss_deviation: usize,
    pub ss_criterion: usize,
    pub ss_iops_data_offset: usize,
    pub ss_bw_data_offset: usize,
    pub ioprio: usize,
    /// Per direction: where the `clat_prio_stat` entries start in the TS payload, and how many.
    pub clat_prio_offset: usize,
    pub nr_clat_prio: usize,
    pub cachemiss: usize,
}

/// `struct clat_prio_stat`: one I/O priority's completion latencies, after the TS.
#[derive(Debug)]
pub struct ClatPrio {
    pub size: usize,
    pub io_u_plat: usize,
    pub clat_stat: usize,
    pub ioprio: usize,
}

/// `struct group_run_stats`.
#[derive(Debug)]
pub struct GroupStats {
    pub size: usize,
    pub max_run: usize,
    pub min_run: usize,
    pub max_bw: usize,
    pub min_bw: usize,
    pub iobytes: usize,
    pub agg: usize,
    pub kb_base: usize,
    pub unit_base: usize,
    pub sig_figs: usize,
    pub groupid: usize,
}

/// `struct jobs_eta` (without its trailing run string).
#[derive(Debug)]
pub struct Eta {
    pub size: usize,
    pub nr_running: usize,
    pub elapsed_sec: usize,
    pub eta_sec: usize,
    pub is_pow2: usize,
    pub unit_base: usize,
    pub sig_figs: usize,
    pub files_open: usize,
}

/// `struct cmd_du_pdu`: a disk's `disk_util_stat`, then its `disk_util_agg`.
#[derive(Debug)]
pub struct DiskUtil {
    pub size: usize,
    pub name: usize,
    pub ios: usize,
    pub merges: usize,
    pub ticks: usize,
    pub io_ticks: usize,
    pub time_in_queue: usize,
    pub msec: usize,
}

/// `struct cmd_probe_reply_pdu`.
#[derive(Debug)]
pub struct ProbeReply {
    pub size: usize,
    pub hostname: usize,
    pub bigendian: usize,
    pub fio_version: usize,
    pub os: usize,
    pub arch: usize,
    pub bpp: usize,
    pub cpus: usize,
    pub flags: usize,
}

/// `struct cmd_text_pdu`.
#[derive(Debug)]
pub struct Text {
    pub size: usize,
    pub level: usize,
    pub buf_len: usize,
    pub log_sec: usize,
    pub log_usec: usize,
}

/// `struct cmd_iolog_pdu` (one per-I/O log, its samples after it) and `struct io_sample`.
/// `log_issue_time` and `per_job_logs` are `None` in versions without them. A sample with
/// `log_offset` is followed by the offset (8 bytes); a histogram log's sample by an
/// `io_u_plat_entry` (a list head, then the bins).
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "log_issue_time stays zero: diorite has no issue-time logs"
)]
pub struct Iolog {
    pub size: usize,
    pub nr_samples: usize,
    pub thread_number: usize,
    pub log_type: usize,
    pub compressed: usize,
    pub log_offset: usize,
    pub log_prio: usize,
    pub log_hist_coarseness: usize,
    pub name: usize,
    pub name_size: usize,
    pub log_issue_time: Option<usize>,
    pub per_job_logs: Option<usize>,
    pub sample: usize,
    pub s_time: usize,
    pub s_data: usize,
    pub s_ddir: usize,
    pub s_priority: usize,
    pub s_bs: usize,
    pub plat_entry: usize,
    pub plat_entry_bins: usize,
}

/// The other PDUs' sizes, and where `rs` starts in `cmd_ts_pdu` (after `ts` and padding).
#[derive(Debug)]
#[allow(dead_code, reason = "some fields are only checked by the layout tests")]
pub struct Pdus {
    pub cmd: usize,
    pub start: usize,
    pub end: usize,
    pub job: usize,
    pub line: usize,
    pub ts: usize,
    pub ts_rs: usize,
    pub job_opt: usize,
    /// `cmd_add_job_pdu`: thread number, group, then fio's whole `thread_options_pack`.
    pub add_job: usize,
    pub job_opt_name: usize,
    pub job_opt_value: usize,
}

/// One protocol version's layouts.
#[derive(Debug)]
pub struct Layout {
    pub version: u16,
    pub k: Consts,
    pub io_stat: IoStat,
    pub ts: ThreadStat,
    pub prio: ClatPrio,
    pub gs: GroupStats,
    pub eta: Eta,
    pub du: DiskUtil,
    pub probe: ProbeReply,
    pub text: Text,
    pub iolog: Iolog,
    pub pdu: Pdus,
}

/// Every version this build speaks, oldest first.
pub const SUPPORTED: [&Layout; 2] = [&super::layout_v97::LAYOUT, &super::layout_v120::LAYOUT];

/// The layouts of protocol `version`, if this build speaks it.
pub fn for_version(version: u16) -> Option<&'static Layout> {
    SUPPORTED.iter().copied().find(|l| l.version == version)
}

/// "97 (fio 3.33), 120 (fio 3.42)": for messages.
pub fn supported_names() -> String {
    SUPPORTED
        .iter()
        .map(|l| format!("{} (fio {})", l.version, fio_release(l.version)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fio release whose headers a supported version's layout came from.
pub fn fio_release(version: u16) -> &'static str {
    match version {
        97 => "3.33",
        120 => "3.42",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_is_self_consistent() {
        for l in SUPPORTED {
            let t = &l.ts;
            // Offsets rise and stay inside the struct; `rs` follows `ts` in the TS payload.
            let offs = [
                t.name,
                t.verror,
                t.error,
                t.thread_number,
                t.groupid,
                t.pid,
                t.description,
                t.members,
                t.sync_stat,
                t.clat_stat,
                t.slat_stat,
                t.lat_stat,
                t.bw_stat,
                t.iops_stat,
                t.usr_time,
                t.io_u_plat,
                t.io_u_sync_plat,
                t.total_io_u,
                t.io_bytes,
                t.runtime,
                t.kb_base,
                t.latency_depth,
                t.sig_figs,
                t.cachemiss,
            ];
            assert!(
                offs.windows(2).all(|w| w[0] < w[1]),
                "v{}: {offs:?}",
                l.version
            );
            assert!(t.cachemiss + 8 <= t.size);
            assert!(l.pdu.ts_rs >= t.size && l.pdu.ts_rs + l.gs.size <= l.pdu.ts);
            assert_eq!(t.io_u_sync_plat - t.io_u_plat, 8 * 3 * 3 * l.k.plat_nr);
            assert_eq!(t.clat_stat - t.sync_stat, l.io_stat.size);
            assert_eq!(l.pdu.cmd, super::super::frame::HEADER, "v{}", l.version);
            assert_eq!(l.k.max_fragment, super::super::frame::MAX_FRAGMENT);
            assert_eq!(l.pdu.job_opt_value - l.pdu.job_opt_name, 64);
            let i = &l.iolog;
            assert_eq!(i.name + i.name_size, i.size, "v{}", l.version);
            assert_eq!(i.plat_entry, i.plat_entry_bins + 8 * l.k.plat_nr);
            assert!(i.s_bs + 8 == i.sample && i.s_time == 0);
        }
        assert_eq!(for_version(97).map(|l| l.version), Some(97));
        assert!(for_version(98).is_none());
    }
}
