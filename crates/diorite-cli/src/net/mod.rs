//! fio's client/server protocol: `diorite server` speaks it, so an unmodified `fio --client`
//! drives diorite hosts. [`frame`] is the wire framing, [`layout`] the struct layouts of each
//! supported protocol version ([`layout_v97`]: fio 3.33, [`layout_v120`]: fio 3.42; generated
//! from their headers by `tools/fio-layout/gen.sh`), [`wire`] the payloads, [`iolog`] the
//! per-I/O logs (IOLOG), [`server`] the server, [`client`] `diorite bench --client`.

pub mod client;
pub mod conn;
pub mod frame;
pub mod iolog;
pub mod layout;
#[rustfmt::skip]
pub mod layout_v120;
#[rustfmt::skip]
pub mod layout_v97;
pub mod server;
pub mod wire;

use anyhow::{bail, Result};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// Where a server listens, in fio's syntax: `ip:HOST[,PORT]`, `ip6:HOST[,PORT]`,
/// `sock:PATH`, or a bare `HOST[,PORT]` (IPv4 or a name); the port defaults to fio's 8765.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl Addr {
    /// fio's `fio_server_parse_string`, for what a listener needs.
    pub fn parse(s: &str) -> Result<Addr> {
        if let Some(p) = s.strip_prefix("sock:") {
            if p.is_empty() {
                bail!("sock: needs a path (sock:/run/diorite.sock)");
            }
            return Ok(Addr::Unix(PathBuf::from(p)));
        }
        let (v6, rest) = match (s.strip_prefix("ip6:"), s.strip_prefix("ip:")) {
            (Some(r), _) => (true, r),
            (None, Some(r)) => (false, r),
            (None, None) => (false, s),
        };
        let (host, port) = match rest.rsplit_once(',') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("{s}: port {p} is not a number 0..65535"))?,
            ),
            None => (rest, layout::SUPPORTED[0].k.port as u16),
        };
        let ip: IpAddr = match host {
            "" | "localhost" if v6 => Ipv6Addr::LOCALHOST.into(),
            "" | "localhost" => Ipv4Addr::LOCALHOST.into(),
            h => match h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) if ip.is_ipv6() == v6 => ip,
                Ok(_) => bail!(
                    "{s}: {h} is not an {} address",
                    if v6 { "IPv6" } else { "IPv4" }
                ),
                Err(_) => bail!(
                    "{s}: {h} is not an IP address (names other than localhost are not resolved)"
                ),
            },
        };
        Ok(Addr::Tcp(SocketAddr::new(ip, port)))
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Tcp(SocketAddr::V4(a)) => write!(f, "ip:{},{}", a.ip(), a.port()),
            Addr::Tcp(SocketAddr::V6(a)) => write!(f, "ip6:{},{}", a.ip(), a.port()),
            Addr::Unix(p) => write!(f, "sock:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_fios_syntax() {
        let tcp = |s: &str| match Addr::parse(s).unwrap() {
            Addr::Tcp(a) => a.to_string(),
            Addr::Unix(p) => p.display().to_string(),
        };
        assert_eq!(tcp("ip:127.0.0.1,8766"), "127.0.0.1:8766");
        assert_eq!(tcp("127.0.0.1"), "127.0.0.1:8765");
        assert_eq!(tcp("ip6:::1,9000"), "[::1]:9000");
        assert_eq!(tcp("localhost"), "127.0.0.1:8765");
        assert_eq!(tcp("sock:/tmp/x.sock"), "/tmp/x.sock");
        for bad in [
            "ip:1.2.3.4,99999",
            "ip6:127.0.0.1",
            "ip:::1",
            "sock:",
            "ip:example.com",
        ] {
            assert!(Addr::parse(bad).is_err(), "{bad}");
        }
    }
}
