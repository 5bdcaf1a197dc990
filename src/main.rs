//! The `ringlb` command: `run`, `check`, `gen-cert`, `demo`, and for packaging the
//! hidden `man` and `completions`, generated from these very definitions.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use ringlb::config::Config;
use ringlb::run::{self, Exit};

#[derive(Parser)]
#[command(
    name = "ringlb",
    version,
    about = "Thread-per-core load balancer and reverse proxy (io_uring)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum ImportFrom {
    /// haproxy.cfg (with --keepalived, its keepalived.conf too, into one file).
    Haproxy {
        file: PathBuf,
        /// Where to write the TOML (default: stdout).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// The keepalived.conf of the same host: its vrrp_instance becomes [vrrp].
        #[arg(long)]
        keepalived: Option<PathBuf>,
        /// Write the output even when some lines were not translated (exit is still 3).
        #[arg(long)]
        allow_partial: bool,
    },
    /// keepalived.conf alone: a [vrrp] table to add to a ringlb configuration.
    Keepalived {
        file: PathBuf,
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[arg(long)]
        allow_partial: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run in the foreground with a configuration file (logs go to stderr).
    Run {
        /// Configuration file.
        #[arg(short = 'c', long = "config", env = "RINGLB_CONFIG")]
        config: PathBuf,
        /// Binary upgrade: the socket the old process started this one with.
        #[arg(long, hide = true)]
        takeover_fd: Option<i32>,
    },
    /// Upgrade the running ringlb to a new binary without dropping a connection: it
    /// starts the binary, hands over its listening sockets and server states, and
    /// drains once the new process is ready. Exits 1 with the reason if the new
    /// process could not take over (the running one keeps serving).
    Upgrade {
        /// The running process's upgrade socket (default: from the configuration file's
        /// `global.upgrade_socket`, else `$RUNTIME_DIRECTORY/upgrade.sock`, else
        /// /run/ringlb/upgrade.sock).
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Configuration file, read only for `global.upgrade_socket`.
        #[arg(short = 'c', long = "config", env = "RINGLB_CONFIG")]
        config: Option<PathBuf>,
        /// The new binary (default: the path the running process was started from).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Validate a configuration file, like `haproxy -c`: exit 0 and print a summary,
    /// or exit 1 and print every error.
    Check {
        #[arg(short = 'c', long = "config", env = "RINGLB_CONFIG")]
        config: PathBuf,
    },
    /// Write a self-signed certificate and its key (ECDSA P-256), for tests and the
    /// HTTPS example: not for production.
    GenCert {
        /// DNS names for the certificate's SAN list (repeat; `*.example.com` allowed).
        #[arg(long = "name", default_value = "localhost")]
        names: Vec<String>,
        /// Certificate (PEM) to write.
        #[arg(long, default_value = "cert.pem")]
        cert: PathBuf,
        /// Private key (PEM, PKCS#8) to write.
        #[arg(long, default_value = "key.pem")]
        key: PathBuf,
        /// Validity in days from now.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Start three built-in backends and ringlb in front of them, ready to curl.
    Demo {
        /// Where the demo proxy listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Worker threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Where the stats page, /metrics and the runtime API listen.
        #[arg(long, default_value = "127.0.0.1:9900")]
        admin: SocketAddr,
    },
    /// Translate a HAProxy or keepalived configuration into ringlb's TOML. Every
    /// input line is cited in a comment of the output or listed on stderr as
    /// `FILE:LINE: directive: not translated: why`. Exit 0: complete; 3: partial (the
    /// output is written only with --allow-partial); 1: the input does not parse.
    Import {
        #[command(subcommand)]
        from: ImportFrom,
    },
    /// Write the manual pages (ringlb.1, ringlb-run.1, ...) into a directory.
    #[command(hide = true)]
    Man {
        /// Directory to write the pages into (created if missing).
        dir: PathBuf,
    },
    /// Print a shell completion script to stdout.
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => check(&config),
        Command::Run {
            config,
            takeover_fd: None,
        } => run(&config),
        Command::Run {
            config,
            takeover_fd: Some(fd),
        } => take_over(&config, fd),
        Command::Upgrade {
            socket,
            config,
            binary,
        } => upgrade(socket, config, binary),
        Command::GenCert {
            names,
            cert,
            key,
            days,
        } => gen_cert(&names, &cert, &key, days),
        Command::Demo {
            listen,
            workers,
            admin,
        } => demo(listen, workers, admin),
        Command::Man { dir } => man(&dir),
        Command::Import { from } => import(from),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ringlb", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringlb: {}", causes(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: an error whose message already carries
/// its cause (`cannot listen on A: Address already in use`) does not repeat it.
fn causes(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// `ringlb.1` for the command and one page per visible subcommand.
fn man(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![("ringlb".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("ringlb-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn gen_cert(names: &[String], cert: &Path, key: &Path, days: i64) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (cert_pem, key_pem) = ringlb::tls::self_signed(&names, days)?;
    if let Some(dir) = cert.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(cert, cert_pem).with_context(|| format!("cannot write {}", cert.display()))?;
    write_private(key, key_pem.as_bytes())
        .with_context(|| format!("cannot write {}", key.display()))?;
    println!(
        "wrote {} and {} (self-signed, {}, {days} days)",
        cert.display(),
        key.display(),
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

/// A key file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    match Config::load(path) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: configuration is valid: {}",
                path.display(),
                config.summary()
            );
            for f in &config.frontends {
                println!("  {}", f.rule_summary());
            }
            for line in config.backends.iter().filter_map(|b| b.rule_summary()) {
                println!("  {line}");
            }
            for m in &config.maps {
                let (name, how) = (m.name(), m.how().converter());
                println!("  map {name:?} ({how}): {} line(s)", m.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: configuration is invalid ({} error(s))",
                path.display(),
                errors.0.len()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `ringlb import haproxy|keepalived`: see [`ringlb::import`].
fn import(from: ImportFrom) -> anyhow::Result<ExitCode> {
    use ringlb::import::{self, Input};
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let env = |name: &str| std::env::var(name).ok();
    let (result, output, allow_partial, check) = match &from {
        ImportFrom::Haproxy {
            file,
            output,
            keepalived,
            allow_partial,
        } => {
            let text = read(file)?;
            let name = file.display().to_string();
            let k = keepalived
                .as_ref()
                .map(|k| Ok::<_, anyhow::Error>((k.display().to_string(), read(k)?)))
                .transpose()?;
            let k_input = k.as_ref().map(|(n, t)| Input { name: n, text: t });
            let r = import::haproxy(
                Input {
                    name: &name,
                    text: &text,
                },
                k_input,
                &env,
            );
            (r, output, *allow_partial, true)
        }
        ImportFrom::Keepalived {
            file,
            output,
            allow_partial,
        } => {
            let text = read(file)?;
            let name = file.display().to_string();
            (
                import::keepalived(Input {
                    name: &name,
                    text: &text,
                }),
                output,
                *allow_partial,
                false,
            )
        }
    };
    let t = match result {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(import::EXIT_PARSE));
        }
    };
    for l in &t.lost {
        eprintln!("{l}");
    }
    let status = t.exit_status();
    if status != import::EXIT_COMPLETE && !allow_partial {
        eprintln!(
            "ringlb import: {} line(s) or option(s) not translated; output not written (use --allow-partial to write it anyway)",
            t.lost.len()
        );
        return Ok(ExitCode::from(status));
    }
    match output {
        Some(path) => std::fs::write(path, &t.toml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(t.toml.as_bytes())
                .context("cannot write to stdout")?
        }
    }
    if check {
        let origin = output
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<import>".into());
        if let Err(errors) = Config::parse(&t.toml, &origin) {
            eprintln!("{errors}");
            eprintln!("ringlb import: warning: the translated configuration does not pass `ringlb check` ({} error(s)) on this machine", errors.0.len());
        }
    }
    if status == import::EXIT_COMPLETE {
        eprintln!("ringlb import: complete");
    } else {
        eprintln!(
            "ringlb import: partial: {} line(s) or option(s) not translated",
            t.lost.len()
        );
    }
    Ok(ExitCode::from(status))
}

fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            anyhow::bail!("{}: configuration is invalid; not starting", path.display());
        }
    };
    ringlb::run::own_log::init(&config.global);
    finish(run::run(config, Some(path.to_path_buf()))?)
}

/// The new process of a binary upgrade: first what the old process hands over (read
/// in full, so that the old process hears our answer rather than a reset), then the
/// file; a file that does not validate is refused, and the old process keeps serving.
fn take_over(path: &Path, fd: i32) -> anyhow::Result<ExitCode> {
    use std::os::fd::FromRawFd;
    // SAFETY: the old process started us with this descriptor open for us alone.
    let from = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let handed = match run::upgrade::takeover::receive(&from) {
        Ok(h) => h,
        Err(e) => anyhow::bail!("cannot receive the sockets from the old process: {e}"),
    };
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            let reason = format!("{}: configuration is invalid: {errors}", path.display());
            run::upgrade::refuse(&from, &reason);
            anyhow::bail!(
                "{}: configuration is invalid; not taking over",
                path.display()
            );
        }
    };
    ringlb::run::own_log::init(&config.global);
    finish(run::run_takeover(config, path.to_path_buf(), from, handed)?)
}

/// `ringlb upgrade`: ask the running process to upgrade, say how it went.
fn upgrade(
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
    binary: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let socket = match (socket, config) {
        (Some(s), _) => Some(s),
        (None, Some(c)) => {
            let text = std::fs::read_to_string(&c)
                .with_context(|| format!("cannot read {}", c.display()))?;
            run::upgrade::socket::path_in_file(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", c.display()))?
        }
        (None, None) => run::upgrade::socket::path_in_file("").unwrap_or(None),
    };
    let socket = socket
        .context("no upgrade socket: name it with --socket, or -c with global.upgrade_socket")?;
    let binary = match binary {
        Some(b) if b.is_relative() => Some(std::env::current_dir()?.join(b)),
        b => b,
    };
    let answer = run::upgrade::socket::request(&socket, binary)
        .with_context(|| "cannot reach the running ringlb".to_string())?;
    if answer.ok {
        println!("ringlb upgrade: {}", answer.message);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("ringlb upgrade: {}", answer.message);
        Ok(ExitCode::FAILURE)
    }
}

fn demo(listen: SocketAddr, workers: usize, admin: SocketAddr) -> anyhow::Result<ExitCode> {
    let backends = ringlb::demo::start_backends(3).context("cannot start the demo backends")?;
    let text = ringlb::demo::config_text(listen, workers, admin, &backends);
    let config = Config::parse(&text, "<demo>")
        .map_err(|e| anyhow::anyhow!("built-in demo configuration: {e}"))?;
    ringlb::run::own_log::init(&config.global);
    let exit = run::run_with(config, None, |bound| {
        let list: Vec<String> = backends.iter().map(|a| a.to_string()).collect();
        println!("ringlb demo: 3 backends on {}", list.join(", "));
        for (_, addr) in bound.frontends {
            println!("ringlb demo: proxy listening on {addr}");
            println!("try:  curl http://{addr}/    (run it a few times: the answer rotates across the backends;");
            println!("      each worker rotates on its own, so with several workers an answer can repeat, e.g. 1 2 1 2 3 3)");
        }
        if let Some(a) = bound.admin {
            println!("stats page: http://{a}/   metrics: http://{a}/metrics   servers: http://{a}/api/servers");
        }
        println!("Ctrl-C to stop.");
    })
    .with_context(|| format!("cannot start the demo proxy on {listen} with its admin API on {admin} (use --listen and --admin to pick other addresses)"))?;
    finish(exit)
}

fn finish(exit: Exit) -> anyhow::Result<ExitCode> {
    // With syslog, ringlb's last lines are on a writer thread: let them out.
    ringlb::logging::own::drain(std::time::Duration::from_millis(500));
    match exit {
        Exit::Graceful => Ok(ExitCode::SUCCESS),
        // Worker threads still hold connections: leave without waiting for them.
        Exit::GraceExpired | Exit::Forced => std::process::exit(0),
    }
}
