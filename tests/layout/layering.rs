//! The checks on src/: imports follow `ALLOWED`, no cycle, the table names every module.

use super::*;

// ---------------------------------------------------------------------------------
// Tests on the crate

#[test]
fn imports_follow_the_layering() {
    let scanned = scan_crate();
    let declared = declared_modules();
    let mut offences = Vec::new();
    for s in &scanned {
        if allowed(&s.from, &s.from).is_none() {
            offences.push(format!(
                "{}: module {} is not in tests/layout/main.rs's ALLOWED table",
                s.file, s.from
            ));
            continue;
        }
        for imp in &s.imports {
            if !declared.contains(&imp.target) {
                offences.push(format!(
                    "{}:{}: {} imports crate::{}, which src/lib.rs does not declare as a module",
                    s.file, imp.line, s.from, imp.target
                ));
            } else if allowed(&s.from, &imp.target) != Some(true) {
                offences.push(format!(
                    "{}:{}: {} imports {}",
                    s.file, imp.line, s.from, imp.target
                ));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "imports against the layering (see ALLOWED in tests/layout/main.rs):\n{}",
        offences.join("\n")
    );
    // Against a scanner that silently finds nothing: the channels between the
    // control thread and the workers are the crate's spine.
    let edges = graph(&scanned);
    for (a, b) in [("worker", "msg"), ("control", "msg"), ("run", "worker")] {
        assert!(
            edges.contains_key(&(a.to_string(), b.to_string())),
            "the scanner found no {a} → {b} import; found: {:?}",
            edges.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_module_graph_has_no_cycle() {
    let edges = graph(&scan_crate());
    let keys: BTreeSet<(String, String)> = edges.keys().cloned().collect();
    if let Some(cycle) = find_cycle(&keys) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let at = &edges[&(w[0].clone(), w[1].clone())];
                format!("{at}: {} imports {}", w[0], w[1])
            })
            .collect();
        panic!(
            "the modules import each other in a cycle {}:\n{}",
            cycle.join(" → "),
            steps.join("\n")
        );
    }
}

#[test]
fn the_table_names_every_module_and_is_itself_layered() {
    let declared = declared_modules();
    let mut named: BTreeSet<String> = ALLOWED.iter().map(|(m, _)| m.to_string()).collect();
    named.remove("main");
    named.remove("lib");
    assert_eq!(
        named, declared,
        "ALLOWED in tests/layout/main.rs must name exactly the modules src/lib.rs declares"
    );
    let mut edges = BTreeSet::new();
    for (from, may) in ALLOWED {
        if let Only(list) = may {
            for to in *list {
                assert!(declared.contains(*to), "{from} → {to}: no module {to}");
                edges.insert((from.to_string(), to.to_string()));
            }
        }
    }
    assert_eq!(find_cycle(&edges), None, "ALLOWED permits a cycle");
}
