//! A virtual router's tracking beyond its frontends, keepalived's way:
//! `[[vrrp.track_interface]]` (another link), `[[vrrp.track_script]]` (a program's
//! exit status, keepalived's `vrrp_script`) and `[[vrrp.track_file]]` (an integer in
//! a file). Weights are keepalived's: 0 means FAULT while failing, a positive weight
//! is added while fine, a negative one while failing (−253..=253).

use std::time::Duration;

use super::raw::S;
use super::raw_vrrp::{RawTrackFile, RawTrackInterface, RawTrackScript, RawVrrp};
use super::validate::Validator;
use super::validate_vrrp::is_interface_name;
use super::{TrackFile, TrackInterface, TrackScript};

const WEIGHTS: std::ops::RangeInclusive<i64> = -253..=253;

impl Validator {
    #[allow(clippy::type_complexity)]
    pub(super) fn vrrp_tracks(
        &mut self,
        v: &RawVrrp,
        k: &str,
    ) -> (Vec<TrackInterface>, Vec<TrackScript>, Vec<TrackFile>) {
        let interfaces = v
            .track_interface
            .iter()
            .enumerate()
            .map(|(i, t)| self.track_interface(t, &format!("{k}.track_interface[{i}]")))
            .collect();
        let scripts = v
            .track_script
            .iter()
            .enumerate()
            .map(|(i, t)| self.track_script(t, &format!("{k}.track_script[{i}]")))
            .collect();
        let files = v
            .track_file
            .iter()
            .enumerate()
            .map(|(i, t)| self.track_file(t, &format!("{k}.track_file[{i}]")))
            .collect();
        (interfaces, scripts, files)
    }

    fn track_interface(&mut self, raw: &S<RawTrackInterface>, k: &str) -> TrackInterface {
        let t = raw.get_ref();
        let interface = t.interface.get_ref().clone();
        if !is_interface_name(&interface) {
            self.error(
                t.interface.span(),
                format!("{k}.interface {interface:?} is not an interface name"),
            );
        }
        let weight = self.int_in(t.weight.as_ref(), 0, WEIGHTS, &format!("{k}.weight")) as i32;
        TrackInterface { interface, weight }
    }

    fn track_script(&mut self, raw: &S<RawTrackScript>, k: &str) -> TrackScript {
        let t = raw.get_ref();
        let command = t.command.get_ref().clone();
        match command.first() {
            None => self.error(t.command.span(), format!("{k}.command is empty: give the program and its arguments, such as [\"/usr/local/bin/check\", \"--primary\"]")),
            Some(p) if !p.starts_with('/') => self.error(
                t.command.span(),
                format!("{k}.command: {p:?} must be an absolute path (no shell, no PATH search)"),
            ),
            Some(_) => {}
        }
        let name = match &t.name {
            Some(n) => {
                self.name(n, &format!("{k}.name: track script"));
                n.get_ref().clone()
            }
            None => command.first().cloned().unwrap_or_default(),
        };
        let second = Duration::from_secs(1);
        let interval = self.duration(t.interval.as_ref(), second, &format!("{k}.interval"));
        let timeout = self.duration(t.timeout.as_ref(), interval, &format!("{k}.timeout"));
        for (d, raw, key) in [
            (interval, &t.interval, "interval"),
            (timeout, &t.timeout, "timeout"),
        ] {
            if let Some(r) = raw.as_ref().filter(|_| d < Duration::from_millis(10)) {
                self.error(r.span(), format!("{k}.{key} must be at least 10ms"));
            }
        }
        let weight = self.int_in(t.weight.as_ref(), 0, WEIGHTS, &format!("{k}.weight")) as i32;
        let rise = self.int_in(t.rise.as_ref(), 1, 1..=1000, &format!("{k}.rise")) as u32;
        let fall = self.int_in(t.fall.as_ref(), 1, 1..=1000, &format!("{k}.fall")) as u32;
        TrackScript {
            name,
            command,
            interval,
            timeout,
            weight,
            rise,
            fall,
            init_fail: t.init_fail.unwrap_or(false),
        }
    }

    fn track_file(&mut self, raw: &S<RawTrackFile>, k: &str) -> TrackFile {
        let t = raw.get_ref();
        let path = std::path::PathBuf::from(t.file.get_ref());
        if !path.is_absolute() {
            self.error(
                t.file.span(),
                format!("{k}.file {:?} must be an absolute path", t.file.get_ref()),
            );
        }
        // keepalived's track_file weight defaults to 1: the file holds the adjustment.
        let weight = self.int_in(t.weight.as_ref(), 1, WEIGHTS, &format!("{k}.weight")) as i32;
        let second = Duration::from_secs(1);
        let interval = self.duration(t.interval.as_ref(), second, &format!("{k}.interval"));
        if let Some(r) = t
            .interval
            .as_ref()
            .filter(|_| interval < Duration::from_millis(10))
        {
            self.error(r.span(), format!("{k}.interval must be at least 10ms"));
        }
        TrackFile {
            path,
            weight,
            interval,
        }
    }
}
