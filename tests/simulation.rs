//! The whole-engine simulation (see `tests/sim/mod.rs`): thousands of seeded runs, each a random
//! interleaving of sessions, requests, streams, faults and time, checked against a client's
//! model and the engine's books.
//!
//! `SIM_SEEDS=N` runs N seeds (default 10,000), `SIM_SEED=S` one seed with its trace,
//! `SIM_STEPS=K` changes the steps per seed (default 160).
//!
//! Invariants 1, 2, 5 and 8 of the crate docs, together, under interleavings.
#![cfg(not(target_family = "wasm"))]

mod common;
mod sim;
mod support_http;

use std::time::Instant;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

#[test]
fn seeded_runs_hold_every_invariant() {
    let steps = env("SIM_STEPS").unwrap_or(160) as usize;
    if let Some(seed) = env("SIM_SEED") {
        if let Err(failure) = sim::run(seed, steps) {
            panic!("{failure}");
        }
        return;
    }
    let seeds = env("SIM_SEEDS").unwrap_or(10_000);
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..seeds)
                        .filter(|seed| seed % threads == t)
                        .find_map(|seed| sim::run(seed, steps).err())
                        .map(|f| f.to_string())
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().expect("a simulation thread panicked")).collect()
    });
    let elapsed = started.elapsed();
    println!(
        "simulation: {seeds} seeds × {steps} steps in {elapsed:.1?} ({:.0} seeds/s)",
        seeds as f64 / elapsed.as_secs_f64()
    );
    if let Some(first) = failures.first() {
        panic!("{first}");
    }
}
