//! The whole-engine simulation (see `tests/sim/mod.rs`): thousands of seeded runs, each a random
//! interleaving of sessions, requests, streams, faults and time, checked against a client's
//! model and the engine's books.
//!
//! `SIM_SEEDS=N` runs N seeds (default 10,000), `SIM_SEED=S` one seed with its trace,
//! `SIM_STEPS=K` changes the steps per seed (default 160).
//!
//! The same runs go over two replicas sharing a real `redis-server` (its store and its bus):
//! `SIM_REDIS_SEEDS=N` (default 30: real I/O runs about 13 seeds/s), `SIM_REDIS_SEED=S` one
//! seed. `SIM_THREADS=T` sets how many seeds run at once (default: the cores, at most 4);
//! `SIM_ALL=1` runs on past a failing seed, to count them, and prints every failure;
//! `SIM_FIRST=F` starts the seeds at F instead of 0; `SIM_PLAIN=1` runs every seed with the
//! plain mix of steps instead of a swarm of mixes (see `Sim::swarm`).
//!
//! Invariants 1, 2, 5 and 8 of the crate docs, together, under interleavings; over Redis,
//! invariant 12 too.
#![cfg(not(target_family = "wasm"))]

mod common;
mod sim;
mod support_http;
#[cfg(all(feature = "redis", feature = "tokio"))]
mod support_redis;

use std::time::Instant;

use sim::Place;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
}

#[test]
fn seeded_runs_hold_every_invariant() {
    let steps = env("SIM_STEPS").unwrap_or(160) as usize;
    if let Some(seed) = env("SIM_SEED") {
        if let Err(failure) = sim::run(seed, steps, Place::Memory) {
            panic!("{failure}");
        }
        return;
    }
    let seeds = env("SIM_SEEDS").unwrap_or(10_000);
    run_seeds("simulation", seeds, steps, |_| Place::Memory);
}

/// Two replicas on one Redis, each seed under a key prefix of its own. Real I/O: a seed repeats
/// its choices, not its timing.
#[cfg(all(feature = "redis", feature = "tokio"))]
#[test]
fn seeded_runs_over_two_replicas_on_redis_hold_every_invariant() {
    let Some(redis) = support_redis::RedisServer::start() else { return };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    let steps = env("SIM_STEPS").unwrap_or(160) as usize;
    let place = |seed: u64| {
        Place::Redis(sim::RedisPlace {
            url: redis.url(),
            prefix: format!("sim{}-{seed}", std::process::id()),
            runtime: runtime.handle().clone(),
        })
    };
    let run = |seed: u64| {
        // The bus's connections and timers are the runtime's: every sim thread enters it.
        let _inside = runtime.enter();
        sim::run(seed, steps, place(seed))
    };
    if let Some(seed) = env("SIM_REDIS_SEED") {
        if let Err(failure) = run(seed) {
            panic!("{failure}");
        }
        return;
    }
    let seeds = env("SIM_REDIS_SEEDS").unwrap_or(30);
    run_seeds_with("simulation over redis", seeds, steps, run);
}

fn run_seeds(what: &str, seeds: u64, steps: usize, place: impl Fn(u64) -> Place + Sync) {
    run_seeds_with(what, seeds, steps, |seed| sim::run(seed, steps, place(seed)));
}

fn run_seeds_with(what: &str, seeds: u64, steps: usize, run: impl Fn(u64) -> Result<(), sim::Failure> + Sync) {
    let run = &run;
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u64;
    let threads = env("SIM_THREADS").unwrap_or(cores).max(1);
    // `SIM_ALL=1` runs every seed on past a failure, to count them, and prints them all.
    let all = std::env::var_os("SIM_ALL").is_some();
    let first = env("SIM_FIRST").unwrap_or(0);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut failed = Vec::new();
                    for seed in (first..first + seeds).filter(|seed| seed % threads == t) {
                        if let Err(failure) = run(seed) {
                            failed.push(failure.to_string());
                            if !all {
                                break;
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a simulation thread panicked")).collect()
    });
    let elapsed = started.elapsed();
    println!(
        "{what}: {seeds} seeds × {steps} steps in {elapsed:.1?} ({:.0} seeds/s)",
        seeds as f64 / elapsed.as_secs_f64()
    );
    if all {
        for failure in &failures {
            println!("{failure}\n");
        }
    }
    if let Some(first) = failures.first() {
        panic!("{} seeds failed; the first: {first}", failures.len());
    }
}
