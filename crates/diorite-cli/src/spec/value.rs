//! fio's value spellings: sizes with `kb_base`, times, `${VAR}` and `$keyword` substitution, and
//! the arithmetic fio evaluates in numeric values (`size=5*1024*1024*$mb_memory/8`).

use anyhow::{anyhow, bail, Result};
use std::time::Duration;

/// fio's `kb_base`: how `k`/`KiB` read.
///
/// - 1024 (fio's default, "compatibility mode"): `k`, `kb`, `m`, ... are powers of 2 and
///   `KiB`, `MiB`, ... powers of 10 (so `1MiB` is 1,000,000 bytes, as fio reads it).
/// - 1000: `KiB`, `MiB`, ... are powers of 2 and `k`, `kB`, ... powers of 10.
fn multiplier(suffix: &str, kb_base: u32) -> Option<u64> {
    let s = suffix.to_ascii_lowercase();
    let (letter, iec) = match s.as_str() {
        "" | "b" => return Some(1),
        _ if s.ends_with("ib") && s.len() == 3 => (&s[..1], true),
        _ if s.ends_with('b') && s.len() == 2 => (&s[..1], false),
        _ if s.len() == 1 => (&s[..1], false),
        _ => return None,
    };
    let power = match letter {
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let binary = (kb_base == 1024) != iec;
    let base: u64 = if binary { 1024 } else { 1000 };
    base.checked_pow(power)
}

/// Microseconds per time unit (fio's time suffixes); plain numbers are seconds.
fn time_unit(suffix: &str) -> Option<u64> {
    Some(match suffix.to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => 1_000_000,
        "us" | "usec" => 1,
        "ms" | "msec" => 1_000,
        "m" | "min" => 60_000_000,
        "h" | "hour" => 3_600_000_000,
        "d" | "day" => 86_400_000_000,
        _ => return None,
    })
}

/// What kind of number an expression yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes; suffixes per `kb_base`.
    Bytes(u32),
    /// A plain count: no suffix.
    Count,
    /// Microseconds; plain numbers are seconds.
    Micros,
    /// Microseconds; plain numbers are microseconds (fio's `thinktime` family).
    MicrosUs,
}

/// Evaluates `s` as a number of `unit`, with fio's operators `+ - * / % ^` and parentheses.
pub fn eval(s: &str, unit: Unit) -> Result<u64> {
    let toks = tokens(s, unit)?;
    let mut p = Parser { toks: &toks, at: 0 };
    let v = p.sum()?;
    if p.at != toks.len() {
        bail!("{s:?}: unexpected {:?}", toks[p.at]);
    }
    if v < 0 {
        bail!("{s:?} is negative");
    }
    u64::try_from(v).map_err(|_| anyhow!("{s:?} is too large"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Num(i128),
    Op(char),
}

fn tokens(s: &str, unit: Unit) -> Result<Vec<Tok>> {
    let b = s.trim().as_bytes();
    if b.is_empty() {
        bail!("empty value");
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &s.trim()[start..i];
            let sfx_start = i;
            while i < b.len() && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            let suffix = &s.trim()[sfx_start..i];
            let n: i128 = digits
                .parse()
                .map_err(|_| anyhow!("{s:?}: number too large"))?;
            let mult = match unit {
                Unit::Bytes(kb) => multiplier(suffix, kb).ok_or_else(|| {
                    anyhow!("{s:?}: unknown size suffix {suffix:?} (k, m, g, t, p, KiB, MiB, ...)")
                })?,
                Unit::MicrosUs if suffix.is_empty() => 1,
                Unit::Micros | Unit::MicrosUs => time_unit(suffix).ok_or_else(|| {
                    anyhow!("{s:?}: unknown time unit {suffix:?} (us, ms, s, m, h, d)")
                })?,
                Unit::Count if suffix.is_empty() => 1,
                Unit::Count => bail!("{s:?}: expected a whole number"),
            };
            out.push(Tok::Num(
                n.checked_mul(i128::from(mult))
                    .ok_or_else(|| anyhow!("{s:?} is too large"))?,
            ));
        } else if "+-*/%^()".contains(c) {
            out.push(Tok::Op(c));
            i += 1;
        } else {
            bail!("{s:?}: unexpected character {c:?}");
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.at).copied()
    }

    fn sum(&mut self) -> Result<i128> {
        let mut v = self.product()?;
        while let Some(Tok::Op(o @ ('+' | '-'))) = self.peek() {
            self.at += 1;
            let r = self.product()?;
            v = if o == '+' {
                v.checked_add(r)
            } else {
                v.checked_sub(r)
            }
            .ok_or_else(|| anyhow!("arithmetic overflow"))?;
        }
        Ok(v)
    }

    fn product(&mut self) -> Result<i128> {
        let mut v = self.power()?;
        while let Some(Tok::Op(o @ ('*' | '/' | '%'))) = self.peek() {
            self.at += 1;
            let r = self.power()?;
            v = match o {
                '*' => v.checked_mul(r),
                '/' => v.checked_div(r),
                _ => v.checked_rem(r),
            }
            .ok_or_else(|| anyhow!("arithmetic overflow or division by zero"))?;
        }
        Ok(v)
    }

    fn power(&mut self) -> Result<i128> {
        let base = self.unary()?;
        if let Some(Tok::Op('^')) = self.peek() {
            self.at += 1;
            let e = self.power()?;
            let e = u32::try_from(e).map_err(|_| anyhow!("bad exponent {e}"))?;
            return base
                .checked_pow(e)
                .ok_or_else(|| anyhow!("arithmetic overflow"));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<i128> {
        match self.peek() {
            Some(Tok::Op('-')) => {
                self.at += 1;
                Ok(-self.unary()?)
            }
            Some(Tok::Op('(')) => {
                self.at += 1;
                let v = self.sum()?;
                if self.peek() != Some(Tok::Op(')')) {
                    bail!("missing ')'");
                }
                self.at += 1;
                Ok(v)
            }
            Some(Tok::Num(n)) => {
                self.at += 1;
                Ok(n)
            }
            other => bail!("expected a number, found {other:?}"),
        }
    }
}

/// A size in bytes, per `kb_base`.
pub fn size(s: &str, kb_base: u32) -> Result<u64> {
    eval(s, Unit::Bytes(kb_base))
}

/// A duration; plain numbers are seconds.
pub fn time(s: &str) -> Result<Duration> {
    Ok(Duration::from_micros(eval(s, Unit::Micros)?))
}

/// A duration; plain numbers are microseconds (fio's `thinktime`, `thinktime_spin`).
pub fn time_us(s: &str) -> Result<Duration> {
    Ok(Duration::from_micros(eval(s, Unit::MicrosUs)?))
}

/// fio's substitutions in a value: `${VAR}` becomes the environment variable's value (empty
/// when unset, as in fio), `$pagesize`, `$ncpus` and `$mb_memory` the machine's numbers.
pub fn expand(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            if let Some(end) = body.find('}') {
                out.push_str(&std::env::var(&body[..end]).unwrap_or_default());
                rest = &body[end + 1..];
                continue;
            }
        }
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        match keyword(&after[..word_len]) {
            Some(v) => {
                out.push_str(&v.to_string());
                rest = &after[word_len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn keyword(w: &str) -> Option<u64> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let conf = |name| unsafe { libc::sysconf(name) }.max(0) as u64;
    match w {
        "pagesize" => Some(conf(libc::_SC_PAGESIZE)),
        "ncpus" => Some(conf(libc::_SC_NPROCESSORS_ONLN)),
        "mb_memory" => Some(conf(libc::_SC_PHYS_PAGES) * conf(libc::_SC_PAGESIZE) / (1 << 20)),
        _ => None,
    }
}

/// Strips a job-file line's comment: fio ends a line at the first `;` or `#`.
pub fn strip_comment(line: &str) -> &str {
    match line.find([';', '#']) {
        Some(i) => line[..i].trim_end(),
        None => line.trim_end(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_fios_kb_base() {
        assert_eq!(size("4k", 1024).unwrap(), 4096);
        assert_eq!(size("4KB", 1024).unwrap(), 4096);
        assert_eq!(size("1MiB", 1024).unwrap(), 1_000_000);
        assert_eq!(size("1m", 1024).unwrap(), 1 << 20);
        assert_eq!(size("1MiB", 1000).unwrap(), 1 << 20);
        assert_eq!(size("1m", 1000).unwrap(), 1_000_000);
        assert_eq!(size("1kB", 1000).unwrap(), 1000);
        assert_eq!(size("512", 1024).unwrap(), 512);
        assert_eq!(size("2g", 1024).unwrap(), 2 << 30);
        assert!(size("k", 1024).is_err());
        assert!(size("4x", 1024).is_err());
        assert!(size("-1", 1024).is_err());
        assert!(size("99999999999999999999999", 1024).is_err());
        assert!(size("16777216t", 1024).is_err());
    }

    #[test]
    fn arithmetic_as_fio_evaluates_it() {
        assert_eq!(size("5*1024*1024*8/8", 1024).unwrap(), 5 << 20);
        assert_eq!(size("(1+3)*4k", 1024).unwrap(), 16384);
        assert_eq!(size("2^10", 1024).unwrap(), 1024);
        assert_eq!(eval("10%3", Unit::Count).unwrap(), 1);
        assert!(eval("1/0", Unit::Count).is_err());
        assert!(eval("(1", Unit::Count).is_err());
        assert!(eval("4k", Unit::Count).is_err());
    }

    #[test]
    fn times_with_units() {
        assert_eq!(time("10").unwrap(), Duration::from_secs(10));
        assert_eq!(time("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(time("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(time("1h+30s").unwrap(), Duration::from_secs(3630));
        assert!(time("fast").is_err());
        assert!(time("18446744073709551615").is_err());
    }

    #[test]
    fn substitutions_and_comments() {
        std::env::set_var("DIORITE_TEST_SIZE", "64m");
        assert_eq!(expand("${DIORITE_TEST_SIZE}"), "64m");
        assert_eq!(expand("a${DIORITE_TEST_UNSET_X}b"), "ab");
        let pages = expand("$pagesize");
        assert!(pages.parse::<u64>().unwrap() >= 4096);
        assert!(expand("2*$mb_memory").starts_with("2*"));
        assert_eq!(expand("$notakeyword"), "$notakeyword");
        assert_eq!(
            strip_comment("filename=data.tmp\t; or use a disk"),
            "filename=data.tmp"
        );
        assert_eq!(strip_comment("numjobs=4 # four"), "numjobs=4");
    }
}
