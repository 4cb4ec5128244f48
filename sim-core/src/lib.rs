//! Deterministic discrete-event engine for kube-netsim. It knows nothing about networks.
//!
//! The determinism contract every crate above relies on:
//! - time is [`SimTime`]/[`SimDuration`] (integer nanoseconds); the wall clock is banned
//!   (see `clippy.toml`);
//! - events with equal times run in insertion order ([`EventQueue`]);
//! - every random draw comes from a named stream of [`RngStreams`], derived from the
//!   scenario seed and the stream name with a hash we own (FNV-1a), so adding a
//!   component never shifts another component's choices;
//! - nothing iterates a hashed collection where the order could reach an output.

pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;

pub use queue::EventQueue;
pub use rng::{RngStreams, SimRng, below, stable_hash};
pub use sim::{Limits, Simulation, StopReason, World};
pub use time::{ParseDurationError, SimDuration, SimTime};
