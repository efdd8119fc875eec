//! The MCP endpoint mounted in an axum app beside the app's own routes: `GET /health` is axum's,
//! `/mcp` is the engine's (the conformance fixture, as in the `server` example), answered on the
//! workers of `host::tower::McpService`.
//!
//! ```sh
//! cargo run --release --features tokio,tower --example axum -- --port 8080
//! curl http://127.0.0.1:8080/health
//! curl http://127.0.0.1:8080/metrics
//! npx @modelcontextprotocol/inspector-cli --cli http://127.0.0.1:8080/mcp --transport http --method tools/list
//! ```
//!
//! The flags are the `server` example's. The connection limits and timeouts among them
//! (`--max-connections`, `--header-timeout-ms`, `--idle-connection-timeout-ms`) are the hyper
//! host's and do not apply here: axum's server owns the connections. Sessions stay in memory.

#[path = "shared/cli.rs"]
// The Redis store's helpers are for the `server` examples.
#[allow(dead_code)]
mod cli;
#[path = "shared/fixture.rs"]
mod fixture;
#[path = "shared/input_fixture.rs"]
mod input_fixture;

use std::io::Write;

use axum::routing::get;
use axum::Router;
use mcp_session::host::tower::McpService;

fn main() -> std::io::Result<()> {
    cli::log_to_stderr();
    let cli = cli::parse();
    if cli.redis.is_some() {
        return Err(std::io::Error::other("--redis: this example keeps sessions in memory; see the `server` example"));
    }
    let listener = cli.listen()?;
    listener.set_nonblocking(true)?;
    let host = cli.host.clone();
    let workers = host.workers;
    let (state, options) = cli.in_memory();
    let metrics_path = host.metrics_path.clone();
    let mcp = McpService::spawn_with(state, move || fixture::server(&options), host)?;
    let mut app = Router::new().route("/health", get(|| async { "ok" })).route_service("/mcp", mcp.clone());
    if let Some(path) = metrics_path {
        // The scrape is the app's route too: the engine's series, rendered on axum's threads.
        let state = mcp.state().clone();
        let scrape = move || {
            let text = state.render_prometheus();
            async move { ([(http::header::CONTENT_TYPE, mcp_session::prometheus::CONTENT_TYPE)], text) }
        };
        app = app.route(&path, get(scrape));
    }

    // axum's connections run on a runtime of their own, with as many threads as the engine has
    // workers; the engine's requests run on its workers.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        println!("mcp-session example (axum) listening on http://{}/mcp", listener.local_addr()?);
        std::io::stdout().flush()?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = tokio::signal::ctrl_c().await;
                // Open SSE streams end after the drain, so the graceful shutdown can finish.
                drop(mcp.shutdown());
            })
            .await
    })
}
