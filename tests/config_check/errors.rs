//! Error messages: the key path and line, types, duplicates, values, every error in one run.

use super::*;

#[test]
fn unknown_key_names_path_and_line() {
    let text = BASE.replace(
        "address = \"127.0.0.1:9001\"",
        "address = \"127.0.0.1:9001\"\nwieght = 2",
    );
    let e = only_error(&text);
    assert!(e.starts_with("t.toml:12:1: "), "{e}");
    assert!(
        e.contains("backend \"app\" server \"a1\": wieght: unknown field"),
        "{e}"
    );
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn toml_syntax_error_names_the_line() {
    let e = only_error("[global\nworkers = 1\n");
    assert!(e.starts_with("t.toml:1:"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let e = only_error(&format!("[global]\nworkers = \"two\"\n{BASE}"));
    assert!(e.starts_with("t.toml:2:"), "{e}");
    assert!(e.contains("global.workers"), "{e}");
}

#[test]
fn unknown_backend_reference() {
    let e = only_error(&BASE.replace("default_backend = \"app\"", "default_backend = \"nope\""));
    assert_eq!(
        e,
        "t.toml:4:19: frontend \"web\": default_backend \"nope\" is not a defined backend"
    );
}

#[test]
fn duplicate_frontend_names() {
    let text = format!("{BASE}\n[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8001\"]\ndefault_backend = \"app\"\n");
    let e = only_error(&text);
    assert_eq!(e, "t.toml:14:8: frontend \"web\": duplicate frontend name");
}

#[test]
fn duplicate_backend_names() {
    let text = format!("{BASE}\n[[backend]]\nname = \"app\"\n[[backend.server]]\nname = \"x\"\naddress = \"127.0.0.1:1\"\n");
    let e = only_error(&text);
    assert_eq!(e, "t.toml:14:8: backend \"app\": duplicate backend name");
}

#[test]
fn duplicate_server_names() {
    let text = format!("{BASE}\n[[backend.server]]\nname = \"a1\"\naddress = \"127.0.0.1:9002\"\n");
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:14:8: backend \"app\" server \"a1\": duplicate server name in this backend"
    );
}

#[test]
fn duplicate_bind_addresses() {
    let text = format!("{BASE}\n[[frontend]]\nname = \"other\"\nbind = [\"127.0.0.1:8000\"]\ndefault_backend = \"app\"\n");
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:15:9: frontend \"other\": bind 127.0.0.1:8000 is already bound by frontend \"web\""
    );
}

#[test]
fn empty_backend() {
    let text = "[[frontend]]\nname = \"web\"\nbind = [\"127.0.0.1:8000\"]\ndefault_backend = \"app\"\n\n[[backend]]\nname = \"app\"\n";
    let e = only_error(text);
    assert_eq!(
        e,
        "t.toml:7:8: backend \"app\": has no server: add at least one [[backend.server]]"
    );
}

#[test]
fn weight_out_of_range() {
    let e = only_error(&format!("{BASE}weight = 300\n"));
    assert_eq!(
        e,
        "t.toml:12:10: backend \"app\" server \"a1\": weight 300 is out of range 0..=256"
    );
    let e = only_error(&format!("{BASE}weight = -1\n"));
    assert!(e.contains("weight -1 is out of range"), "{e}");
}

#[test]
fn bad_duration_strings() {
    let e = only_error(&format!("[defaults]\ntimeout_connect = \"2\"\n{BASE}"));
    assert_eq!(e, "t.toml:2:19: defaults.timeout_connect: invalid duration \"2\": missing unit (write e.g. \"2ms\" or \"2s\")");
    let e = only_error(&BASE.replace(
        "name = \"app\"\n",
        "name = \"app\"\ntimeout_server = \"10 parsecs\"\n",
    ));
    assert!(
        e.starts_with("t.toml:8:18: backend \"app\": timeout_server: invalid duration"),
        "{e}"
    );
}

#[test]
fn bad_addresses() {
    let e = only_error(&BASE.replace("bind = [\"127.0.0.1:8000\"]", "bind = [\"localhost\"]"));
    assert!(
        e.starts_with("t.toml:3:9: frontend \"web\": bind: \"localhost\" is not an address"),
        "{e}"
    );
    let e = only_error(&BASE.replace("127.0.0.1:9001", "127.0.0.1"));
    assert!(
        e.starts_with(
            "t.toml:11:11: backend \"app\" server \"a1\": address \"127.0.0.1\" is not of the form"
        ),
        "{e}"
    );
    let e = only_error(&BASE.replace("127.0.0.1:9001", "no-such-host.invalid:80"));
    assert!(
        e.contains("cannot resolve address \"no-such-host.invalid:80\""),
        "{e}"
    );
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let e = only_error(&BASE.replace("name = \"web\"\n", "name = \"web\"\nmode = \"udp\"\n"));
    assert!(e.starts_with("t.toml:3:8: "), "{e}");
    assert!(
        e.contains("udp") && e.contains("http") && e.contains("tcp"),
        "{e}"
    );
}

#[test]
fn all_errors_of_a_file_are_reported_together() {
    let text = BASE
        .replace("default_backend = \"app\"", "default_backend = \"nope\"")
        .replace("127.0.0.1:9001\"", "127.0.0.1:9001\"\nweight = 999");
    let errors = Config::parse(&format!("[defaults]\nretries = -2\n{text}"), "t.toml").unwrap_err();
    assert_eq!(errors.0.len(), 3, "{errors}");
    let all = errors.to_string();
    assert!(all.contains("retries -2"), "{all}");
    assert!(all.contains("\"nope\""), "{all}");
    assert!(all.contains("weight 999"), "{all}");
}

#[test]
fn a_type_mistake_names_the_server_and_says_what_was_expected() {
    let text = BASE.replace(
        "address = \"127.0.0.1:9001\"",
        "address = \"127.0.0.1:9001\"\nweight = \"heavy\"",
    );
    let e = only_error(&text);
    assert_eq!(
        e,
        "t.toml:12:10: backend \"app\" server \"a1\": weight: expected an integer, got the string \"heavy\""
    );
    assert!(!e.contains("serde"), "{e}");
}

#[test]
fn every_unknown_key_of_a_file_is_reported_in_one_run() {
    let text = BASE
        .replace("name = \"web\"\n", "name = \"web\"\nbnid = [\"x\"]\n")
        .replace(
            "address = \"127.0.0.1:9001\"",
            "address = \"127.0.0.1:9001\"\nwieght = 2\nchekc = true",
        );
    let errors = match Config::parse(&text, "t.toml") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 3, "{errors}");
    assert!(
        lines[0].starts_with("t.toml:3:1: frontend \"web\": bnid: unknown field"),
        "{errors}"
    );
    assert!(
        lines[1].starts_with("t.toml:13:1: backend \"app\" server \"a1\": wieght: unknown field"),
        "{errors}"
    );
    assert!(
        lines[2].starts_with("t.toml:14:1: backend \"app\" server \"a1\": chekc: unknown field"),
        "{errors}"
    );
}
