//! The differential harness of tests/differential.rs: HAProxy and ringlb (with the
//! imported configuration) side by side on the same requests.
//!
//! - script.rs: a case's request script (NAME.toml) and its checks
//! - rewrite.rs: line-preserving rewrite of bind and server addresses to loopback
//! - proxies.rs: HAProxy, `ringlb import`, ringlb
//! - exchange.rs: one request through a proxy; comparing the two proxies' answers
//! - case.rs: running one case's steps and collecting the differences

pub mod case;
pub mod exchange;
pub mod proxies;
pub mod rewrite;
pub mod script;
