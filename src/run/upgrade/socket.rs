//! The upgrade socket: a Unix stream socket (mode 0600) where `ringlb upgrade` asks
//! the running process to upgrade and hears how it went. A thread serves it, one
//! caller at a time, handing each request to the control thread. It serves only a
//! ready process (a new one that may yet fail must not take a caller), and the
//! process does not exit before the thread has answered (see [`Serving`]).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use futures_channel::mpsc::UnboundedSender;

use super::wire::{Answer, Request};
use super::Msg;
use crate::config::Config;

/// How long a caller may take to send its request.
const REQUEST_WITHIN: Duration = Duration::from_secs(5);
/// How long the server waits for the control thread's answer: above the time a new
/// process has to get ready.
const ANSWER_WITHIN: Duration = Duration::from_secs(super::READY_WITHIN.as_secs() + 30);
/// How often the serving thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(200);

/// Where the upgrade socket is: `global.upgrade_socket` (empty: nowhere), else
/// `upgrade.sock` in `$RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`), else
/// `/run/ringlb/upgrade.sock` for root; otherwise nowhere (SIGUSR2 still upgrades).
pub fn path(config: &Config) -> Option<PathBuf> {
    match &config.global.upgrade_socket {
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(p.clone()),
        None => default_path(
            std::env::var_os("RUNTIME_DIRECTORY").as_deref(),
            // SAFETY: plain syscall.
            unsafe { libc::geteuid() } == 0,
        ),
    }
}

/// The default when the file names none (pure: `runtime_dir` is the environment's).
pub fn default_path(runtime_dir: Option<&std::ffi::OsStr>, root: bool) -> Option<PathBuf> {
    let first = runtime_dir
        .and_then(|d| d.to_str())
        .and_then(|d| d.split(':').next())
        .filter(|d| d.starts_with('/'));
    match first {
        Some(dir) => Some(Path::new(dir).join("upgrade.sock")),
        None if root => Some(PathBuf::from("/run/ringlb/upgrade.sock")),
        None => None,
    }
}

/// Listen on `path`, readable and writable by this user only. A socket file nobody
/// answers on (left by a process that ended) is replaced; one that answers belongs
/// to a running process: refused.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process serves it",
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// The upgrade socket, bound and not served yet: the lifecycle starts serving it
/// once this process is ready ([`Server::start`]).
pub struct Server {
    path: PathBuf,
    listener: UnixListener,
    stop: Arc<AtomicBool>,
    /// Held by the serving thread until it ends.
    alive: Sender<()>,
}

/// The process's hold on the serving thread: [`Serving::finish`] before exiting, so
/// that an answer the control thread gave is written before the process is gone (a
/// caller would read "closed the connection without an answer").
pub struct Serving {
    stop: Arc<AtomicBool>,
    /// Disconnected once the thread ended, or the [`Server`] was dropped unserved.
    ended: Receiver<()>,
}

/// Both halves for `listener`, bound on `path`.
pub fn prepare(path: PathBuf, listener: UnixListener) -> (Server, Serving) {
    let stop = Arc::new(AtomicBool::new(false));
    let (alive, ended) = std::sync::mpsc::channel();
    let serving = Serving {
        stop: Arc::clone(&stop),
        ended,
    };
    let server = Server {
        path,
        listener,
        stop,
        alive,
    };
    (server, serving)
}

impl Server {
    /// Raised once the socket is handed over (the new process serves the same one).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Serve on a thread, handing each request to the control thread, until stopped.
    pub fn start(self, to_control: UnboundedSender<Msg>) {
        let Server {
            path,
            listener,
            stop,
            alive,
        } = self;
        let spawned = listener.set_nonblocking(true).and_then(|()| {
            std::thread::Builder::new()
                .name("ringlb-upgrade".into())
                .spawn(move || {
                    let _alive = alive;
                    serve(&listener, &to_control, &stop);
                })
        });
        match spawned {
            Ok(_) => tracing::info!("upgrade socket: {}", path.display()),
            Err(e) => tracing::warn!("upgrade socket {}: {e}", path.display()),
        }
    }
}

impl Serving {
    /// The process ends: stop the thread and wait until it wrote the answer it was
    /// giving (bounded: a caller has [`REQUEST_WITHIN`] to send its request).
    pub fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.ended.recv_timeout(REQUEST_WITHIN + POLL);
    }
}

/// Accept callers one at a time until `stop` is raised.
fn serve(listener: &UnixListener, to_control: &UnboundedSender<Msg>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = one_caller(stream, to_control) {
                    tracing::warn!("upgrade socket: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_readable(listener, POLL),
            Err(e) => {
                tracing::warn!("upgrade socket: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn wait_readable(listener: &UnixListener, limit: Duration) {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) };
}

/// Read the caller's request, hand it to the control thread, write its answer.
fn one_caller(stream: UnixStream, to_control: &UnboundedSender<Msg>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_WITHIN))?;
    let mut line = String::new();
    read_line(&stream, &mut line)
        .map_err(|e| io::Error::new(e.kind(), format!("reading the request: {e}")))?;
    let answer = match serde_json::from_str::<Request>(&line) {
        Ok(request) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let call = Msg::Call {
                binary: request.binary,
                reply: Some(tx),
            };
            if to_control.unbounded_send(call).is_err() {
                // Never close without a word: the caller can tell what happened.
                tracing::warn!("upgrade socket: a request came while this process exits");
                Answer {
                    ok: false,
                    pid: None,
                    message: "this process is exiting (it handed over or stopped): ask again"
                        .into(),
                }
            } else {
                rx.recv_timeout(ANSWER_WITHIN).unwrap_or(Answer {
                    ok: false,
                    pid: None,
                    message: "no answer from the control thread".into(),
                })
            }
        }
        Err(e) => Answer {
            ok: false,
            pid: None,
            message: format!("not an upgrade request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&answer)?;
    out.push('\n');
    (&stream).write_all(out.as_bytes())
}

/// One line, at most 64 KiB.
fn read_line(r: impl io::Read, line: &mut String) -> io::Result<usize> {
    BufReader::new(r.take(64 * 1024)).read_line(line)
}

/// `ringlb upgrade`: ask the process serving `socket` to upgrade (to `binary`, or to
/// the binary it was started from) and wait for its answer.
pub fn request(socket: &Path, binary: Option<PathBuf>) -> io::Result<Answer> {
    let stream = UnixStream::connect(socket)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", socket.display())))?;
    stream.set_read_timeout(Some(ANSWER_WITHIN + Duration::from_secs(5)))?;
    let mut line = serde_json::to_string(&Request { binary })?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut answer = String::new();
    read_line(&stream, &mut answer)?;
    if answer.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the running process closed the connection without an answer",
        ));
    }
    Ok(serde_json::from_str(&answer)?)
}

/// The upgrade socket a configuration file names, read leniently (the file may not
/// validate: only `global.upgrade_socket` matters here), for `ringlb upgrade -c`.
pub fn path_in_file(text: &str) -> Result<Option<PathBuf>, String> {
    let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    let named = value
        .get("global")
        .and_then(|g| g.get("upgrade_socket"))
        .and_then(|p| p.as_str());
    Ok(match named {
        Some("") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => default_path(
            std::env::var_os("RUNTIME_DIRECTORY").as_deref(),
            // SAFETY: plain syscall.
            unsafe { libc::geteuid() } == 0,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_comes_from_the_runtime_directory_or_root() {
        let d = |dir: Option<&str>, root| default_path(dir.map(std::ffi::OsStr::new), root);
        assert_eq!(
            d(Some("/run/ringlb"), false),
            Some(PathBuf::from("/run/ringlb/upgrade.sock"))
        );
        assert_eq!(
            d(Some("/run/a:/run/b"), true),
            Some(PathBuf::from("/run/a/upgrade.sock"))
        );
        assert_eq!(d(Some("relative"), false), None);
        assert_eq!(d(None, false), None);
        assert_eq!(
            d(None, true),
            Some(PathBuf::from("/run/ringlb/upgrade.sock"))
        );
    }

    #[test]
    fn the_path_is_read_from_a_file_that_need_not_validate() {
        let text = "[global]\nupgrade_socket = \"/tmp/x.sock\"\nworkers = \"many\"\n";
        assert_eq!(path_in_file(text), Ok(Some(PathBuf::from("/tmp/x.sock"))));
        assert_eq!(path_in_file("[global]\nupgrade_socket = \"\"\n"), Ok(None));
        assert!(path_in_file("[global\n").is_err());
    }

    #[test]
    fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
        let path = std::env::temp_dir().join(format!("ringlb-up-{}.sock", std::process::id()));
        let first = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(bind(&path).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        drop(first);
        let again = bind(&path).unwrap();
        drop(again);
        let _ = std::fs::remove_file(&path);
    }
}
