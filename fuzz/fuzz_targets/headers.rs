//! The header checks of the front door (`Accept`, `Content-Type`, `Host` and `Origin`,
//! `MCP-Protocol-Version`) on an arbitrary request head: never a panic, and each answer agrees
//! with a stricter independent reading where one is cheap.
//!
//! The input is a request head as text, so that seeds are heads real clients sent:
//!
//! ```text
//! POST http://localhost:3000/mcp HTTP/1.1
//! host: localhost:3000
//! accept: application/json, text/event-stream
//! x-fuzz-host: mcp.example.com
//! ```
//!
//! The request line gives the target and version; every `name: value` line is a header (values
//! are raw bytes). `x-fuzz-host` and `x-fuzz-origin` lines are not headers but entries of the
//! `Only` allow-lists, against which every request is checked along with every other policy.
#![no_main]

use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST, ORIGIN};
use http::request::Parts;
use http::uri::Authority;
use http::{HeaderMap, Uri, Version};
use libfuzzer_sys::fuzz_target;
use mcp_session::fuzzing::{accepts, guard_check, is_json, protocol_header, Refusal};
use mcp_session::http::headers::MCP_PROTOCOL_VERSION;
use mcp_session::http::{HostPolicy, OriginPolicy};
use mcp_session::model::ProtocolVersion;

const MIMES: [&str; 4] = ["application/json", "text/event-stream", "text/plain", "image/png"];

fuzz_target!(|bytes: &[u8]| {
    let Some(head) = Head::parse(bytes) else { return };
    check_accept(&head.parts.headers);
    check_content_type(&head.parts.headers);
    check_protocol_version(&head.parts.headers);
    check_guard(&head);
});

struct Head {
    parts: Parts,
    allowed_hosts: Vec<String>,
    allowed_origins: Vec<String>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut lines = bytes.split(|&b| b == b'\n').map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let request_line = std::str::from_utf8(lines.next()?).ok()?;
        let mut words = request_line.split(' ');
        let _method = words.next();
        let target = words.next().and_then(|t| t.parse::<Uri>().ok()).unwrap_or_else(|| Uri::from_static("/mcp"));
        let version = match words.next() {
            Some("HTTP/1.0") => Version::HTTP_10,
            Some("HTTP/2") => Version::HTTP_2,
            _ => Version::HTTP_11,
        };
        let mut parts = http::Request::builder().uri(target).version(version).body(()).ok()?.into_parts().0;
        let (mut allowed_hosts, mut allowed_origins) = (Vec::new(), Vec::new());
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let value = line[colon + 1..].trim_ascii_start();
            match &line[..colon] {
                // An allow-list names hosts; what else an operator lists is theirs to answer for.
                b"x-fuzz-host" => {
                    let name = String::from_utf8_lossy(value).into_owned();
                    if strict_host(&name).is_some_and(|host| host.eq_ignore_ascii_case(&name)) {
                        allowed_hosts.push(name);
                    }
                }
                b"x-fuzz-origin" => allowed_origins.push(String::from_utf8_lossy(value).into_owned()),
                name => {
                    let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) else {
                        continue;
                    };
                    parts.headers.append(name, value);
                }
            }
        }
        Some(Self { parts, allowed_hosts, allowed_origins })
    }
}

fn check_accept(headers: &HeaderMap) {
    for mime in MIMES {
        let answer = accepts(headers, mime);
        // Media types are case-insensitive (RFC 9110 §8.3.1).
        assert_eq!(answer, accepts(headers, &mime.to_ascii_uppercase()), "{mime} {headers:?}");
        if !headers.contains_key(ACCEPT) {
            assert!(!answer, "no Accept admits nothing the engine requires");
        }
        // Another range only ever adds to what is admitted.
        let mut more = headers.clone();
        more.append(ACCEPT, HeaderValue::from_static("image/webp;q=0.5"));
        assert!(!answer || accepts(&more, mime), "a second Accept header took {mime} away: {headers:?}");
        more.append(ACCEPT, HeaderValue::from_static("*/*"));
        assert!(accepts(&more, mime), "`*/*` admits everything: {mime} {more:?}");
        let mut refused = HeaderMap::new();
        refused.append(ACCEPT, HeaderValue::from_str(&format!("{mime};q=0")).unwrap());
        assert!(!accepts(&refused, mime), "q=0 refuses {mime}");
    }
}

fn check_content_type(headers: &HeaderMap) {
    let answer = is_json(headers);
    let expected = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let essence = v.split(';').next().unwrap_or("").trim_matches([' ', '\t']);
        essence.eq_ignore_ascii_case("application/json")
    });
    assert_eq!(answer, expected, "{:?}", headers.get(CONTENT_TYPE));
}

fn check_protocol_version(headers: &HeaderMap) {
    let answer = protocol_header(headers);
    match headers.get(MCP_PROTOCOL_VERSION) {
        None => assert_eq!(answer, Ok(None)),
        Some(value) => {
            // The header check of the session era: a revision without sessions (2026-07-28) is
            // not one a session speaks (its requests are told apart by their body first).
            let served = ProtocolVersion::SUPPORTED
                .into_iter()
                .filter(|v| v.has_sessions())
                .find(|v| v.as_str().as_bytes() == value.as_bytes());
            match served {
                Some(version) => assert_eq!(answer, Ok(Some(version))),
                None => assert!(answer.is_err(), "{value:?} accepted as {answer:?}"),
            }
        }
    }
}

/// The host of an authority as RFC 3986 reads it (IPv6 literals keep their brackets), or `None`
/// if it is not an authority a client could address.
fn strict_host(authority: &str) -> Option<String> {
    let parsed = authority.parse::<Authority>().ok()?;
    // `http` accepts userinfo, which a Host header never carries.
    if parsed.as_str().contains('@') {
        return None;
    }
    Some(parsed.host().to_ascii_lowercase())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host of an origin (`scheme://host[:port]`), strictly. The scheme is not judged: an
/// `Origin` guards against browsers, which always send a real one.
fn origin_host(origin: &str) -> Option<String> {
    let (_, rest) = origin.split_once("://")?;
    strict_host(rest.split('/').next().unwrap_or(rest))
}

fn check_guard(head: &Head) {
    let parts = &head.parts;
    let hosts = parts.headers.get_all(HOST).iter().count();
    let authority: Option<String> = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| parts.headers.get(HOST).and_then(|v| v.to_str().ok()).map(str::to_owned));
    let host = authority.as_deref().and_then(strict_host);
    let origin = parts.headers.get(ORIGIN).map(|v| v.to_str().map(str::to_owned));
    let only_hosts = HostPolicy::Only(head.allowed_hosts.clone());
    let only_origins = OriginPolicy::Only(head.allowed_origins.clone());
    for host_policy in [&HostPolicy::Loopback, &HostPolicy::Any, &only_hosts] {
        for origin_policy in [&OriginPolicy::SameAsHost, &OriginPolicy::Any, &only_origins] {
            let answer = guard_check(parts, host_policy, origin_policy);
            let context = || format!("{host_policy:?} {origin_policy:?} {parts:?}");
            if hosts > 1 {
                assert_eq!(answer, Err(Refusal::DuplicateHost), "{}", context());
                continue;
            }
            if answer == Err(Refusal::MissingHost) {
                assert!(hosts == 0 && parts.uri.authority().is_none() && parts.version == Version::HTTP_11);
            }
            if answer != Ok(()) {
                continue;
            }
            // Accepted: the request is addressed to a host the policy names.
            match host_policy {
                HostPolicy::Loopback => {
                    let host = host.as_deref().unwrap_or_else(|| panic!("no readable host passed: {}", context()));
                    assert!(is_loopback(host), "{host:?} is not loopback: {}", context());
                }
                HostPolicy::Only(names) => {
                    let host = host.as_deref().unwrap_or_else(|| panic!("no readable host passed: {}", context()));
                    let bare = host.trim_start_matches('[').trim_end_matches(']');
                    assert!(
                        names.iter().any(|n| n.eq_ignore_ascii_case(host) || n.eq_ignore_ascii_case(bare)),
                        "{host:?} is not allowed: {}",
                        context()
                    );
                }
                _ => {}
            }
            let Some(origin) = &origin else { continue };
            let origin = origin.as_deref().unwrap_or_else(|_| panic!("an unreadable Origin passed: {}", context()));
            match origin_policy {
                OriginPolicy::Only(list) => {
                    assert!(list.iter().any(|o| o.eq_ignore_ascii_case(origin)), "{origin:?}: {}", context())
                }
                OriginPolicy::SameAsHost => {
                    let from = origin_host(origin);
                    match host_policy {
                        HostPolicy::Loopback => {
                            let from = from.unwrap_or_else(|| panic!("an unreadable origin passed: {}", context()));
                            assert!(is_loopback(&from), "{from:?}: {}", context());
                        }
                        // `Any` trusts the Host header whatever it says (a proxy checked it); the
                        // origin must name the same host.
                        HostPolicy::Any if host.is_some() => {
                            assert_eq!(from, host, "origin host differs: {}", context())
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}
