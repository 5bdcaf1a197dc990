//! The payload of `Update::Reload`: a new configuration, its slots, the servers'
//! state, and the worker's new listeners.

use std::net::SocketAddr;
use std::sync::Arc;

use super::slots::Slots;
use super::update::SetServer;
use crate::config::Config;
use crate::listen::BoundListener;

/// What a worker receives on reload.
#[derive(Debug)]
pub struct Reload {
    pub config: Arc<Config>,
    pub slots: Arc<Slots>,
    /// The control thread's state of every server, by configuration index.
    pub servers: Arc<Vec<Vec<SetServer>>>,
    /// Listeners this worker starts now (`frontend` is a frontend slot).
    pub listeners: Vec<BoundListener>,
    /// Listening addresses (as bound) that stay, with the frontend slot each now
    /// serves. The worker stops accepting on every other address.
    pub keep: Arc<Vec<(SocketAddr, usize)>>,
}
