//! The public URL: the base of every link Convene emits. By default it is
//! derived from the address actually bound, so changing `--listen` alone
//! keeps links working; an explicit one that points at this machine on
//! another port is almost always a leftover, and is warned about.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::bail;

/// Checks an explicit `--public-url` before anything starts.
pub fn parse(raw: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(raw).map_err(|e| {
        anyhow::anyhow!(
            "--public-url {raw:?} is not a URL ({e}): use e.g. https://convene.example.com"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("--public-url {raw:?} must be an http:// or https:// URL with a host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("--public-url {raw:?} must not have a query or fragment: paths are appended to it");
    }
    Ok(url)
}

/// The URL clients of this machine reach `bound` at. An unspecified address
/// (every interface) has no single name, so loopback stands in for it and
/// the returned warning says so.
pub fn derive(bound: SocketAddr) -> (String, Option<String>) {
    let port = bound.port();
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            let url = format!("http://{}", SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            (url.clone(), Some(every_interface(bound, &url)))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            let url = format!("http://{}", SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
            (url.clone(), Some(every_interface(bound, &url)))
        }
        _ => (format!("http://{bound}"), None),
    }
}

fn every_interface(bound: SocketAddr, url: &str) -> String {
    format!(
        "listening on every interface ({bound}) but links point at {url}, which only this machine reaches: set --public-url (CONVENE_PUBLIC_URL) to the address clients use"
    )
}

/// A warning when an explicit public URL names this machine (localhost, a
/// loopback address or the bound address) on a port Convene does not listen
/// on. Other hosts are taken to be a proxy in front of Convene.
pub fn disagreement(public: &url::Url, bound: SocketAddr) -> Option<String> {
    let local = match public.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback() || IpAddr::V4(ip) == bound.ip(),
        url::Host::Ipv6(ip) => ip.is_loopback() || IpAddr::V6(ip) == bound.ip(),
    };
    let port = public.port_or_known_default()?;
    (local && port != bound.port()).then(|| {
        format!(
            "--public-url {public} points at port {port} of this machine, but Convene listens on {bound}: the links it emits will not reach it (leave --public-url unset to derive it from --listen)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn derived_from_the_bound_address() {
        assert_eq!(
            derive(addr("127.0.0.1:9090")),
            ("http://127.0.0.1:9090".into(), None)
        );
        assert_eq!(derive(addr("[::1]:9090")).0, "http://[::1]:9090");
        let (url, warning) = derive(addr("0.0.0.0:80"));
        assert_eq!(url, "http://127.0.0.1:80");
        assert!(warning.unwrap().contains("--public-url"));
    }

    #[test]
    fn warns_only_when_a_local_url_names_another_port() {
        let bound = addr("127.0.0.1:9090");
        let warns = |u: &str| disagreement(&parse(u).unwrap(), bound).is_some();
        assert!(warns("http://127.0.0.1:8080"));
        assert!(warns("http://localhost"));
        assert!(!warns("http://localhost:9090/"));
        assert!(!warns("http://127.0.0.1:9090"));
        assert!(!warns("https://convene.example.com"));
        assert!(!warns("https://convene.example.com:8443/base"));
        assert!(!warns("http://10.0.0.5:8080"));
        assert!(
            disagreement(
                &parse("http://10.0.0.5:8080").unwrap(),
                addr("10.0.0.5:9090")
            )
            .is_some()
        );
    }

    #[test]
    fn refuses_what_cannot_be_a_base() {
        assert!(parse("convene.example.com").is_err());
        assert!(parse("ftp://convene.example.com").is_err());
        assert!(parse("https://convene.example.com/?x=1").is_err());
        assert!(parse("https://convene.example.com/base").is_ok());
    }
}
