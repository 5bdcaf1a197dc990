//! Map files: reading, and each kind of match as HAProxy's `pattern.c` does it.

use super::*;

fn map(how: MapMatch, text: &str) -> Map {
    Map::parse("test.map", how, text).expect("valid map")
}

fn get<'m>(m: &'m Map, sample: &str) -> Option<&'m str> {
    m.lookup(sample.as_bytes())
        .map(|v| std::str::from_utf8(v).expect("utf-8"))
}

#[test]
fn lines_comments_blanks_and_values_with_spaces() {
    let m = map(
        MapMatch::Str,
        "# hosts\n\n   \texample.com   be_static  \n  # indented comment\napi.example.com\tbe api\nbare\nexample.com second\n",
    );
    assert_eq!(
        get(&m, "example.com"),
        Some("be_static"),
        "first line of a key wins"
    );
    assert_eq!(
        get(&m, "api.example.com"),
        Some("be api"),
        "the value is the rest of the line"
    );
    assert_eq!(get(&m, "bare"), Some(""), "a key alone has an empty value");
    assert_eq!(get(&m, "Example.com"), None, "case-sensitive");
    assert_eq!(get(&m, "example.co"), None);
    assert_eq!(get(&m, ""), None);
    assert_eq!(m.len(), 4);
}

#[test]
fn an_empty_file_matches_nothing() {
    for how in [
        MapMatch::Str,
        MapMatch::Beg,
        MapMatch::Dom,
        MapMatch::Reg,
        MapMatch::Ip,
    ] {
        let m = map(how, "# nothing yet\n");
        assert!(m.is_empty());
        assert_eq!(get(&m, "anything"), None);
        assert_eq!(get(&m, "10.0.0.1"), None);
    }
}

#[test]
fn prefixes_suffixes_and_substrings_go_in_file_order() {
    let m = map(MapMatch::Beg, "/api/v2 v2\n/api v1\n/ root\n");
    assert_eq!(get(&m, "/api/v2/users"), Some("v2"));
    assert_eq!(get(&m, "/api/v1"), Some("v1"));
    assert_eq!(get(&m, "/static"), Some("root"));
    assert_eq!(get(&m, "api"), None);
    let m = map(MapMatch::Beg, "/ root\n/api v1\n");
    assert_eq!(get(&m, "/api"), Some("root"), "not the longest: the first");

    let m = map(MapMatch::End, ".jpg images\n.js scripts\n");
    assert_eq!(get(&m, "/a/b.jpg"), Some("images"));
    assert_eq!(get(&m, "/a.json"), None);

    let m = map(MapMatch::Sub, "admin a\nlogin l\n");
    assert_eq!(get(&m, "/x/login/admin"), Some("a"));
    assert_eq!(get(&m, "/login"), Some("l"));
    assert_eq!(get(&m, "/logout"), None);
}

#[test]
fn domains_match_whole_labels_anywhere() {
    let m = map(MapMatch::Dom, "example.com site\n.test. t\n");
    assert_eq!(get(&m, "example.com"), Some("site"));
    assert_eq!(get(&m, "www.example.com"), Some("site"));
    assert_eq!(get(&m, "example.com:8080"), Some("site"));
    assert_eq!(
        get(&m, "example.com.evil.org"),
        Some("site"),
        "as HAProxy: anywhere"
    );
    assert_eq!(
        get(&m, "notexample.com"),
        None,
        "a label starts after a delimiter"
    );
    assert_eq!(get(&m, "example.community"), None, "and ends before one");
    assert_eq!(
        get(&m, "a.test"),
        Some("t"),
        "the key's own dots are trimmed"
    );
    assert_eq!(get(&m, "atest"), None);
    let m = map(MapMatch::Dom, "... dots\n");
    assert_eq!(
        get(&m, "a.b"),
        None,
        "a key of delimiters only matches nothing"
    );
}

#[test]
fn directories_match_whole_path_parts() {
    let m = map(MapMatch::Dir, "api/v1 one\nimg i\n");
    assert_eq!(get(&m, "/api/v1/users"), Some("one"));
    assert_eq!(get(&m, "/x/api/v1?q"), Some("one"));
    assert_eq!(get(&m, "/api/v10"), None);
    assert_eq!(
        get(&m, "/img.png"),
        None,
        "a dot does not delimit a directory"
    );
    assert_eq!(get(&m, "/img"), Some("i"));
}

#[test]
fn regexes_are_searched_in_file_order() {
    let m = map(MapMatch::Reg, "^/v[0-9]+/ versioned\n");
    assert_eq!(get(&m, "/v12/x"), Some("versioned"));
    assert_eq!(get(&m, "/x/v1/"), None);
    let m = map(MapMatch::Reg, "\\.php$ php\nindex any\n");
    assert_eq!(get(&m, "/index.php"), Some("php"));
    assert_eq!(get(&m, "/index.html"), Some("any"));
    let err = Map::parse("r.map", MapMatch::Reg, "ok 1\n(unclosed 2\n").unwrap_err();
    assert!(err.to_string().starts_with("line 2: regex"), "{err}");
}

#[test]
fn networks_take_the_longest_prefix_per_family() {
    let m = map(
        MapMatch::Ip,
        "10.0.0.0/8 wide\n10.1.0.0/16 narrow\n10.1.2.3 host\n::/0 any6\n2001:db8::/32 doc\n0.0.0.0/0 any4\n",
    );
    assert_eq!(get(&m, "10.9.9.9"), Some("wide"));
    assert_eq!(get(&m, "10.1.9.9"), Some("narrow"));
    assert_eq!(get(&m, "10.1.2.3"), Some("host"));
    assert_eq!(
        get(&m, "192.0.2.1"),
        Some("any4"),
        "IPv6's ::/0 holds no IPv4"
    );
    assert_eq!(get(&m, "2001:db8::1"), Some("doc"));
    assert_eq!(get(&m, "2001:db9::1"), Some("any6"));
    assert_eq!(
        get(&m, "::ffff:10.1.2.3"),
        Some("host"),
        "a mapped address is IPv4"
    );
    assert_eq!(get(&m, "not an address"), None);
    let m = map(MapMatch::Ip, "192.0.2.0/24 first\n192.0.2.0/24 second\n");
    assert_eq!(get(&m, "192.0.2.9"), Some("first"));
    let err = Map::parse("ip.map", MapMatch::Ip, "10.0.0.0/33 x\n").unwrap_err();
    assert!(err.to_string().starts_with("line 1:"), "{err}");
}

#[test]
fn integers_and_ranges() {
    let m = map(MapMatch::Int, "80 http\n443 https\n1024: high\n:0 low\n");
    assert_eq!(get(&m, "80"), Some("http"));
    assert_eq!(get(&m, "443"), Some("https"));
    assert_eq!(get(&m, "8080"), Some("high"));
    assert_eq!(get(&m, "-3"), Some("low"));
    assert_eq!(get(&m, "81"), None);
    assert_eq!(get(&m, "eighty"), None);
    let err = Map::parse("i.map", MapMatch::Int, "80 a\nx:y b\n").unwrap_err();
    assert!(err.to_string().starts_with("line 2:"), "{err}");
}

#[test]
fn converter_names() {
    assert_eq!(MapMatch::of_converter("map"), Some(MapMatch::Str));
    assert_eq!(MapMatch::of_converter("map_str"), Some(MapMatch::Str));
    assert_eq!(MapMatch::of_converter("map_beg"), Some(MapMatch::Beg));
    assert_eq!(MapMatch::of_converter("map_beg_str"), Some(MapMatch::Beg));
    assert_eq!(MapMatch::of_converter("map_dom"), Some(MapMatch::Dom));
    assert_eq!(MapMatch::of_converter("map_ip"), Some(MapMatch::Ip));
    assert_eq!(MapMatch::of_converter("map_str_int"), None);
    assert_eq!(MapMatch::of_converter("lower"), None);
}
