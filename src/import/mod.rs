//! `ringlb import`: HAProxy and keepalived configurations → ringlb's TOML, with every
//! input line either cited in a comment of the output or reported as not translated.
//!
//! - `lex.rs`: HAProxy's line tokenizer (quotes, escapes, environment variables).
//! - `report.rs`: the fate of every line, the not-translated list, exit statuses.
//! - `toml_out.rs`: tables with source-line comments, written as TOML text.
//! - `haproxy/`: haproxy.cfg sections → frontends, backends, global.
//! - `keepalived/`: keepalived.conf blocks → `[vrrp]` / `[[vrrp]]`, `[[vrrp_sync_group]]`.
//!
//! Pure: files are read, and the environment looked up, by the caller.

pub mod haproxy;
pub mod keepalived;
pub mod lex;
pub mod report;
pub mod toml_out;

pub use report::{Lost, EXIT_COMPLETE, EXIT_PARSE, EXIT_PARTIAL};

/// A file to translate: its name as it should appear in messages, and its text.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// The translation: the TOML text and what it could not carry.
#[derive(Debug)]
pub struct Translation {
    pub toml: String,
    pub lost: Vec<Lost>,
}

impl Translation {
    /// `EXIT_COMPLETE` or `EXIT_PARTIAL`.
    pub fn exit_status(&self) -> u8 {
        if self.lost.is_empty() {
            EXIT_COMPLETE
        } else {
            EXIT_PARTIAL
        }
    }
}

/// The input does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
}

/// haproxy.cfg, and optionally a keepalived.conf whose VRRP instances become `[vrrp]` / `[[vrrp]]`.
pub fn haproxy(
    cfg: Input,
    keepalived: Option<Input>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Translation, ImportError> {
    let mut led = report::Ledger::default();
    let mut tables = haproxy::translate(cfg.name, cfg.text, env, &mut led)?;
    if let Some(k) = keepalived {
        let more = keepalived::translate(k.name, k.text, &mut led)?;
        merge_global(&mut tables, more);
    }
    Ok(finish(tables, led, &[cfg.name], keepalived.map(|k| k.name)))
}

/// keepalived.conf alone: the `[vrrp]` / `[[vrrp]]` tables to add to a ringlb configuration.
pub fn keepalived(input: Input) -> Result<Translation, ImportError> {
    let mut led = report::Ledger::default();
    let tables = keepalived::translate(input.name, input.text, &mut led)?;
    Ok(finish(tables, led, &[], Some(input.name)))
}

/// Add keepalived's tables to HAProxy's: its `[global]` keys (whom VRRP's programs
/// run as) join HAProxy's `[global]`, and its `[mail]` keys HAProxy's `[mail]`, since
/// TOML allows one of each (keepalived's settings win, but HAProxy's `level`: only
/// HAProxy mails about servers).
fn merge_global(tables: &mut Vec<toml_out::Table>, more: Vec<toml_out::Table>) {
    for t in more {
        let one = t.header == "[global]" || t.header == "[mail]";
        match tables.iter_mut().find(|h| one && h.header == t.header) {
            Some(g) if t.header == "[mail]" => {
                g.notes.extend(t.notes);
                for item in t.items.into_iter().filter(|i| i.key != "level") {
                    let mut notes = item.notes.into_iter();
                    g.set(&item.key, item.value, notes.next().unwrap_or_default());
                    notes.for_each(|n| g.cite(&item.key, n));
                }
            }
            Some(g) => {
                g.notes.extend(t.notes);
                g.items.extend(t.items);
            }
            None => tables.push(t),
        }
    }
}

fn finish(
    tables: Vec<toml_out::Table>,
    mut led: report::Ledger,
    haproxy: &[&str],
    keepalived: Option<&str>,
) -> Translation {
    led.close();
    let mut header = vec!["Translated by `ringlb import` from:".to_string()];
    header.extend(haproxy.iter().map(|h| format!("  {h} (HAProxy)")));
    header.extend(keepalived.map(|k| format!("  {k} (keepalived)")));
    header.push(
        "Each key cites the line it comes from; \"differs:\" says where ringlb behaves otherwise."
            .into(),
    );
    let lost = led.lost_list();
    if !lost.is_empty() {
        header.push(format!(
            "{} line(s) or option(s) NOT translated:",
            lost.len()
        ));
        header.extend(lost.iter().map(|l| format!("  {l}")));
    }
    let notes = led.notes();
    if !notes.is_empty() {
        header.push("Lines with nothing to carry over:".into());
        header.extend(notes.iter().map(|n| format!("  {n}")));
    }
    Translation {
        toml: toml_out::write(&header, &tables),
        lost,
    }
}
