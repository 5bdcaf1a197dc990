//! Hostile and conformance HTTP/2 peers (Python scripts under tests/h2_peers/) against
//! a ringlb with one cleartext prior-knowledge frontend.

use std::process::Command;

use super::http::Backend;
use super::Ringlb;

/// ringlb with one worker and a cleartext prior-knowledge HTTP/2 frontend (`extra`:
/// more of its keys) in front of `backend`, access log on.
pub fn start_h2c(backend: &Backend, extra: &str) -> Ringlb {
    Ringlb::start(&format!(
        "[global]\nworkers = 1\npin_workers = false\naccess_log = true\n\n\
         [[frontend]]\nname = \"h2\"\nbind = [\"127.0.0.1:0\"]\nmode = \"http\"\n\
         default_backend = \"app\"\nh2c = \"prior-knowledge\"\n{extra}\n\n\
         [[backend]]\nname = \"app\"\n\n[[backend.server]]\nname = \"a\"\naddress = \"{}\"\n",
        backend.addr
    ))
}

/// Run `script CASE PORT ARG` against `r`; the verdict line it printed (the script
/// must exit 0).
pub fn run_case(script: &str, r: &Ringlb, case: &str, arg: &str) -> String {
    let out = Command::new("python3")
        .arg(script)
        .arg(case)
        .arg(r.addr().port().to_string())
        .arg(arg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{case}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}
