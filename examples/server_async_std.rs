//! The same server as `server`, on the async-std host.
//!
//! ```sh
//! cargo run --release --features async-std --example server_async_std -- --port 8080
//! ```

#[path = "shared/cli.rs"]
mod cli;
#[path = "shared/fixture.rs"]
mod fixture;
#[path = "shared/input_fixture.rs"]
mod input_fixture;

use std::io::Write;

fn main() -> std::io::Result<()> {
    cli::log_to_stderr();
    let cli = cli::parse();
    let listener = cli.listen()?;
    let host = cli.host.clone();
    let running = match cli.redis.clone() {
        None => {
            let (state, options) = cli.in_memory();
            mcp_session::host::async_std::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
        Some(url) => {
            let (store, bus) = connect_redis(&url, cli.policy().clone())?;
            let (state, options) = cli.over(store, bus.clone());
            follow_bus(bus, state.clone())?;
            mcp_session::host::async_std::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
    };
    println!("mcp-session example (async-std) listening on http://{}/mcp", running.local_addr());
    std::io::stdout().flush()?;
    running.join();
    Ok(())
}

/// The Redis store for `--redis`, on smol's executor (which async-std runs on), and the bus to
/// the other replicas on it.
#[cfg(feature = "redis")]
fn connect_redis(
    url: &str,
    policy: mcp_session::session::StorePolicy,
) -> std::io::Result<(mcp_session::redis::RedisStore<mcp_session::McpSession>, mcp_session::redis::RedisBus)> {
    use mcp_session::redis::{RedisBus, RedisStore, RedisStoreConfig};
    let mut config = RedisStoreConfig::default();
    config.policy = policy;
    let failed = |error: String| std::io::Error::other(format!("--redis {url}: {error}"));
    let store = async_std::task::block_on(RedisStore::connect(url, config)).map_err(|e| failed(e.to_string()))?;
    let bus = async_std::task::block_on(RedisBus::connect(&store)).map_err(|e| failed(e.to_string()))?;
    Ok((store, bus))
}

/// Feeds the engine what the other replicas send, on a thread of its own for the process's life.
#[cfg(feature = "redis")]
fn follow_bus(
    bus: mcp_session::redis::RedisBus,
    state: std::sync::Arc<mcp_session::EngineState<mcp_session::redis::RedisStore<mcp_session::McpSession>>>,
) -> std::io::Result<()> {
    // A lease before the first request: a replica that died before it ever renewed one would not
    // be known for dead, and its streams would never end.
    async_std::task::block_on(bus.renew(&state)).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new().name("mcp-bus".into()).spawn(move || async_std::task::block_on(bus.follow(&state)))?;
    Ok(())
}

#[cfg(not(feature = "redis"))]
fn connect_redis(
    _: &str,
    _: mcp_session::session::StorePolicy,
) -> std::io::Result<(mcp_session::session::MemoryStore<mcp_session::McpSession>, mcp_session::bus::NoBus)> {
    Err(std::io::Error::other("--redis needs the `redis` feature: cargo run --features async-std,redis"))
}

#[cfg(not(feature = "redis"))]
fn follow_bus<S>(_: mcp_session::bus::NoBus, _: S) -> std::io::Result<()> {
    Ok(())
}
