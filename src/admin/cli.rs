//! HAProxy's runtime CLI (`stats socket`), the pure part: a line split into
//! commands, each parsed into a [`Command`] with HAProxy's error wording, the level
//! each needs, and the `show stat` CSV (HAProxy 2.6's columns, in its order). The
//! socket and the execution against the control plane are in `cli_serve.rs`.

use std::net::{IpAddr, SocketAddr};

use super::cli_typed::Format;
use crate::config::CliLevel;
use crate::control::Probe;
use crate::lb::Admin;

/// `show stat`'s columns, exactly as HAProxy 2.6 prints them after `# ` (checked
/// against the installed haproxy by tests/admin_cli/).
pub const STAT_COLUMNS: &str = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out";

/// `show servers state`'s header (format version 1), as HAProxy 2.6 prints it.
pub const SERVERS_STATE_HEADER: &str = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n";

/// A weight as the CLI writes it: absolute, or a percentage of the initial weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Absolute(u32),
    Percent(u32),
}

impl Weight {
    /// The absolute weight, given the server's weight from the file.
    pub fn resolve(self, initial: u32) -> Result<u32, &'static str> {
        let w = match self {
            Weight::Absolute(w) => w,
            Weight::Percent(p) => {
                (u64::from(initial) * u64::from(p) / 100).min(u64::from(u32::MAX)) as u32
            }
        };
        if w > 256 {
            return Err("Absolute weight can only be between 0 and 256 inclusive.\n");
        }
        Ok(w)
    }
}

/// One command of the subset ringlb answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Prompt,
    Quit,
    /// `operator` / `user`: lower this session's level.
    Lower(CliLevel),
    ShowCliLevel,
    ShowInfo(Format),
    ShowStat(Format),
    ShowServersState(Option<String>),
    ShowBackend,
    ShowTable,
    GetWeight(String, String),
    SetAdmin(String, String, Admin),
    SetWeight(String, String, Weight),
    ClearTable(String, String),
    /// `set server <bk>/<srv> addr <ip> [port <p>]`.
    SetAddr(String, String, IpAddr, Option<u16>),
    /// `enable|disable health|agent <bk>/<srv>`: the probe, and whether it runs.
    SetProbe(String, String, Probe, bool),
}

/// `help`'s text: the commands this socket answers, in HAProxy's layout.
pub const HELP: &str = "The following commands are valid at this level:
  clear table <table> key <k>             : remove an entry from a table
  disable agent <bk>/<srv>                : disable agent checks
  disable health <bk>/<srv>               : disable health checks
  disable server <bk>/<srv>               : disable a server for maintenance (use 'set server' instead)
  enable agent <bk>/<srv>                 : enable agent checks
  enable health <bk>/<srv>                : enable health checks
  enable server <bk>/<srv>                : enable a disabled server (use 'set server' instead)
  get weight <bk>/<srv>                   : report a server's current weight
  help                                    : full commands list
  operator                                : lower the level of the current CLI session to operator
  prompt                                  : toggle interactive mode with prompt
  quit                                    : disconnect
  set server <bk>/<srv> state|weight <v>  : change a server's state (ready|drain|maint) or weight
  set server <bk>/<srv> addr <ip> [port <p>] : change a server's address
  set weight <bk>/<srv> <w>[%]            : change a server's weight (use 'set server' instead)
  show backend                            : list backends in the current running config
  show cli level                          : display the level of the current CLI session
  show info [json|typed]                  : report information about the running process
  show servers state [<backend>]          : dump volatile server information (all or for a single backend)
  show stat [json|typed]                  : report counters for each proxy and server
  show table                              : report table usage stats
  user                                    : lower the level of the current CLI session to user
";

/// A line's commands: HAProxy separates them with `;` (`\;` is a literal `;`).
pub fn split_commands(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                chars.next();
                current.push(';');
            }
            ';' => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One command, or the answer that refuses it (HAProxy's wording, ending in `\n`).
pub fn parse(cmd: &str) -> Result<Command, String> {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    let server = |i: usize| -> Result<(String, String), String> {
        let arg = w.get(i).copied().unwrap_or("");
        match arg.split_once('/') {
            Some((b, s)) if !b.is_empty() && !s.is_empty() => Ok((b.to_string(), s.to_string())),
            _ => Err("Require 'backend/server'.\n".into()),
        }
    };
    match w.as_slice() {
        ["help"] => Ok(Command::Help),
        ["prompt"] => Ok(Command::Prompt),
        ["quit"] => Ok(Command::Quit),
        ["operator"] => Ok(Command::Lower(CliLevel::Operator)),
        ["user"] => Ok(Command::Lower(CliLevel::User)),
        ["show", "cli", "level"] => Ok(Command::ShowCliLevel),
        // `show info [desc|json|typed|float]`: words other than the format are ignored.
        ["show", "info", rest @ ..] => Ok(Command::ShowInfo(format_in(rest))),
        // `show stat [iid type sid] [typed|json]`: the filter is accepted, not applied.
        ["show", "stat", rest @ ..]
            if rest
                .iter()
                .all(|a| a.parse::<i64>().is_ok() || Format::of(a).is_some()) =>
        {
            Ok(Command::ShowStat(format_in(rest)))
        }
        ["show", "stat", ..] => {
            Err("ringlb answers 'show stat' in CSV, 'typed' or 'json'.\n".into())
        }
        ["show", "servers", "state"] => Ok(Command::ShowServersState(None)),
        ["show", "servers", "state", b] => Ok(Command::ShowServersState(Some(b.to_string()))),
        ["show", "backend"] => Ok(Command::ShowBackend),
        ["show", "table"] => Ok(Command::ShowTable),
        ["get", "weight", ..] => server(2).map(|(b, s)| Command::GetWeight(b, s)),
        ["disable", "server", ..] => server(2).map(|(b, s)| Command::SetAdmin(b, s, Admin::Maint)),
        ["enable", "server", ..] => server(2).map(|(b, s)| Command::SetAdmin(b, s, Admin::Ready)),
        [verb @ ("enable" | "disable"), what @ ("health" | "agent"), ..] => {
            let probe = if *what == "health" {
                Probe::Health
            } else {
                Probe::Agent
            };
            server(2).map(|(b, s)| Command::SetProbe(b, s, probe, *verb == "enable"))
        }
        ["set", "weight", _, v] => {
            let (b, s) = server(2)?;
            Ok(Command::SetWeight(b, s, weight(v)?))
        }
        ["set", "weight", ..] => Err("Require <backend>/<server> and <weight>.\n".into()),
        ["set", "server", _, "state", v] => {
            let (b, s) = server(2)?;
            set_state(b, s, v)
        }
        ["set", "server", _, "weight", v] => {
            let (b, s) = server(2)?;
            Ok(Command::SetWeight(b, s, weight(v)?))
        }
        ["set", "server", _, "addr", rest @ ..] => {
            let (b, s) = server(2)?;
            set_addr(b, s, rest)
        }
        ["set", "server", _, ..] => {
            server(2)?;
            Err(
                "ringlb's 'set server' changes 'state' (ready|drain|maint), 'weight' or 'addr' only.\n"
                    .into(),
            )
        }
        ["clear", "table", t, "key", k] => Ok(Command::ClearTable(t.to_string(), k.to_string())),
        ["clear", "table", ..] => {
            Err("ringlb clears one entry: 'clear table <table> key <k>'.\n".into())
        }
        _ => Err(unknown()),
    }
}

/// `set server <b>/<s> state <v>`: HAProxy's three states.
fn set_state(b: String, s: String, v: &str) -> Result<Command, String> {
    let admin = match v {
        "ready" => Admin::Ready,
        "drain" => Admin::Drain,
        "maint" => Admin::Maint,
        _ => return Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into()),
    };
    Ok(Command::SetAdmin(b, s, admin))
}

/// `set server <b>/<s> addr <ip> [port <p>]`.
fn set_addr(b: String, s: String, rest: &[&str]) -> Result<Command, String> {
    let (ip, port) = match rest {
        [ip] => (*ip, None),
        [ip, "port", p] => (*ip, Some(*p)),
        [ip, "port"] => (*ip, Some("")),
        _ => {
            return Err(
                "set server <b>/<s> addr requires an address and optionally a port.\n".into(),
            )
        }
    };
    let Ok(ip) = ip.parse::<IpAddr>() else {
        return Err(format!("Invalid addr '{ip}' by 'stats socket command'\n"));
    };
    let port = match port.map(str::parse::<u16>) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            return Err(format!(
                "no need to change the addr, problem converting port '{}' to an int by 'stats socket command'\n",
                port.unwrap_or("")
            ))
        }
    };
    Ok(Command::SetAddr(b, s, ip, port))
}

/// HAProxy 2.6's answer to a command it does not know, then the list.
fn unknown() -> String {
    let list = HELP.split_once('\n').map_or("", |(_, rest)| rest);
    format!("Unknown command, but maybe one of the following ones is a better match:\n{list}")
}

/// The last format word among a command's arguments (HAProxy: the last one wins).
fn format_in(words: &[&str]) -> Format {
    words
        .iter()
        .rev()
        .find_map(|w| Format::of(w))
        .unwrap_or(Format::Plain)
}

/// `N` or `N%`.
fn weight(v: &str) -> Result<Weight, String> {
    let (digits, percent) = match v.strip_suffix('%') {
        Some(d) => (d, true),
        None => (v, false),
    };
    match digits.parse::<u32>() {
        Ok(n) if percent => Ok(Weight::Percent(n)),
        Ok(n) => Ok(Weight::Absolute(n)),
        Err(_) => Err("Require <weight> as a number from 0 to 256, or a percentage.\n".into()),
    }
}

/// The level a command needs, as HAProxy asks: reading is for everyone, changes
/// (server state and weight, stopping a probe, clearing a table entry) are for `admin`.
pub fn needs(cmd: &Command) -> CliLevel {
    match cmd {
        Command::SetAdmin(..)
        | Command::SetWeight(..)
        | Command::ClearTable(..)
        | Command::SetProbe(..)
        | Command::SetAddr(..) => CliLevel::Admin,
        _ => CliLevel::User,
    }
}

pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// A `show stat` row: the named columns filled, every other one empty, ending in a
/// comma like HAProxy's. A name that is not a column is a bug (caught by the tests).
pub fn stat_row(fields: &[(&str, String)]) -> String {
    let mut row = String::with_capacity(512);
    for col in STAT_COLUMNS.split(',') {
        if let Some((_, v)) = fields.iter().find(|(n, _)| *n == col) {
            row.push_str(v);
        }
        row.push(',');
    }
    row.push('\n');
    row
}

/// The new address of a server at `old` after `set server ... addr ip [port p]`, and
/// HAProxy 2.6's answer saying what changed.
pub fn new_addr(old: SocketAddr, ip: IpAddr, port: Option<u16>) -> (SocketAddr, String) {
    let mut said = if old.ip() == ip {
        "no need to change the addr".to_string()
    } else {
        format!("IP changed from '{}' to '{ip}'", old.ip())
    };
    match port {
        Some(p) if p != old.port() => {
            said.push_str(&format!(", port changed from '{}' to '{p}'", old.port()))
        }
        Some(_) => said.push_str(", no need to change the port"),
        None if old.ip() != ip => said.push_str(", no need to change the port"),
        None => {}
    }
    said.push_str(" by 'stats socket command'\n");
    (SocketAddr::new(ip, port.unwrap_or(old.port())), said)
}

/// `show info`'s `Uptime`: `0d 0h00m03s`.
pub fn uptime(secs: u64) -> String {
    format!(
        "{}d {}h{:02}m{:02}s",
        secs / 86400,
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
