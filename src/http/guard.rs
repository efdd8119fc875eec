//! `Host` and `Origin` validation against DNS rebinding.

use http::header::{HOST, ORIGIN};
use http::request::Parts;
use http::uri::{Authority, Scheme};

use super::config::{HostPolicy, OriginPolicy};

/// Why a request was refused before anything else looked at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Two `Host` headers: which one a proxy in front acted on is unknowable.
    DuplicateHost,
    ForeignHost,
    ForeignOrigin,
    /// A `Host` (or `Origin`) value that is not visible ASCII.
    MalformedHost,
    /// An HTTP/1.1 request with neither a `Host` header nor an absolute-form target
    /// (RFC 9112 §3.2).
    MissingHost,
}

/// The authority the request is addressed to: an absolute-form target's, which RFC 9112 §3.2.2
/// says wins over any `Host` header, else the `Host` header's.
fn authority(parts: &Parts) -> Result<Option<&str>, Refusal> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::DuplicateHost);
    }
    if let Some(authority) = parts.uri.authority() {
        return Ok(Some(authority.as_str()));
    }
    match header {
        Some(value) => value.to_str().map(Some).map_err(|_| Refusal::MalformedHost),
        None if parts.version == http::Version::HTTP_11 => Err(Refusal::MissingHost),
        None => Ok(None),
    }
}

/// The host name of a `Host` header or URI authority, without port or IPv6 brackets; `None` for
/// text that is not `host[:port]` by `http`'s authority grammar (an IPv6 address without its
/// brackets, a userinfo, which a `Host` never has, a port that is not a number, anything after
/// the port), which no policy accepts.
fn host_name(text: &str) -> Option<&str> {
    let authority: Authority = text.parse().ok()?;
    let port = match authority.port() {
        Some(port) if port.as_str().parse::<u16>().is_ok() => port.as_str().len() + 1,
        Some(_) => return None,
        None => 0,
    };
    let host = authority.host();
    // What `http` read as host and port must be all of it: `[::1]evil.com` names no loopback
    // host, and `user@host` is no `Host`.
    if host.len() + port != text.len() || !text.starts_with(host) {
        return None;
    }
    let host = &text[..host.len()];
    Some(host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host))
}

/// The host name of an `Origin` (`scheme://host[:port]`, a path tolerated): the scheme by the
/// URI grammar, the authority by [`host_name`]. A fragment, a query or a space after the port
/// leaves no host.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    scheme.parse::<Scheme>().ok()?;
    host_name(rest.split('/').next().unwrap_or(rest))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_allowed(policy: &HostPolicy, host: &str) -> bool {
    match policy {
        HostPolicy::Any => true,
        HostPolicy::Loopback => is_loopback(host),
        HostPolicy::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(host)),
    }
}

pub(crate) fn check(parts: &Parts, hosts: &HostPolicy, origins: &OriginPolicy) -> Result<(), Refusal> {
    let authority = authority(parts)?;
    if !matches!(hosts, HostPolicy::Any) {
        let host = authority.and_then(host_name).ok_or(Refusal::ForeignHost)?;
        if !host_allowed(hosts, host) {
            return Err(Refusal::ForeignHost);
        }
    }
    let Some(origin) = parts.headers.get(ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| Refusal::MalformedHost)?;
    let allowed = match origins {
        OriginPolicy::Any => true,
        OriginPolicy::Only(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        OriginPolicy::SameAsHost => origin_host(origin)
            // An origin without a host (`https://`) names no site, so it is the same as none.
            .filter(|host| !host.is_empty())
            .is_some_and(|host| match hosts {
                HostPolicy::Any => authority.and_then(host_name).is_some_and(|h| h.eq_ignore_ascii_case(host)),
                policy => host_allowed(policy, host),
            }),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::ForeignOrigin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: Option<&str>, origin: Option<&str>) -> Parts {
        parts_for("/mcp", host, origin)
    }

    fn parts_for(target: &str, host: Option<&str>, origin: Option<&str>) -> Parts {
        let mut builder = http::Request::builder().uri(target);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        if let Some(origin) = origin {
            builder = builder.header(ORIGIN, origin);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn loopback_policy() {
        let ok = |h, o| check(&parts(h, o), &HostPolicy::Loopback, &OriginPolicy::SameAsHost);
        assert_eq!(ok(Some("127.0.0.1:3000"), None), Ok(()));
        assert_eq!(ok(Some("localhost:3000"), Some("http://localhost:3000")), Ok(()));
        assert_eq!(ok(Some("[::1]:80"), Some("http://[::1]:80")), Ok(()));
        // An IPv6 address needs its brackets: without them it is no host at all (fuzzing).
        assert_eq!(ok(Some("::1:6274"), None), Err(Refusal::ForeignHost));
        assert_eq!(ok(Some("::1"), None), Err(Refusal::ForeignHost));
        assert_eq!(ok(Some("localhost:3000"), Some("http://::1:3000")), Err(Refusal::ForeignOrigin));
        assert_eq!(ok(Some("127.9.9.9"), None), Ok(()));
        assert_eq!(ok(Some("evil.example.com"), Some("http://evil.example.com")), Err(Refusal::ForeignHost));
        assert_eq!(ok(Some("127.0.0.1:3000"), Some("http://evil.example.com")), Err(Refusal::ForeignOrigin));
        assert_eq!(ok(Some("127.0.0.1:3000"), Some("null")), Err(Refusal::ForeignOrigin));
        assert_eq!(ok(None, None), Err(Refusal::MissingHost));
        assert_eq!(ok(Some("localhost.evil.com"), None), Err(Refusal::ForeignHost));
    }

    #[test]
    fn an_ipv6_literal_is_followed_by_a_port_or_nothing() {
        let ok = |h| check(&parts(Some(h), None), &HostPolicy::Loopback, &OriginPolicy::SameAsHost);
        assert_eq!(ok("[::1]"), Ok(()));
        assert_eq!(ok("[::1]:3000"), Ok(()));
        for foreign in ["[::1]evil.example.com", "[::1]:vent-id", "[::1", "[::1]:3000]"] {
            assert_eq!(ok(foreign), Err(Refusal::ForeignHost), "{foreign:?}");
        }
        let origin = |o| check(&parts(Some("[::1]:3000"), Some(o)), &HostPolicy::Any, &OriginPolicy::SameAsHost);
        assert_eq!(origin("http://[::1]:3000"), Ok(()));
        assert_eq!(origin("http://[::1]evil.example.com"), Err(Refusal::ForeignOrigin));
    }

    #[test]
    fn an_origin_without_a_host_matches_no_host_not_even_an_empty_one() {
        let same = (&HostPolicy::Any, &OriginPolicy::SameAsHost);
        // `:` as the target is authority-form with an empty host; an empty Host header is legal.
        let empty_target = parts_for(":", Some("[::1]:6274"), Some("https://"));
        assert_eq!(check(&empty_target, same.0, same.1), Err(Refusal::ForeignOrigin));
        assert_eq!(check(&parts(Some(""), Some("https://")), same.0, same.1), Err(Refusal::ForeignOrigin));
        assert_eq!(check(&parts(Some(""), None), same.0, same.1), Ok(()));
        let loopback = check(&parts(Some("localhost"), Some("http://:3000")), &HostPolicy::Loopback, same.1);
        assert_eq!(loopback, Err(Refusal::ForeignOrigin));
    }

    #[test]
    fn a_host_is_host_and_port_by_the_uri_grammar() {
        assert_eq!(host_name("example.com:8080"), Some("example.com"));
        assert_eq!(host_name("[2001:db8::1]:443"), Some("2001:db8::1"));
        assert_eq!(host_name("user@localhost"), None, "a Host has no userinfo");
        assert_eq!(host_name("localhost:http"), None, "a port is a number");
        assert_eq!(host_name("localhost:99999"), None, "a port fits 16 bits");
        assert_eq!(host_name("local host"), None);
        assert_eq!(origin_host("http://user@localhost:3000"), None);
        assert_eq!(origin_host("https://[::1]:8443"), Some("::1"));
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("http://localhost:3000/app"), Some("localhost"));
        // found by fuzzing: `http`'s URI parser stops at a fragment, which is no origin at all
        assert_eq!(origin_host("http://[::1]:627#TPPOST /mcp t-e26"), None);
    }

    #[test]
    fn allowlists() {
        let hosts = HostPolicy::Only(vec!["mcp.example.com".into()]);
        let origins = OriginPolicy::Only(vec!["https://app.example.com".into()]);
        assert_eq!(check(&parts(Some("MCP.example.com:443"), None), &hosts, &origins), Ok(()));
        assert_eq!(check(&parts(Some("mcp.example.com"), Some("https://app.example.com")), &hosts, &origins), Ok(()));
        assert_eq!(check(&parts(Some("other.com"), None), &hosts, &origins), Err(Refusal::ForeignHost));
        assert_eq!(
            check(&parts(Some("mcp.example.com"), Some("https://evil.com")), &hosts, &origins),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(check(&parts(Some("anything"), Some("https://x")), &HostPolicy::Any, &OriginPolicy::Any), Ok(()));
        assert_eq!(
            check(&parts(Some("a.com"), Some("https://a.com")), &HostPolicy::Any, &OriginPolicy::SameAsHost),
            Ok(())
        );
        assert_eq!(
            check(&parts(Some("a.com"), Some("https://b.com")), &HostPolicy::Any, &OriginPolicy::SameAsHost),
            Err(Refusal::ForeignOrigin)
        );
    }

    #[test]
    fn an_absolute_form_target_is_what_is_checked() {
        let policy = (&HostPolicy::Loopback, &OriginPolicy::SameAsHost);
        let foreign = parts_for("http://evil.example.com/mcp", Some("127.0.0.1"), None);
        assert_eq!(check(&foreign, policy.0, policy.1), Err(Refusal::ForeignHost), "the Host header does not win");
        let local = parts_for("http://127.0.0.1:3000/mcp", Some("evil.example.com"), None);
        assert_eq!(check(&local, policy.0, policy.1), Ok(()));
        let origin = parts_for("http://localhost:3000/mcp", None, Some("http://localhost:3000"));
        assert_eq!(check(&origin, &HostPolicy::Any, &OriginPolicy::SameAsHost), Ok(()));
    }

    #[test]
    fn host_headers_must_be_one_and_readable() {
        let mut two = parts(Some("localhost"), None);
        two.headers.append(HOST, http::HeaderValue::from_static("localhost"));
        assert_eq!(check(&two, &HostPolicy::Any, &OriginPolicy::Any), Err(Refusal::DuplicateHost));
        let mut opaque = parts(None, None);
        opaque.headers.insert(HOST, http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
        assert_eq!(check(&opaque, &HostPolicy::Any, &OriginPolicy::Any), Err(Refusal::MalformedHost));
        let mut old = parts(None, None);
        old.version = http::Version::HTTP_10;
        assert_eq!(check(&old, &HostPolicy::Any, &OriginPolicy::Any), Ok(()), "HTTP/1.0 needs no Host");
        assert_eq!(check(&old, &HostPolicy::Loopback, &OriginPolicy::Any), Err(Refusal::ForeignHost));
        assert_eq!(check(&parts(None, None), &HostPolicy::Any, &OriginPolicy::Any), Err(Refusal::MissingHost));
    }
}
