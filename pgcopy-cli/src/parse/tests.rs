use super::*;
use pgcopy_core::quote::QualifiedName;
use pgcopy_core::stored::{check_foreign_key, check_index};
use proptest::prelude::*;

#[test]
fn pg_get_indexdef_texts_pass() {
    let t = QualifiedName::new("Sales EU", "order");
    for def in [
        r#"CREATE UNIQUE INDEX "o idx" ON "Sales EU"."order" USING btree (lower(a) public.myops, b DESC NULLS LAST) INCLUDE (c) WITH (fillfactor='50') WHERE (a OPERATOR(public.>) 1)"#,
        "CREATE INDEX \"o idx\" ON ONLY \"Sales EU\".\"order\" USING btree (a);\n\
             ALTER INDEX \"Sales EU\".\"o idx\" ATTACH PARTITION \"Sales EU\".\"order_2024_a_idx\"",
    ] {
        assert_eq!(check_index(&t, "o idx", parse(def)), Ok(()), "{def}");
    }
}

#[test]
fn literals_a_domain_could_check_are_found() {
    let def = "CREATE INDEX i ON public.t USING btree (lower(a), (b::text)) \
                   WHERE (c = ANY ('{0}'::public.dom[])) AND d = '1'::pg_catalog.int4 AND e <> ''::text";
    assert_eq!(risky_literals(def).unwrap(), ["a cast to public.dom[]"]);
    let check =
        "ALTER TABLE public.t ADD CONSTRAINT c CHECK ((x > ('5'::\"S\".\"my dom\"))) NOT VALID";
    assert_eq!(risky_literals(check).unwrap(), ["a cast to S.my dom"]);
    // No cast: the parser picks the type from the column (a domain's
    // array here), and runs its input.
    let bare = "CREATE INDEX ti ON public.t USING btree (a) WHERE (a <> '{1}')";
    assert_eq!(risky_literals(bare).unwrap(), ["'{1}' with no cast"]);
    let bare = "ALTER TABLE public.t ADD CONSTRAINT tc CHECK ((a <> '{1}')) NOT VALID";
    assert_eq!(risky_literals(bare).unwrap(), ["'{1}' with no cast"]);
    let call = "CREATE INDEX i ON public.t (a) WHERE public.f('x') AND g(('y')::text)";
    assert_eq!(risky_literals(call).unwrap(), ["'x' with no cast"]);
    for safe in [
            "CREATE INDEX i ON public.t (a) WHERE (b IS NULL) AND c > 5 AND d",
            "CREATE INDEX i ON public.t (a) WHERE (status = 'active'::text) AND (at > '2020-01-01'::date)",
            "ALTER TABLE public.t ADD CONSTRAINT c CHECK ((name <> ''::text)) NOT VALID",
        ] {
            assert!(risky_literals(safe).unwrap().is_empty(), "{safe}");
        }
}

#[test]
fn only_plain_conditions_are_run_elsewhere() {
    let cols = |c: &str| condition_columns(c).map(|s| s.into_iter().collect::<Vec<_>>());
    assert_eq!(
            cols("((logdate IS NOT NULL) AND (logdate >= '2006-02-01'::date) AND (logdate < '2006-03-01'::date))"),
            Some(vec!["logdate".to_string()])
        );
    assert_eq!(
            cols("coalesce(((a IS NOT NULL) AND (a = ANY (ARRAY[1, 2]))), false) OR coalesce((NOT ((b)::text = 'x'::text)), false)"),
            Some(vec!["a".to_string(), "b".to_string()])
        );
    assert!(cols("(a OPERATOR(pg_catalog.>=) 5)").is_some());
    for bad in [
        "satisfies_hash_partition('16384'::oid, 4, 0, id)",
        "(lower(name) >= 'a'::text)",
        "(a OPERATOR(public.>=) 5)",
        "(a = '1'::public.dom)",
        "(a IN (SELECT 1))",
        "(t.a = 1)",
        "true); DROP TABLE x; SELECT (true",
    ] {
        assert_eq!(cols(bad), None, "{bad}");
    }
}

#[test]
fn statements_are_cut_where_the_parser_cuts_them() {
    let def = "CREATE INDEX \"a;b\" ON ONLY public.t USING btree (a) WHERE (b = 'x;y');\n\
                   ALTER INDEX public.\"a;b\" ATTACH PARTITION public.c";
    assert_eq!(
        split(def).unwrap(),
        [
            "CREATE INDEX \"a;b\" ON ONLY public.t USING btree (a) WHERE (b = 'x;y')",
            "ALTER INDEX public.\"a;b\" ATTACH PARTITION public.c"
        ]
    );
}

#[test]
fn injected_index_definitions_are_refused() {
    let t = QualifiedName::new("public", "t");
    for def in [
            "ALTER ROLE app SUPERUSER",
            "CREATE INDEX i ON public.t (a); ALTER ROLE app SUPERUSER",
            "CREATE INDEX i ON public.t (a); SELECT 1",
            "CREATE INDEX i ON public.canary (a)",
            "CREATE INDEX i ON t (a)",
            "CREATE INDEX CONCURRENTLY i ON public.t (a)",
            "CREATE INDEX i ON public.t (a); ALTER INDEX public.i OWNER TO app",
            "CREATE INDEX i ON public.t (a); ALTER TABLE public.t ATTACH PARTITION public.x FOR VALUES IN (1)",
            "CREATE INDEX i ON public.t (a)) ; DROP TABLE public.canary; --",
            "",
            "-- nothing",
        ] {
            assert!(check_index(&t, "i", parse(def)).is_err(), "{def}");
        }
}

fn fk(def: &str, not_valid: bool) -> String {
    pgcopy_core::sql::add_constraint(&QualifiedName::new("public", "b"), "b_a_fk", def, not_valid)
}

#[test]
fn foreign_keys_pass_only_as_themselves() {
    let (t, r) = (
        QualifiedName::new("public", "b"),
        QualifiedName::new("public", "a"),
    );
    let check = |sql: &str, nv| check_foreign_key(&t, "b_a_fk", &r, nv, parse(sql));
    let good = "FOREIGN KEY (a, b) REFERENCES public.a(x, y) MATCH FULL ON DELETE SET NULL (a) DEFERRABLE INITIALLY DEFERRED";
    assert_eq!(check(&fk(good, true), true), Ok(()));
    assert_eq!(check(&fk(good, false), false), Ok(()));
    for bad in [
        "CHECK (true); ALTER ROLE app SUPERUSER; --",
        "CHECK (true)",
        "FOREIGN KEY (a) REFERENCES a(id)",
        "FOREIGN KEY (a) REFERENCES public.canary(id)",
        "FOREIGN KEY (a) REFERENCES public.a(id), OWNER TO app",
        "FOREIGN KEY (a) REFERENCES public.a(id); ALTER ROLE app SUPERUSER",
        "FOREIGN KEY (a) REFERENCES otherdb.public.a(id)",
    ] {
        assert!(check(&fk(bad, true), true).is_err(), "{bad}");
    }
    // A trailing comment would swallow the NOT VALID pgcopy appends.
    assert!(check(
        &fk("FOREIGN KEY (a) REFERENCES public.a(id) --", true),
        true
    )
    .is_err());
}

proptest! {
    /// Whatever text follows a genuine definition, the statement either
    /// still is that one FK, or it is refused: no suffix smuggles in a
    /// second statement or another table.
    #[test]
    fn no_suffix_gets_anything_else_through(suffix in "[ -~\n]{0,40}") {
        let (t, r) = (QualifiedName::new("public", "b"), QualifiedName::new("public", "a"));
        let def = format!("FOREIGN KEY (a) REFERENCES public.a(id){suffix}");
        let sql = fk(&def, true);
        if check_foreign_key(&t, "b_a_fk", &r, true, parse(&sql)).is_ok() {
            let parsed = parse(&sql).unwrap();
            prop_assert_eq!(parsed.len(), 1);
        }
        let idx = format!("CREATE INDEX i ON public.b (a){suffix}");
        if check_index(&t, "i", parse(&idx)).is_ok() {
            let parsed = parse(&idx).unwrap();
            let first_is_index = matches!(parsed[0], Statement::CreateIndex { .. });
            prop_assert!(first_is_index, "{:?}", parsed);
            let rest_attach = parsed[1..]
                .iter()
                .all(|s| matches!(s, Statement::Alter { object: AlterObject::Index, .. }));
            prop_assert!(rest_attach, "{:?}", parsed);
        }
    }
}
