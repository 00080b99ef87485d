use super::{unqualified_names, NameKind};

fn names(text: &str) -> Vec<(NameKind, String)> {
    unqualified_names(text).unwrap().into_iter().collect()
}

#[test]
fn operators_functions_types_and_relations_left_to_the_path() {
    use NameKind::*;
    assert_eq!(
        names("email = 'A' OR email IN ('b') OR lower(name) LIKE 'x%'::citext"),
        vec![
            (Function, "lower".into()),
            (Operator, "=".into()),
            (Operator, "~~".into()),
            (Type, "citext".into()),
        ]
    );
    assert_eq!(
        names("id BETWEEN 1 AND 2 AND x IN (SELECT y FROM other) AND CASE k WHEN 1 THEN true END"),
        vec![
            (Operator, "<=".into()),
            (Operator, "=".into()),
            (Operator, ">=".into()),
            (Relation, "other".into()),
        ]
    );
    assert_eq!(
        names("n COLLATE \"de\" < 'b'"),
        vec![(Operator, "<".into()), (Collation, "de".into())]
    );
}

#[test]
fn qualified_names_and_builtin_type_keywords_are_not_left_to_the_path() {
    assert_eq!(
            names("a OPERATOR(public.=) public.lower(b)::int AND c::pg_catalog.text IS NOT NULL AND d IN (SELECT 1 FROM s.t)"),
            vec![(NameKind::Operator, "=".into())]
        );
}
