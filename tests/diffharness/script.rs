//! A case's request script (`NAME.toml` beside `NAME.cfg`): the steps run against
//! both proxies, in order. See tests/differential.rs for the format.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// What the case shows (printed in the summary).
    pub description: String,
    #[serde(default)]
    pub step: Vec<Step>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: Option<String>,
    /// The frontend (or listen section) whose first `bind` gets the requests;
    /// default: the first section with a `bind`.
    pub frontend: Option<String>,
    /// Which of the frontend's binds (1-based, default 1).
    pub bind: Option<usize>,
    /// Speak TLS to that bind (SNI: the host without its port).
    #[serde(default)]
    pub tls: bool,
    pub method: Option<String>,
    pub path: Option<String>,
    pub host: Option<String>,
    /// Extra request headers, `"Name: value"`.
    #[serde(default)]
    pub headers: Vec<String>,
    /// How many times the request is sent (each on a new connection).
    pub repeat: Option<usize>,
    /// Send the repeats from this many loopback addresses (127.0.0.1, .2, ...), in turn.
    pub clients: Option<usize>,
    /// Send from this loopback address instead (e.g. "127.0.0.2").
    pub source: Option<String>,
    /// How the chosen servers are compared: `exact` (the default for one request),
    /// `backend` (only the backend: for a request routed to a balanced backend),
    /// `distribution` (the default for repeats: counts per server within the
    /// tolerance), `sticky` (each client always gets one server on each proxy, not
    /// necessarily the same one on both) or `ignore`.
    pub server: Option<String>,
    /// Allowed difference of a server's count, as a fraction of `repeat` (default 0.2).
    pub tolerance: Option<f64>,
    /// Request headers whose values the server received are compared (lower case).
    #[serde(default)]
    pub seen_headers: Vec<String>,
    /// Response headers whose values the client received are compared (lower case).
    #[serde(default)]
    pub response_headers: Vec<String>,
    /// What HAProxy must do, so that a case cannot pass with both proxies wrong alike.
    pub expect_status: Option<u16>,
    pub expect_server: Option<String>,
    /// Each of these servers gets at least one of the repeats.
    #[serde(default)]
    pub expect_servers: Vec<String>,
    pub expect_location: Option<String>,
    /// Text of the configuration lines this step depends on: a difference is excused
    /// (and shown) when the importer reported one of those lines as not translated.
    #[serde(default)]
    pub covers: Vec<String>,
    /// A difference already known and reported (a bug of the importer or of ringlb,
    /// said here): it is shown as KNOWN instead of failing, and the test fails when
    /// the difference is gone, so that the marker is removed.
    pub known: Option<String>,
    /// Actions on a server (by its `server` name, or `backend/server`):
    /// kill it (connections refused); make it answer 503 to everything (`sicken`)
    /// or heal it; wait until neither proxy sends to it; revive it; wait until both
    /// send to it again.
    pub kill: Option<String>,
    pub sicken: Option<String>,
    pub heal: Option<String>,
    pub settle: Option<String>,
    pub revive: Option<String>,
    pub wait_back: Option<String>,
}

/// What a step does.
pub enum Action<'a> {
    Request,
    Kill(&'a str),
    Sicken(&'a str),
    Heal(&'a str),
    Revive(&'a str),
    Settle(&'a str),
    WaitBack(&'a str),
}

impl Step {
    pub fn action(&self) -> Result<Action<'_>, String> {
        let acts = [
            self.kill.as_deref().map(Action::Kill),
            self.sicken.as_deref().map(Action::Sicken),
            self.heal.as_deref().map(Action::Heal),
            self.revive.as_deref().map(Action::Revive),
            self.settle.as_deref().map(Action::Settle),
            self.wait_back.as_deref().map(Action::WaitBack),
        ];
        let mut it = acts.into_iter().flatten();
        match (it.next(), it.next()) {
            (Some(_), Some(_)) => {
                Err("a step does one of kill/sicken/heal/revive/settle/wait_back".into())
            }
            (Some(a), None) => Ok(a),
            (None, _) if self.path.is_some() => Ok(Action::Request),
            (None, _) => {
                Err("a step needs a path or one of kill/sicken/heal/revive/settle/wait_back".into())
            }
        }
    }

    pub fn label(&self, i: usize) -> String {
        match &self.name {
            Some(n) => format!("step {} ({n})", i + 1),
            None => format!("step {}", i + 1),
        }
    }

    pub fn repeat(&self) -> usize {
        self.repeat.unwrap_or(1).max(1)
    }

    pub fn server_mode(&self) -> &str {
        match self.server.as_deref() {
            Some(m) => m,
            None if self.repeat() > 1 => "distribution",
            None => "exact",
        }
    }
}

pub fn load(text: &str) -> Result<Script, String> {
    let s: Script = toml::from_str(text).map_err(|e| e.to_string())?;
    for (i, st) in s.step.iter().enumerate() {
        st.action().map_err(|e| format!("{}: {e}", st.label(i)))?;
        if !matches!(
            st.server_mode(),
            "exact" | "backend" | "distribution" | "sticky" | "ignore"
        ) {
            return Err(format!("{}: unknown server mode", st.label(i)));
        }
    }
    Ok(s)
}

/// Whether a server id (`backend/server`) is the one a script names (`server` or
/// `backend/server`).
pub fn names(id: &str, wanted: &str) -> bool {
    id == wanted || id.rsplit_once('/').is_some_and(|(_, s)| s == wanted)
}
