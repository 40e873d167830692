//! Man pages and shell completions, generated from the option table by clap's generators
//! (`diorite man [bench|info]`, `diorite completions SHELL`): `diorite bench` parses its
//! options itself (fio's grammar), so its clap command is built here from the same table
//! `--help`, the parser and the errors use — an option added to the table is in the man page
//! and the completions with nothing else to change.

use crate::job::options::{self, ValueKind};
use clap::{Arg, ArgAction, Command};

/// `diorite bench` as a clap command: every option of the table, under its help group, with
/// its aliases, value form, choices and default.
pub fn bench_command() -> Command {
    let mut cmd = Command::new("bench")
        .about("Run fio-style jobs through the diorite engine")
        .override_usage("diorite bench [JOBFILE...] [--OPTION=VALUE ...]")
        .long_about(
            "Runs fio-style jobs: job files (fio's INI format, '-' for standard input) and \
             --option=value arguments with fio's option names ('-' and '_' alike, one or two \
             dashes). Options before the first --name apply to every job; each --name starts \
             a job. Without any job option, runs the default job: 4 KiB random reads at depth \
             32 for 10 s on a 256 MiB temp file.",
        )
        .arg(
            Arg::new("jobfile")
                .value_name("JOBFILE")
                .num_args(0..)
                .help("fio job files ('-': standard input)"),
        );
    for o in options::OPTIONS {
        let mut help = o.help.to_string();
        if !o.default.is_empty() && !o.help.contains("default") {
            help.push_str(&format!(" [default: {}]", o.default));
        }
        if !o.aliases.is_empty() {
            help.push_str(&format!(" (also: {})", o.aliases.join(", ")));
        }
        let mut a = Arg::new(o.name)
            .long(o.name)
            .help(help)
            .help_heading(o.group.title())
            .action(ArgAction::Append);
        for alias in o.aliases {
            a = a.visible_alias(*alias);
        }
        a = match o.kind {
            ValueKind::Bool => a
                .num_args(0..=1)
                .value_parser(["0", "1"])
                .require_equals(true),
            ValueKind::OptStr => a.num_args(0..=1).value_name("V").require_equals(true),
            ValueKind::Choice(values, _) => a.value_parser(values.to_vec()),
            ValueKind::Size => a.value_name("SIZE"),
            ValueKind::Time | ValueKind::TimeUs => a.value_name("TIME"),
            ValueKind::Int(..) => a.value_name("N"),
            ValueKind::Str => a.value_name("V"),
        };
        cmd = cmd.arg(a);
    }
    cmd
}

/// The whole `diorite` command, `bench` as [`bench_command`] builds it.
pub fn full_command(base: Command) -> Command {
    base.mut_subcommand("bench", |_| bench_command())
}

/// The man page of `page` (`None`: diorite(1); `bench`, `info`: diorite-bench(1), ...).
pub fn man(base: Command, page: Option<&str>, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let full = full_command(base);
    let cmd = match page {
        None => full,
        Some(name) => {
            let title = match name {
                "bench" => "diorite-bench",
                "info" => "diorite-info",
                _ => anyhow::bail!("no man page named {name} (bench, info)"),
            };
            let sub = full
                .get_subcommands()
                .find(|c| c.get_name() == name)
                .cloned()
                .expect("a subcommand of diorite");
            sub.name(title)
        }
    };
    clap_mangen::Man::new(cmd).render(out)?;
    Ok(())
}

/// Completions of the whole command for `shell`.
pub fn completions(base: Command, shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = full_command(base);
    clap_complete::generate(shell, &mut cmd, "diorite", out);
}
