//! The `[vrrp]` / `[[vrrp]]` keys as written, and `[[vrrp_sync_group]]`: serde structs
//! mirroring the TOML (see `raw.rs`), spans kept for messages.

use serde::Deserialize;

use super::raw::S;

/// `[vrrp]` as one table, or `[[vrrp]]` as an array of tables: both are accepted
/// (the contract's single `[vrrp]` stays valid). A hand-written visitor rather than
/// `#[serde(untagged)]`, which buffers values and so loses the line of every key.
#[derive(Debug)]
pub enum RawVrrps {
    One(Box<RawVrrp>),
    Many(Vec<S<RawVrrp>>),
}

impl<'de> Deserialize<'de> for RawVrrps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> serde::de::Visitor<'de> for OneOrMany {
            type Value = RawVrrps;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [vrrp] table or [[vrrp]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawVrrps, A::Error> {
                let de = serde::de::value::MapAccessDeserializer::new(map);
                RawVrrp::deserialize(de).map(|v| RawVrrps::One(Box::new(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawVrrps, A::Error> {
                let mut all = Vec::new();
                while let Some(v) = seq.next_element()? {
                    all.push(v);
                }
                Ok(RawVrrps::Many(all))
            }
        }
        d.deserialize_any(OneOrMany)
    }
}

impl RawVrrps {
    pub fn routers(&self) -> Vec<&RawVrrp> {
        match self {
            RawVrrps::One(v) => vec![v],
            RawVrrps::Many(list) => list.iter().map(|v| v.get_ref()).collect(),
        }
    }
}

/// Added: `[[vrrp_sync_group]]`, virtual routers (by `name`) that change state
/// together, with an optional `notify` program for the group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyncGroup {
    pub name: S<String>,
    #[serde(default)]
    pub routers: Vec<S<String>>,
    pub notify: Option<S<String>>,
    /// Added keys: see `RawVrrp::notify_master` (no `notify_stop` for a group).
    pub notify_master: Option<S<Vec<String>>>,
    pub notify_backup: Option<S<Vec<String>>>,
    pub notify_fault: Option<S<Vec<String>>>,
    /// Added key: mail the group's state changes (keepalived's `smtp_alert`);
    /// default `mail.vrrp`.
    pub mail: Option<bool>,
}

/// `[vrrp]`: own virtual IPs like keepalived (see `validate_vrrp.rs`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVrrp {
    /// Added key: the router's name (keepalived's instance name), for sync groups,
    /// logs, metrics labels and notify; default `VI_<virtual_router_id>`.
    pub name: Option<S<String>>,
    pub interface: S<String>,
    pub virtual_router_id: S<i64>,
    pub priority: Option<S<i64>>,
    pub advert_interval: Option<S<String>>,
    pub preempt: Option<bool>,
    /// Added key: wait this long before preempting (keepalived's `preempt_delay`).
    pub preempt_delay: Option<S<String>>,
    #[serde(default)]
    pub virtual_ips: Vec<S<String>>,
    #[serde(default)]
    pub unicast_peers: Vec<S<String>>,
    pub track_frontends: Option<bool>,
    pub track_weight: Option<S<i64>>,
    pub notify: Option<S<String>>,
    /// Added keys (keepalived's `notify_master` etc.): a program and its arguments,
    /// run as written (nothing appended) when the router enters that state, before
    /// `notify`.
    pub notify_master: Option<S<Vec<String>>>,
    pub notify_backup: Option<S<Vec<String>>>,
    pub notify_fault: Option<S<Vec<String>>>,
    pub notify_stop: Option<S<Vec<String>>>,
    /// Added key: `"keepalived"` (default) or `"rfc9568"`.
    pub checksum: Option<S<String>>,
    /// Added keys (keepalived's names): gratuitous ARPs (IPv6: neighbour
    /// advertisements) per virtual IP on becoming master, and the pause before the
    /// second such burst (`"0s"`: none).
    pub garp_master_repeat: Option<S<i64>>,
    pub garp_master_delay: Option<S<String>>,
    /// Added keys: keepalived's `track_interface`, `track_script` (`vrrp_script`) and
    /// `track_file`, as `[[vrrp.track_interface]]` etc.
    #[serde(default)]
    pub track_interface: Vec<S<RawTrackInterface>>,
    #[serde(default)]
    pub track_script: Vec<S<RawTrackScript>>,
    #[serde(default)]
    pub track_file: Vec<S<RawTrackFile>>,
    /// Added key: mail this router's state changes (keepalived's `smtp_alert`);
    /// default `mail.vrrp`.
    pub mail: Option<bool>,
}

/// `[[vrrp.track_interface]]`: another interface down lowers the priority (or faults).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackInterface {
    pub interface: S<String>,
    pub weight: Option<S<i64>>,
}

/// `[[vrrp.track_script]]`: a program's exit status, keepalived's `vrrp_script`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackScript {
    pub name: Option<S<String>>,
    /// The program and its arguments (no shell).
    pub command: S<Vec<String>>,
    pub interval: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub weight: Option<S<i64>>,
    pub rise: Option<S<i64>>,
    pub fall: Option<S<i64>>,
    pub init_fail: Option<bool>,
}

/// `[[vrrp.track_file]]`: an integer in a file, times `weight`, added to the priority.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackFile {
    pub file: S<String>,
    pub weight: Option<S<i64>>,
    pub interval: Option<S<String>>,
}
