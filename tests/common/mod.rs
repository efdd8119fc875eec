//! Shared helpers for the integration tests: a runtime matrix and virtual-time fixtures.
//!
//! Every scenario is a plain `async fn` that never sleeps (time comes from a `ManualClock`), so
//! the same body runs under tokio, async-std and smol natively, and under wasm-bindgen-test in
//! Node when built for `wasm32-unknown-unknown`.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use mcp_session::{
    ManualClock, Owner, Principal, SessionIdGenerator, Sessions, SessionsBuilder, StreamItem, Subscription, TenantId,
    Timestamp,
};

/// Runs each `async fn` under every executor the crate supports.
#[macro_export]
macro_rules! on_every_runtime {
    ($(async fn $name:ident() $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            pub(super) async fn scenario() $body

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn tokio() {
                $crate::common::block_on_tokio(scenario())
            }

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn async_std() {
                async_std::task::block_on(scenario())
            }

            #[cfg(not(target_family = "wasm"))]
            #[test]
            fn smol() {
                smol::block_on(scenario())
            }

            #[cfg(target_family = "wasm")]
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn wasm() {
                scenario().await
            }
        }
    )*};
}

#[cfg(not(target_family = "wasm"))]
pub fn block_on_tokio<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime").block_on(future)
}

/// Noon, 21 Nov 2026: any fixed start works; a realistic one keeps ticks looking like times.
pub const START: Timestamp = Timestamp::from_millis(1_795_262_400_000);

pub fn clock() -> ManualClock {
    ManualClock::new(START)
}

pub fn builder(clock: &ManualClock) -> SessionsBuilder {
    Sessions::builder().clock(clock.clone()).ids(SessionIdGenerator::seeded(42))
}

pub fn engine(clock: &ManualClock) -> Sessions<()> {
    builder(clock).build()
}

pub fn owner(tenant: &str) -> Owner {
    Owner::new(TenantId::new(tenant), Principal::anonymous())
}

pub fn at(offset: Duration) -> Timestamp {
    START.saturating_add(offset)
}

pub fn msg(n: u64) -> Bytes {
    Bytes::from(format!(r#"{{"n":{n}}}"#))
}

/// The `n` of a payload made by [`msg`].
pub fn n_of(item: &StreamItem) -> Option<u64> {
    match item {
        StreamItem::Event(event) => {
            let value: serde_json::Value = serde_json::from_slice(event.payload()).ok()?;
            value["n"].as_u64()
        }
        _ => None,
    }
}

/// Everything the subscription can yield right now, without waiting.
pub fn drain(subscription: &mut Subscription) -> Vec<StreamItem> {
    let mut items = Vec::new();
    while let Some(Some(item)) = subscription.next().now_or_never() {
        items.push(item);
    }
    items
}

/// Whether the subscription has ended (yields `None` now).
pub fn has_ended(subscription: &mut Subscription) -> bool {
    matches!(subscription.next().now_or_never(), Some(None))
}
