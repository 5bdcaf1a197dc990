//! `show stat` and `show info` in HAProxy 2.6's `typed` and `json` formats: each
//! filled field with its position, its tags (origin, nature, scope) and its type,
//! as the installed haproxy prints them (compared by tests/admin_cli/). Fields
//! ringlb has no value for are left out, as HAProxy leaves out its empty ones.

use std::fmt::Write;

use super::cli::STAT_COLUMNS;

/// How a report is written: HAProxy's plain text (CSV for `show stat`), `typed`
/// or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Typed,
    Json,
}

impl Format {
    pub fn of(word: &str) -> Option<Format> {
        match word {
            "typed" => Some(Format::Typed),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// What a `show stat` row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obj {
    Frontend,
    Backend,
    Server,
}

impl Obj {
    fn letter(self) -> char {
        match self {
            Obj::Frontend => 'F',
            Obj::Backend => 'B',
            Obj::Server => 'S',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Obj::Frontend => "Frontend",
            Obj::Backend => "Backend",
            Obj::Server => "Server",
        }
    }
}

/// One `show stat` row: the proxy's and the server's ids (0 for a frontend or
/// backend row), and the filled columns.
pub struct StatRow {
    pub obj: Obj,
    pub iid: usize,
    pub sid: usize,
    pub fields: Vec<(&'static str, String)>,
}

/// A field's tags and type, as HAProxy 2.6 gives them for the columns ringlb fills
/// (a backend's `act` and `bck` are metrics, a server's are its status); the other
/// columns ringlb fills are counters.
fn stat_meta(obj: Obj, name: &str) -> (&'static str, &'static str) {
    match (obj, name) {
        (Obj::Backend, "act" | "bck") => ("MGP", "u32"),
        (_, "act" | "bck") => ("SGP", "u32"),
        (_, "pxname" | "svname") => ("KNS", "str"),
        (_, "qcur" | "scur") => ("MGP", "u32"),
        (_, "slim") => ("CLP", "u32"),
        (_, "status") => ("SGP", "str"),
        (_, "weight" | "uweight") => ("MaP", "u32"),
        (_, "lastchg") => ("MAP", "u32"),
        (_, "pid") => ("KGP", "u32"),
        (_, "iid" | "sid") => ("KGS", "u32"),
        (_, "type") => ("CGS", "u32"),
        (_, "mode" | "addr" | "algo") => ("CGS", "str"),
        _ => ("MCP", "u64"),
    }
}

/// `show info`'s fields ringlb fills: HAProxy 2.6's position, name, tags and type,
/// in its order.
pub const INFO_FIELDS: &[(usize, &str, &str, &str)] = &[
    (0, "Name", "POS", "str"),
    (1, "Version", "POS", "str"),
    (3, "Nbthread", "CGS", "u32"),
    (4, "Nbproc", "CGS", "u32"),
    (5, "Process_num", "KGP", "u32"),
    (6, "Pid", "SGP", "u32"),
    (7, "Uptime", "MDP", "str"),
    (8, "Uptime_sec", "MDP", "u32"),
    (15, "Maxconn", "CLP", "u32"),
    (16, "Hard_maxconn", "CLP", "u32"),
    (17, "CurrConns", "MGP", "u32"),
    (18, "CumConns", "MCP", "u32"),
    (19, "CumReq", "MCP", "u32"),
    (52, "Stopping", "MGP", "u32"),
    (70, "Start_time_sec", "MDP", "u32"),
];

/// `show stat typed`: `F.2.0.4.scur.1:MGP:u32:0`, a line per filled field.
pub fn stat_typed(rows: &[StatRow]) -> String {
    let mut o = String::new();
    for row in rows {
        for (pos, name, value) in filled(row) {
            let (tags, ty) = stat_meta(row.obj, name);
            let _ = writeln!(
                o,
                "{}.{}.{}.{pos}.{name}.1:{tags}:{ty}:{value}",
                row.obj.letter(),
                row.iid,
                row.sid
            );
        }
    }
    o
}

/// `show stat json`: an array per row of an object per filled field.
pub fn stat_json(rows: &[StatRow]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|row| {
            let fields: Vec<String> = filled(row)
                .map(|(pos, name, value)| {
                    let (tags, ty) = stat_meta(row.obj, name);
                    format!(
                        "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},{}}}",
                        row.obj.name(),
                        row.iid,
                        row.sid,
                        json_field(pos, name, tags, ty, value)
                    )
                })
                .collect();
            format!("[{}]", fields.join(","))
        })
        .collect();
    format!("[{}]\n", rows.join(","))
}

/// `show info` in `format`, from its values in [`INFO_FIELDS`]' order.
pub fn info(values: &[String], format: Format) -> String {
    let fields = INFO_FIELDS.iter().zip(values);
    match format {
        Format::Plain => fields
            .map(|((_, name, _, _), v)| format!("{name}: {v}\n"))
            .collect(),
        Format::Typed => fields
            .map(|((pos, name, tags, ty), v)| format!("{pos}.{name}.1:{tags}:{ty}:{v}\n"))
            .collect(),
        Format::Json => {
            let all: Vec<String> = fields
                .map(|((pos, name, tags, ty), v)| {
                    format!("{{{}}}", json_field(*pos, name, tags, ty, v))
                })
                .collect();
            format!("[{}]\n", all.join(","))
        }
    }
}

/// A row's filled columns with their positions, in column order.
fn filled(row: &StatRow) -> impl Iterator<Item = (usize, &'static str, &str)> {
    STAT_COLUMNS
        .split(',')
        .enumerate()
        .filter_map(|(pos, col)| {
            let (name, v) = row.fields.iter().find(|(n, _)| *n == col)?;
            Some((pos, *name, v.as_str()))
        })
}

/// `"field":{...},"processNum":1,"tags":{...},"value":{...}`: numbers as JSON
/// numbers, text as JSON strings.
fn json_field(pos: usize, name: &str, tags: &str, ty: &str, value: &str) -> String {
    let value = match value.parse::<u64>() {
        Ok(n) if ty != "str" => n.to_string(),
        _ => serde_json::Value::from(value).to_string(),
    };
    format!(
        "\"field\":{{\"pos\":{pos},\"name\":\"{name}\"}},\"processNum\":1,\"tags\":{},\"value\":{{\"type\":\"{ty}\",\"value\":{value}}}",
        json_tags(tags)
    )
}

/// `MGP` as `{"origin":"Metric","nature":"Gauge","scope":"Process"}` (HAProxy's
/// letters and words).
fn json_tags(tags: &str) -> String {
    let mut c = tags.chars();
    let origin = match c.next() {
        Some('M') => "Metric",
        Some('S') => "Status",
        Some('K') => "Key",
        Some('C') => "Config",
        _ => "Product",
    };
    let nature = match c.next() {
        Some('G') => "Gauge",
        Some('L') => "Limit",
        Some('m') => "Min",
        Some('M') => "Max",
        Some('R') => "Rate",
        Some('C') => "Counter",
        Some('D') => "Duration",
        Some('A') => "Age",
        Some('T') => "Time",
        Some('N') => "Name",
        Some('O') => "Output",
        _ => "Avg",
    };
    let scope = match c.next() {
        Some('P') => "Process",
        Some('S') => "Service",
        Some('s') => "System",
        _ => "Cluster",
    };
    format!("{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<StatRow> {
        vec![
            StatRow {
                obj: Obj::Frontend,
                iid: 1,
                sid: 0,
                fields: vec![
                    ("svname", "FRONTEND".into()),
                    ("pxname", "web".into()),
                    ("scur", "3".into()),
                    ("mode", "http".into()),
                ],
            },
            StatRow {
                obj: Obj::Backend,
                iid: 1,
                sid: 0,
                fields: vec![("pxname", "app \"x\"".into()), ("act", "2".into())],
            },
        ]
    }

    #[test]
    fn typed_lines_in_column_order_with_haproxys_tags() {
        assert_eq!(
            stat_typed(&rows()),
            "F.1.0.0.pxname.1:KNS:str:web\nF.1.0.1.svname.1:KNS:str:FRONTEND\n\
             F.1.0.4.scur.1:MGP:u32:3\nF.1.0.75.mode.1:CGS:str:http\n\
             B.1.0.0.pxname.1:KNS:str:app \"x\"\nB.1.0.19.act.1:MGP:u32:2\n"
        );
        assert_eq!(stat_typed(&[]), "");
        assert_eq!(stat_meta(Obj::Server, "act"), ("SGP", "u32"));
        assert_eq!(stat_meta(Obj::Server, "hrsp_2xx"), ("MCP", "u64"));
    }

    #[test]
    fn json_is_an_array_per_row_and_parses() {
        let text = stat_json(&rows());
        assert!(text.ends_with("]]\n"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let scur = &v[0][2];
        assert_eq!(scur["objType"], "Frontend");
        assert_eq!(scur["field"]["pos"], 4);
        assert_eq!(scur["tags"]["nature"], "Gauge");
        assert_eq!(scur["value"]["type"], "u32");
        assert_eq!(scur["value"]["value"], 3);
        assert_eq!(v[1][0]["value"]["value"], "app \"x\"");
        assert_eq!(v[1][1]["tags"]["origin"], "Metric");
        assert_eq!(stat_json(&[]), "[]\n");
    }

    #[test]
    fn info_in_three_formats() {
        let values: Vec<String> = INFO_FIELDS.iter().map(|f| f.0.to_string()).collect();
        let plain = info(&values, Format::Plain);
        assert!(
            plain.starts_with("Name: 0\nVersion: 1\nNbthread: 3\n"),
            "{plain}"
        );
        let typed = info(&values, Format::Typed);
        assert!(typed.starts_with("0.Name.1:POS:str:0\n"), "{typed}");
        assert!(
            typed.ends_with("70.Start_time_sec.1:MDP:u32:70\n"),
            "{typed}"
        );
        let json: serde_json::Value = serde_json::from_str(&info(&values, Format::Json)).unwrap();
        assert_eq!(json[0]["value"]["value"], "0");
        assert_eq!(json[0]["tags"]["origin"], "Product");
        assert_eq!(json[0]["tags"]["nature"], "Output");
        assert_eq!(json[0]["tags"]["scope"], "Service");
        assert_eq!(json[2]["value"]["value"], 3);
    }
}
