//! The `diorite` command-line tool: glue between the argument parser, the engine and the report.
//! `bench` runs an fio-style job through the engine; `info` prints what the engine knows about a
//! file or device and this machine's backends.

mod bench;
mod errors;
mod info;
mod job;
mod manual;
mod net;
mod plan;
mod report;
mod rng;
mod run;
mod schedule;
mod spec;
mod stats;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "diorite",
    version = job::VERSION,
    about = "Asynchronous direct-I/O engine and benchmark"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run fio-style jobs: `diorite bench [JOBFILE...] [--option=value ...]` with fio's option
    /// names (`diorite bench --help` lists them). Without options: 4 KiB random reads at depth
    /// 32 for 10 s on a 256 MiB temp file.
    #[command(disable_help_flag = true)]
    Bench {
        /// Job files and fio options.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print what this machine offers (backends, io_uring's opcodes, features and setup
    /// flags, the AIO limit) and, given a file or device, its direct-I/O geometry.
    Info {
        /// A regular file or block device.
        path: Option<PathBuf>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve fio's client/server protocol (fio 3.33's version 97, fio 3.42's 120): `fio --client=HOST job.fio`
    /// runs its jobs here and prints their results.
    Server {
        /// Where to listen, in fio's syntax: `ip:HOST[,PORT]`, `ip6:HOST[,PORT]`, `sock:PATH`
        /// (default ip:127.0.0.1,8765: this machine only; a wider address must be given).
        #[arg(long, default_value = "ip:127.0.0.1,8765")]
        bind: String,
        /// A directory jobs may create and write files under (repeatable). Without it: only the
        /// server's working directory (its scratch directory).
        #[arg(long)]
        allow: Vec<PathBuf>,
        /// The largest command payload accepted, in bytes (at least 4096; fio's own limit is 2 GiB).
        #[arg(long, default_value_t = 16 << 20)]
        max_payload: usize,
        /// Seconds a client may stay silent before its connection is closed.
        #[arg(long, default_value_t = 60)]
        idle: u64,
    },
    /// Write a man page (roff) to standard output: diorite(1), or a subcommand's (bench, info).
    Man {
        /// bench or info (default: diorite itself).
        page: Option<String>,
    },
    /// Write shell completions to standard output (every `diorite bench` option included).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn server(bind: &str, allow: &[PathBuf], max_payload: usize, idle: u64) -> Result<()> {
    let bind = net::Addr::parse(bind)?;
    let here = std::env::current_dir()?;
    let allow: Vec<PathBuf> = if allow.is_empty() {
        vec![here.canonicalize()?]
    } else {
        allow
            .iter()
            .map(|a| {
                a.canonicalize()
                    .map_err(|e| anyhow::anyhow!("--allow {}: {e}", a.display()))
            })
            .collect::<Result<_>>()?
    };
    let opts = net::server::Options {
        bind,
        allow: allow.clone(),
        max_payload: max_payload.max(4096),
        idle: std::time::Duration::from_secs(idle.max(1)),
    };
    net::server::serve(opts, |at| {
        eprintln!(
            "diorite server: listening on {at} (fio protocols {}); jobs may write under {}",
            net::layout::supported_names(),
            allow
                .iter()
                .map(|a| a.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    })
}

fn run(cli: Cli) -> Result<u8> {
    // Not locked for the whole run: the status printer of `bench` writes to stdout too.
    let mut out = std::io::stdout();
    match cli.cmd {
        Cmd::Bench { args } => bench::run(&args, &mut out),
        Cmd::Info { path, json } => info::run(path.as_deref(), json, &mut out).map(|()| 0),
        Cmd::Server {
            bind,
            allow,
            max_payload,
            idle,
        } => server(&bind, &allow, max_payload, idle).map(|()| 0),
        Cmd::Man { page } => manual::man(Cli::command(), page.as_deref(), &mut out).map(|()| 0),
        Cmd::Completions { shell } => {
            manual::completions(Cli::command(), shell, &mut out);
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // A closed pipe (`diorite info x | head`) is not a failure.
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("diorite: {}", errors::chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}
