//! HAProxy values in ringlb's spelling: times (bare numbers are milliseconds),
//! listening and server addresses, file paths under `crt-base` / `ca-base`.

/// `5000` → `"5000ms"`, `5s` → `"5s"`; HAProxy's units are us, ms, s, m, h, d.
pub fn duration(v: &str) -> Option<String> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let unit = &v[digits..];
    match unit {
        "" => Some(format!("{v}ms")),
        "us" | "ms" | "s" | "m" | "h" | "d" => Some(v.to_string()),
        _ => None,
    }
}

/// A `bind` address as ringlb writes it: `*:80`, `:80` → `0.0.0.0:80`, `:::80` →
/// `[::]:80`, `ipv4@`/`ipv6@` prefixes dropped. Unix sockets, `fd@`, port ranges
/// and names are not listening addresses ringlb has: `Err(why)`.
pub fn bind_addr(v: &str) -> Result<String, String> {
    let v = v
        .strip_prefix("ipv4@")
        .or_else(|| v.strip_prefix("ipv6@"))
        .or_else(|| v.strip_prefix("tcp@"))
        .or_else(|| v.strip_prefix("tcp4@"))
        .or_else(|| v.strip_prefix("tcp6@"))
        .unwrap_or(v);
    if v.starts_with('/') || v.contains('@') {
        return Err(format!(
            "{v}: ringlb listens on TCP addresses only (no unix sockets, fd@, abns@, quic)"
        ));
    }
    let (host, port) = split_host_port(v).ok_or_else(|| format!("{v}: no port"))?;
    if port.contains('-') || port.contains(',') {
        return Err(format!("{v}: port ranges and lists are not supported"));
    }
    // `${NAME}` unset at import: ringlb expands it from its environment at load.
    if !port.starts_with("${") {
        port.parse::<u16>()
            .map_err(|_| format!("{v}: bad port {port:?}"))?;
    }
    let host = match host {
        h if h.starts_with("${") => h.to_string(),
        "" | "*" | "0.0.0.0" => "0.0.0.0".to_string(),
        "::" => "[::]".to_string(),
        h if h.parse::<std::net::Ipv4Addr>().is_ok() => h.to_string(),
        h if h.parse::<std::net::Ipv6Addr>().is_ok() => format!("[{h}]"),
        h => return Err(format!("{h}: ringlb binds IP addresses, not host names")),
    };
    Ok(format!("{host}:{port}"))
}

/// A server address: `10.0.0.1:80`, `db.local:5432`, `[::1]:80`, `::1:80`.
pub fn server_addr(v: &str) -> Result<String, String> {
    let v = v
        .strip_prefix("ipv4@")
        .or_else(|| v.strip_prefix("ipv6@"))
        .unwrap_or(v);
    if v.starts_with('/') || v.contains('@') {
        return Err(format!("{v}: ringlb connects to TCP servers only"));
    }
    let Some((host, port)) = split_host_port(v) else {
        return Err(format!(
            "{v}: no port (HAProxy then uses the port the client connected to)"
        ));
    };
    if port.starts_with('+') || port.starts_with('-') {
        return Err(format!("{v}: port offsets are not supported"));
    }
    port.parse::<u16>()
        .map_err(|_| format!("{v}: bad port {port:?}"))?;
    if host.is_empty() {
        return Err(format!("{v}: no address"));
    }
    Ok(match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{host}]:{port}"),
        Err(_) => format!("{host}:{port}"),
    })
}

/// `host:port`, `[v6]:port`, `v6:port` (the last colon separates the port).
fn split_host_port(v: &str) -> Option<(&str, &str)> {
    if let Some(rest) = v.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h, p));
    }
    let (h, p) = v.rsplit_once(':')?;
    Some((h, p))
}

/// A relative file name under a base directory (`crt-base`, `ca-base`).
pub fn under(base: Option<&str>, path: &str) -> String {
    match base {
        Some(b) if !path.starts_with('/') => format!("{}/{path}", b.trim_end_matches('/')),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(duration("5000").as_deref(), Some("5000ms"));
        assert_eq!(duration("30s").as_deref(), Some("30s"));
        assert_eq!(duration("1m").as_deref(), Some("1m"));
        assert_eq!(duration("100us").as_deref(), Some("100us"));
        assert_eq!(duration("5x"), None);
        assert_eq!(duration("s"), None);
    }

    #[test]
    fn binds() {
        assert_eq!(bind_addr("*:80").unwrap(), "0.0.0.0:80");
        assert_eq!(bind_addr(":443").unwrap(), "0.0.0.0:443");
        assert_eq!(bind_addr(":::80").unwrap(), "[::]:80");
        assert_eq!(bind_addr("ipv6@::1:8080").unwrap(), "[::1]:8080");
        assert_eq!(bind_addr("10.0.0.1:80").unwrap(), "10.0.0.1:80");
        assert!(bind_addr("/run/haproxy.sock").is_err());
        assert!(bind_addr(":80-81").is_err());
        assert!(bind_addr("abns@x").is_err());
    }

    #[test]
    fn servers() {
        assert_eq!(server_addr("10.0.0.1:80").unwrap(), "10.0.0.1:80");
        assert_eq!(server_addr("db.local:5432").unwrap(), "db.local:5432");
        assert_eq!(server_addr("::1:80").unwrap(), "[::1]:80");
        assert!(server_addr("10.0.0.1").is_err());
        assert!(server_addr("10.0.0.1:+1").is_err());
    }
}
