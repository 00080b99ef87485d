use super::without_alias;

#[test]
fn only_column_references_lose_the_alias() {
    assert_eq!(
        without_alias(
            "((pgcopy_row.email)::text = 'pgcopy_row.x'::text) AND (pgcopy_row.\"Col\" > 1)",
            "pgcopy_row"
        )
        .unwrap(),
        "((email)::text = 'pgcopy_row.x'::text) AND (\"Col\" > 1)"
    );
    assert_eq!(without_alias("(a > 1)", "pgcopy_row").unwrap(), "(a > 1)");
}

#[test]
fn one_pair_of_outer_parentheses_goes() {
    use super::without_outer_parentheses as w;
    assert_eq!(w("((a <= 50))"), "(a <= 50)");
    assert_eq!(w("(a > 1) AND (b < 2)"), "(a > 1) AND (b < 2)");
    assert_eq!(w("(x = ')(')"), "x = ')('");
    assert_eq!(w("a > 1"), "a > 1");
}
