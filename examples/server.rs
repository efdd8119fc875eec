//! The main job: a real MCP server on 127.0.0.1, on the tokio host, with the in-memory store.
//!
//! ```sh
//! cargo run --release --features tokio --example server -- --port 8080
//! npx @modelcontextprotocol/inspector-cli --cli http://127.0.0.1:8080/mcp --transport http --method tools/list
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
            mcp_session::host::tokio::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
        Some(url) => {
            let (store, bus) = connect_redis(&url, cli.policy().clone())?;
            let (state, options) = cli.over(store, bus.clone());
            follow_bus(bus, state.clone())?;
            mcp_session::host::tokio::spawn_with(listener, state, move || fixture::server(&options), host)?
        }
    };
    println!("mcp-session example (tokio) listening on http://{}/mcp", running.local_addr());
    std::io::stdout().flush()?;
    running.join();
    Ok(())
}

/// The Redis store for `--redis`, and the bus to the other replicas on it. The store's
/// connection is driven by a runtime on a thread of its own, which lives as long as the process:
/// the workers' runtimes only send it commands.
#[cfg(feature = "redis")]
fn connect_redis(
    url: &str,
    policy: mcp_session::session::StorePolicy,
) -> std::io::Result<(mcp_session::redis::RedisStore<mcp_session::McpSession>, mcp_session::redis::RedisBus)> {
    use mcp_session::redis::{RedisBus, RedisStore, RedisStoreConfig};
    let (sender, connected) = std::sync::mpsc::channel();
    let target = url.to_owned();
    std::thread::Builder::new().name("mcp-redis".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let Ok(runtime) = runtime else { return };
        runtime.block_on(async move {
            let mut config = RedisStoreConfig::default();
            config.policy = policy;
            let connected = match RedisStore::connect(&target, config).await {
                Ok(store) => match RedisBus::connect(&store).await {
                    Ok(bus) => Ok((store, bus)),
                    Err(error) => Err(error.to_string()),
                },
                Err(error) => Err(error.to_string()),
            };
            let _ = sender.send(connected);
            std::future::pending::<()>().await
        });
    })?;
    let store = connected.recv().map_err(|_| std::io::Error::other("the Redis connection thread ended"))?;
    store.map_err(|error| std::io::Error::other(format!("--redis {url}: {error}")))
}

/// Feeds the engine what the other replicas send, on a thread of its own for the process's life.
#[cfg(feature = "redis")]
fn follow_bus(
    bus: mcp_session::redis::RedisBus,
    state: std::sync::Arc<mcp_session::EngineState<mcp_session::redis::RedisStore<mcp_session::McpSession>>>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // A lease before the first request: a replica that died before it ever renewed one would not
    // be known for dead, and its streams would never end.
    runtime.block_on(bus.renew(&state)).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::thread::Builder::new().name("mcp-bus".into()).spawn(move || runtime.block_on(bus.follow(&state)))?;
    Ok(())
}

#[cfg(not(feature = "redis"))]
fn connect_redis(
    _: &str,
    _: mcp_session::session::StorePolicy,
) -> std::io::Result<(mcp_session::session::MemoryStore<mcp_session::McpSession>, mcp_session::bus::NoBus)> {
    Err(std::io::Error::other("--redis needs the `redis` feature: cargo run --features tokio,redis"))
}

#[cfg(not(feature = "redis"))]
fn follow_bus<S>(_: mcp_session::bus::NoBus, _: S) -> std::io::Result<()> {
    Ok(())
}
