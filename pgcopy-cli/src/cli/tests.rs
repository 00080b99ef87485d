use super::*;

#[test]
fn psql_habits_are_named_with_the_url_they_make() {
    let args = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    let m = psql_style_options(&args("list -h db1 -p 5433 -U app")).unwrap();
    assert!(m.contains("-s 'postgresql://app@db1:5433/DBNAME'"), "{m}");
    let m = psql_style_options(&args("list -U postgres")).unwrap();
    assert!(m.contains("postgresql://postgres@HOST/DBNAME"), "{m}");
    assert!(psql_style_options(&args("list -hdb1")).is_some());
    assert!(psql_style_options(&args("copy --host=x")).is_some());
    // pgcopy's own flags are not psql's.
    for ok in [
        "copy -p 4 -s url -d url2",
        "list -h",
        "copy --help",
        "list -s x -- -U",
    ] {
        assert_eq!(psql_style_options(&args(ok)), None, "{ok}");
    }
}
use clap::CommandFactory;

#[test]
fn cli_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn sizes() {
    assert_eq!(parse_size("100").unwrap(), 100);
    assert_eq!(parse_size("64kB").unwrap(), 65536);
    assert_eq!(parse_size("256MB").unwrap(), 256 << 20);
    assert_eq!(parse_size("1.5GB").unwrap(), 3 << 29);
    assert!(parse_size("12 parsecs").is_err());
    assert!(parse_size("MB").is_err());
    assert!(parse_size("99999999999999999999")
        .unwrap_err()
        .contains("larger than any size"));
    assert!(parse_size("20000000TB").is_err());
}

#[test]
fn batch_size_zero_rejected() {
    let r = Cli::try_parse_from(["pgcopy", "copy", "-s", "x", "-d", "y", "--batch-size", "0"]);
    assert!(r.is_err());
}
