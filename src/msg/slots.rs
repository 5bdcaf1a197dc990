//! Slots: stable numbers for frontends, backends and servers across reloads.
//!
//! Workers index everything by position (a lease is `(backend, server)`, the idle
//! pool is `[backend][server]`, stats likewise). A reload may add, remove or reorder
//! them; if positions were simply those of the new file, a connection leased before the
//! reload would give its count back to the wrong server. So the control thread gives
//! each frontend (by name), backend (by name) and server (by backend, name and
//! address) a slot the first time it sees it, and keeps it: slots are only appended.
//! A slot whose owner left the configuration stays as a tombstone (no traffic), which
//! keeps every old index valid until the last connection that holds it ends.

use std::net::SocketAddr;

use crate::config::Config;

/// Where each item of one configuration lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots {
    /// Configuration frontend index → frontend slot.
    pub frontends: Vec<usize>,
    /// Configuration backend index → backend slot.
    pub backends: Vec<usize>,
    /// `[backend index][server index]` → server slot within the backend's slot.
    pub servers: Vec<Vec<usize>>,
    /// How many frontend slots exist (live or not).
    pub frontend_slots: usize,
    /// Per backend slot: how many server slots it has (live or not).
    pub server_slots: Vec<usize>,
}

impl Slots {
    /// Slots that are the configuration's own indexes (a first configuration).
    pub fn identity(config: &Config) -> Slots {
        Layout::default().assign(config)
    }
}

#[derive(Debug, Default)]
pub struct Layout {
    frontends: Vec<String>,
    backends: Vec<BackendSlots>,
}

#[derive(Debug)]
struct BackendSlots {
    name: String,
    servers: Vec<(String, SocketAddr)>,
}

impl Layout {
    /// Give every item of `config` its slot, appending slots for new items.
    pub fn assign(&mut self, config: &Config) -> Slots {
        let frontends = config
            .frontends
            .iter()
            .map(|f| slot_of(&mut self.frontends, &f.name, |n| n == &f.name))
            .collect();
        let mut backends = Vec::with_capacity(config.backends.len());
        let mut servers = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let slot = match self.backends.iter().position(|s| s.name == b.name) {
                Some(i) => i,
                None => {
                    self.backends.push(BackendSlots {
                        name: b.name.clone(),
                        servers: Vec::new(),
                    });
                    self.backends.len() - 1
                }
            };
            let known = &mut self.backends[slot].servers;
            servers.push(
                b.servers
                    .iter()
                    .map(|s| {
                        let key = (s.name.clone(), s.address);
                        slot_of(known, &key, |k| k == &key)
                    })
                    .collect(),
            );
            backends.push(slot);
        }
        Slots {
            frontends,
            backends,
            servers,
            frontend_slots: self.frontends.len(),
            server_slots: self.backends.iter().map(|b| b.servers.len()).collect(),
        }
    }
}

fn slot_of<T: Clone>(slots: &mut Vec<T>, item: &T, same: impl Fn(&T) -> bool) -> usize {
    match slots.iter().position(same) {
        Some(i) => i,
        None => {
            slots.push(item.clone());
            slots.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(backends: &str) -> Config {
        let text = format!(
            "[[frontend]]\nname = \"f\"\nbind = [\"127.0.0.1:1\"]\ndefault_backend = \"a\"\n{backends}"
        );
        Config::parse(&text, "t.toml").expect("valid test config")
    }

    #[test]
    fn first_configuration_gets_its_own_indexes() {
        let c = config(
            "[[backend]]\nname = \"a\"\n[[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:1\"\n\
             [[backend.server]]\nname = \"s2\"\naddress = \"127.0.0.1:2\"\n",
        );
        let s = Slots::identity(&c);
        assert_eq!(s.backends, vec![0]);
        assert_eq!(s.servers, vec![vec![0, 1]]);
        assert_eq!(s.server_slots, vec![2]);
        assert_eq!(s.frontends, vec![0]);
    }

    #[test]
    fn slots_survive_removal_reorder_and_address_change() {
        let mut layout = Layout::default();
        let first = config(
            "[[backend]]\nname = \"a\"\n[[backend.server]]\nname = \"s1\"\naddress = \"127.0.0.1:1\"\n\
             [[backend.server]]\nname = \"s2\"\naddress = \"127.0.0.1:2\"\n",
        );
        layout.assign(&first);
        // s2 first, s1 gone, s3 new, and a new backend before "a".
        let second = config(
            "[[backend]]\nname = \"b\"\n[[backend.server]]\nname = \"x\"\naddress = \"127.0.0.1:9\"\n\
             [[backend]]\nname = \"a\"\n[[backend.server]]\nname = \"s2\"\naddress = \"127.0.0.1:2\"\n\
             [[backend.server]]\nname = \"s3\"\naddress = \"127.0.0.1:3\"\n",
        );
        let s = layout.assign(&second);
        assert_eq!(s.backends, vec![1, 0]);
        assert_eq!(s.servers, vec![vec![0], vec![1, 2]]);
        assert_eq!(s.server_slots, vec![3, 1]);
        // The same name at a new address is a new server.
        let third = config(
            "[[backend]]\nname = \"a\"\n[[backend.server]]\nname = \"s2\"\naddress = \"127.0.0.1:7\"\n",
        );
        let s = layout.assign(&third);
        assert_eq!(s.servers, vec![vec![3]]);
    }
}
