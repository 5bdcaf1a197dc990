fn main() {
    eprintln!("ringlb-load: not built yet (see issue: load generator)");
    std::process::exit(2);
}
