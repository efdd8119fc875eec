//! `Host` and `Origin` validation against DNS rebinding.

use http::header::{HOST, ORIGIN};
use http::request::Parts;

use super::config::{HostPolicy, OriginPolicy};

/// Why a request was refused before anything else looked at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    ForeignHost,
    ForeignOrigin,
}

/// The host name of a `Host` header or URI authority, without port or IPv6 brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(host, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            host
        } else {
            authority
        }
    })
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
    let authority =
        parts.headers.get(HOST).and_then(|v| v.to_str().ok()).or_else(|| parts.uri.authority().map(|a| a.as_str()));
    if !matches!(hosts, HostPolicy::Any) {
        let host = authority.map(host_name).ok_or(Refusal::ForeignHost)?;
        if !host_allowed(hosts, host) {
            return Err(Refusal::ForeignHost);
        }
    }
    let Some(origin) = parts.headers.get(ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| Refusal::ForeignOrigin)?;
    let allowed = match origins {
        OriginPolicy::Any => true,
        OriginPolicy::Only(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        OriginPolicy::SameAsHost => origin
            .split_once("://")
            .map(|(_, rest)| host_name(rest.split('/').next().unwrap_or(rest)))
            .is_some_and(|host| match hosts {
                HostPolicy::Any => authority.map(host_name).is_some_and(|h| h.eq_ignore_ascii_case(host)),
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
        let mut builder = http::Request::builder().uri("/mcp");
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
        assert_eq!(ok(Some("127.9.9.9"), None), Ok(()));
        assert_eq!(ok(Some("evil.example.com"), Some("http://evil.example.com")), Err(Refusal::ForeignHost));
        assert_eq!(ok(Some("127.0.0.1:3000"), Some("http://evil.example.com")), Err(Refusal::ForeignOrigin));
        assert_eq!(ok(Some("127.0.0.1:3000"), Some("null")), Err(Refusal::ForeignOrigin));
        assert_eq!(ok(None, None), Err(Refusal::ForeignHost));
        assert_eq!(ok(Some("localhost.evil.com"), None), Err(Refusal::ForeignHost));
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
}
