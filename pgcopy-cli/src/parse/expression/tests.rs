use super::one_expression;

#[test]
fn only_one_expression_on_its_own_passes() {
    for ok in [
        "customer_id <= 50",
        "email LIKE '%:%' AND (a OR b)",
        "EXISTS (SELECT 1 FROM other o WHERE o.id = x)",
        "md5(email) || '@example.invalid'",
        "CASE WHEN a THEN 1 ELSE 2 END",
    ] {
        assert_eq!(one_expression(ok), Ok(()), "{ok}");
    }
    for bad in [
        "false) OR (id <= 10",
        "true; DROP TABLE t",
        "a, b",
        "a FROM t",
        "1 UNION SELECT 2",
        "pgcopy_row.id <= 10",
        "PGCOPY_ROW1.id > 0",
        "x ORDER BY 1",
        "customer_id <= 50;",
    ] {
        assert!(one_expression(bad).is_err(), "{bad}");
    }
}

#[test]
fn calls_name_functions_and_the_clock() {
    use super::calls;
    assert_eq!(
        calls("random() < 0.5 AND EXISTS (SELECT 1 FROM o WHERE o.t < pg_catalog.now())"),
        (
            vec!["pg_catalog.now".to_string(), "random".to_string()],
            false
        )
    );
    assert_eq!(calls("d > CURRENT_DATE - 7"), (vec![], true));
    assert_eq!(calls("owner = CURRENT_USER"), (vec![], false));
    assert_eq!(
        calls("lower(name) = 'x'"),
        (vec!["lower".to_string()], false)
    );
}
