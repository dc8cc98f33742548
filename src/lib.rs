//! mesa provisions switchports for Juniper Mist access points.
//!
//! Data flows one way:
//!
//! ```text
//! ingest (webhook, external trigger, reconcile)
//!   -> journal (durable, deduplicated, ordered per AP)
//!   -> engine (Mist lookup, guards, plan a PortChange)
//!   -> backend (netconf | cso | mist | dry-run), batched per switch
//!   -> store (ports, APs, audit) + notify (Slack, Teams, Google Chat, Webex, Mattermost)
//! ```

pub mod app;
pub mod backend;
pub mod backoff;
pub mod chatops;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod ha;
pub mod http;
pub mod ingest;
pub mod journal;
pub mod lock;
pub mod maintenance;
pub mod metrics;
pub mod mist;
pub mod model;
pub mod notify;
pub mod output;
pub mod readiness;
pub mod reconcile;
pub mod relay;
pub mod sim;
pub mod store;
pub mod templates;
pub mod ui;
