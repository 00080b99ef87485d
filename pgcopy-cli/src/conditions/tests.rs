use super::*;

#[test]
fn settings_keep_iso_output_and_quote_every_name() {
    let mut env = ConditionEnv {
        written_out: false,
        schemas: vec!["pg_catalog".into(), "my \"app\"".into()],
        time_zone: "Europe/Berlin".into(),
        date_order: "DMY".into(),
        interval_style: "sql_standard".into(),
    };
    assert_eq!(
            env.settings_sql(true),
            "SET LOCAL search_path = \"pg_catalog\", \"my \"\"app\"\"\", pg_temp; SET LOCAL TimeZone = \
             'Europe/Berlin'; SET LOCAL DateStyle = 'ISO, DMY'; SET LOCAL IntervalStyle = 'sql_standard'"
        );
    assert_eq!(
            env.peer_settings_sql(),
            "SET TimeZone = 'Europe/Berlin'; SET DateStyle = 'ISO, DMY'; SET IntervalStyle = 'sql_standard'"
        );
    // Written out, the texts run under pgcopy's own path.
    env.written_out = true;
    assert_eq!(
            env.settings_sql(false),
            "SET TimeZone = 'Europe/Berlin'; SET DateStyle = 'ISO, DMY'; SET IntervalStyle = 'sql_standard'"
        );
}
