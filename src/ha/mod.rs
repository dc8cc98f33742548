//! Several mesa instances on one shared store (`store.kind = "postgres"`): which instance
//! works on what. Any instance accepts webhooks; then
//! - [`claim`]: each instance claims journal events under a lease renewed by a heartbeat,
//!   and takes over those of an instance whose lease expired (killed, cut off);
//! - [`switch_lease`]: one instance at a time talks to a switch;
//! - [`singleton`]: the periodic reconcile and the WebSocket stream run on one instance,
//!   and move to another within about `store.lease` when it dies.
//!
//! With the embedded SQLite store there is one instance: every lease is its own, and the
//! same code leaves mesa's behaviour as it was.

pub mod claim;
pub mod singleton;
pub mod switch_lease;

/// Lease names of the singletons.
pub const RECONCILE: &str = "singleton:reconcile";
pub const STREAM: &str = "singleton:stream";
