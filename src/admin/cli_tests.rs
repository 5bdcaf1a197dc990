//! Tests of the CLI's pure part (`cli.rs`): splitting, parsing, levels, `show stat` rows.

use super::*;

#[test]
fn commands_split_on_semicolons() {
    assert_eq!(
        split_commands("show info; get weight b/s"),
        vec!["show info", "get weight b/s"]
    );
    assert_eq!(split_commands("a\\;b;;  ;c"), vec!["a;b", "c"]);
    assert!(split_commands("  ").is_empty());
}

#[test]
fn commands_parse_as_haproxy_spells_them() {
    let s = |b: &str, v: &str| (b.to_string(), v.to_string());
    assert_eq!(parse("show stat"), Ok(Command::ShowStat(Format::Plain)));
    assert_eq!(
        parse("show stat -1 -1 -1"),
        Ok(Command::ShowStat(Format::Plain))
    );
    assert_eq!(parse("show stat json"), Ok(Command::ShowStat(Format::Json)));
    assert_eq!(
        parse("show stat -1 -1 -1 typed"),
        Ok(Command::ShowStat(Format::Typed))
    );
    assert!(parse("show stat up").is_err());
    assert_eq!(parse("show info"), Ok(Command::ShowInfo(Format::Plain)));
    assert_eq!(
        parse("show info typed"),
        Ok(Command::ShowInfo(Format::Typed))
    );
    assert_eq!(
        parse("show info desc json"),
        Ok(Command::ShowInfo(Format::Json))
    );
    assert_eq!(
        parse("show servers state app"),
        Ok(Command::ShowServersState(Some("app".into())))
    );
    let (b, v) = s("app", "web1");
    assert_eq!(
        parse("disable server app/web1"),
        Ok(Command::SetAdmin(b.clone(), v.clone(), Admin::Maint))
    );
    assert_eq!(
        parse("enable server app/web1"),
        Ok(Command::SetAdmin(b.clone(), v.clone(), Admin::Ready))
    );
    assert_eq!(
        parse("set server app/web1 state drain"),
        Ok(Command::SetAdmin(b.clone(), v.clone(), Admin::Drain))
    );
    assert_eq!(
        parse("set weight app/web1 5"),
        Ok(Command::SetWeight(
            b.clone(),
            v.clone(),
            Weight::Absolute(5)
        ))
    );
    assert_eq!(
        parse("set server app/web1 weight 50%"),
        Ok(Command::SetWeight(
            b.clone(),
            v.clone(),
            Weight::Percent(50)
        ))
    );
    assert_eq!(parse("get weight app/web1"), Ok(Command::GetWeight(b, v)));
    assert_eq!(
        parse("clear table t key 1.2.3.4"),
        Ok(Command::ClearTable("t".into(), "1.2.3.4".into()))
    );
    assert_eq!(parse("operator"), Ok(Command::Lower(CliLevel::Operator)));
    let probe = |b: &str, s: &str, p, on| Command::SetProbe(b.into(), s.into(), p, on);
    assert_eq!(
        parse("disable health app/web1"),
        Ok(probe("app", "web1", Probe::Health, false))
    );
    assert_eq!(
        parse("enable health app/web1"),
        Ok(probe("app", "web1", Probe::Health, true))
    );
    assert_eq!(
        parse("disable agent app/web1"),
        Ok(probe("app", "web1", Probe::Agent, false))
    );
    assert_eq!(
        parse("enable agent app/web1"),
        Ok(probe("app", "web1", Probe::Agent, true))
    );
    assert_eq!(
        parse("disable health app").unwrap_err(),
        "Require 'backend/server'.\n"
    );
    assert_eq!(needs(&parse("enable agent a/b").unwrap()), CliLevel::Admin);
}

#[test]
fn malformed_commands_get_haproxy_wording() {
    assert_eq!(
        parse("disable server app").unwrap_err(),
        "Require 'backend/server'.\n"
    );
    assert_eq!(
        parse("set server app/w state up").unwrap_err(),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
    );
    assert!(parse("set weight app/w x").is_err());
    assert!(parse("bogus").unwrap_err().starts_with(
        "Unknown command, but maybe one of the following ones is a better match:\n  clear table"
    ));
    assert!(parse("").is_err());
}

#[test]
fn weights_resolve_and_refuse_beyond_256() {
    assert_eq!(Weight::Absolute(5).resolve(10), Ok(5));
    assert_eq!(Weight::Percent(50).resolve(10), Ok(5));
    assert_eq!(Weight::Percent(0).resolve(10), Ok(0));
    assert!(Weight::Absolute(257).resolve(1).is_err());
    assert!(Weight::Percent(10_000).resolve(100).is_err());
}

#[test]
fn levels_as_haproxy() {
    let change = parse("set weight a/b 1").unwrap();
    assert_eq!(needs(&change), CliLevel::Admin);
    assert_eq!(
        needs(&parse("disable server a/b").unwrap()),
        CliLevel::Admin
    );
    assert_eq!(needs(&parse("show stat json").unwrap()), CliLevel::User);
    assert_eq!(needs(&parse("get weight a/b").unwrap()), CliLevel::User);
    assert!(CliLevel::User < CliLevel::Operator && CliLevel::Operator < CliLevel::Admin);
}

#[test]
fn stat_rows_have_every_column_in_order() {
    let columns = STAT_COLUMNS.split(',').count();
    let row = stat_row(&[
        ("pxname", "app".into()),
        ("svname", "web1".into()),
        ("status", "UP".into()),
    ]);
    assert_eq!(row.matches(',').count(), columns);
    assert!(row.starts_with("app,web1,"));
    let status = STAT_COLUMNS.split(',').position(|c| c == "status").unwrap();
    assert_eq!(row.split(',').nth(status), Some("UP"));
    assert_eq!(stat_row(&[]).matches(',').count(), columns);
}

#[test]
fn addresses_change_with_haproxys_words() {
    let old: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let by = " by 'stats socket command'\n";
    let (a, said) = new_addr(old, ip("127.0.0.2"), None);
    assert_eq!(a, "127.0.0.2:80".parse().unwrap());
    assert_eq!(
        said,
        format!("IP changed from '127.0.0.1' to '127.0.0.2', no need to change the port{by}")
    );
    let (a, said) = new_addr(old, ip("::1"), Some(81));
    assert_eq!(a, "[::1]:81".parse().unwrap());
    assert_eq!(
        said,
        format!("IP changed from '127.0.0.1' to '::1', port changed from '80' to '81'{by}")
    );
    assert_eq!(
        new_addr(old, ip("127.0.0.1"), None).1,
        format!("no need to change the addr{by}")
    );
    assert_eq!(
        new_addr(old, ip("127.0.0.1"), Some(80)).1,
        format!("no need to change the addr, no need to change the port{by}")
    );
    assert_eq!(
        new_addr(old, ip("127.0.0.1"), Some(8080)).1,
        format!("no need to change the addr, port changed from '80' to '8080'{by}")
    );
    assert_eq!(
        parse("set server app/a addr 10.0.0.1 port 8080"),
        Ok(Command::SetAddr(
            "app".into(),
            "a".into(),
            ip("10.0.0.1"),
            Some(8080)
        ))
    );
    assert_eq!(
        parse("set server app/a addr bogus").unwrap_err(),
        format!("Invalid addr 'bogus'{by}")
    );
    assert_eq!(
        parse("set server app/a addr 10.0.0.1 port x").unwrap_err(),
        format!("no need to change the addr, problem converting port 'x' to an int{by}")
    );
    assert_eq!(
        parse("set server app/a addr").unwrap_err(),
        "set server <b>/<s> addr requires an address and optionally a port.\n"
    );
    assert_eq!(
        needs(&parse("set server a/b addr ::1").unwrap()),
        CliLevel::Admin
    );
}

#[test]
fn uptime_as_haproxy() {
    assert_eq!(uptime(3), "0d 0h00m03s");
    assert_eq!(uptime(90061), "1d 1h01m01s");
}
