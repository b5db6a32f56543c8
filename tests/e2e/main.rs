//! bnx's integration tests, one test binary with a module per topic (as ripgrep lays its tests
//! out): one link instead of eight, and `cargo test` runs them all in one pool of threads.

mod common;

mod backends;
mod cli;
mod docs;
mod evidence;
mod fetch;
mod idx_properties;
mod kernels;
mod layers;
mod study_shards;
mod workflow;
