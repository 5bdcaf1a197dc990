//! `ringlb demo`: three small built-in HTTP backends on 127.0.0.1 and ringlb in front
//! of them, from a built-in configuration, so a new user can `curl` it at once.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

/// Start `count` demo backends on 127.0.0.1 (ports chosen by the kernel). Backend `n`
/// answers every request with `hello from demo backend n`. They live as long as the
/// process.
pub fn start_backends(count: usize) -> io::Result<Vec<SocketAddr>> {
    (1..=count)
        .map(|n| {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            thread::Builder::new()
                .name(format!("demo-backend-{n}"))
                .spawn(move || {
                    for stream in listener.incoming().flatten() {
                        let _ = thread::Builder::new().spawn(move || serve(n, stream));
                    }
                })?;
            Ok(addr)
        })
        .collect()
}

/// A minimal HTTP/1.1 server loop: read a request head, answer, repeat (keep-alive)
/// until the client closes or asks to.
fn serve(n: usize, stream: TcpStream) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let body = format!("hello from demo backend {n}\n");
    let mut line = String::new();
    loop {
        let mut close = false;
        let mut first = true;
        let mut head_only = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if first {
                head_only = line.starts_with("HEAD ");
                close = line.ends_with("HTTP/1.0\r\n");
                first = false;
            } else if line == "\r\n" || line == "\n" {
                break;
            } else if line.to_ascii_lowercase().starts_with("connection:") {
                close = line.to_ascii_lowercase().contains("close");
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{}",
            body.len(),
            if close { "connection: close\r\n" } else { "" },
            if head_only { "" } else { &body }
        );
        writer.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

/// The demo's configuration, in the same TOML users write.
pub fn config_text(
    listen: SocketAddr,
    workers: usize,
    admin: SocketAddr,
    backends: &[SocketAddr],
) -> String {
    let mut s = format!(
        r#"# ringlb demo configuration (built in)
[global]
workers = {workers}
grace_period = "2s"
admin_bind = "{admin}"

[defaults]
timeout_connect = "1s"
timeout_client = "30s"
timeout_server = "30s"

[[frontend]]
name = "demo"
bind = ["{listen}"]
mode = "http"
default_backend = "demo_backends"
forwarded_for = true

[[backend]]
name = "demo_backends"
balance = "roundrobin"

[backend.check]
kind = "http"
path = "/"
interval = "2s"
"#
    );
    for (i, addr) in backends.iter().enumerate() {
        s.push_str(&format!(
            "\n[[backend.server]]\nname = \"demo{}\"\naddress = \"{addr}\"\nweight = 1\ncheck = true\n",
            i + 1
        ));
    }
    s
}
