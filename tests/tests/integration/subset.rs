//! Subsets: `--where` copies some rows of a table, the rows of the tables
//! that reference it follow, every foreign key holds on the destination, and
//! `verify` compares against the same selection.

use crate::common::{copy, pagila_owner_pair, pgcopy, scalar, schema_of, Pair};
use pgcopy_tests::Cluster;

/// Fails (the psql call panics) when a row of any table references a row its
/// foreign key's table lacks (MATCH SIMPLE: a NULL column references
/// nothing): every foreign key holds, whatever its validity says.
pub(crate) const EVERY_KEY_HOLDS: &str = r#"DO $$
DECLARE r record; n bigint;
BEGIN
  FOR r IN
    SELECT c.conname,
           -- A key holds for its table's own rows (an INHERITS child's are
           -- not its), or for every partition of a partitioned one.
           CASE WHEN cr.relkind = 'p' THEN '' ELSE 'ONLY ' END || c.conrelid::regclass AS child,
           CASE WHEN fr.relkind = 'p' THEN '' ELSE 'ONLY ' END || c.confrelid::regclass AS parent,
           (SELECT string_agg(format('c.%I', a.attname), ', ' ORDER BY k.n)
              FROM unnest(c.conkey) WITH ORDINALITY k(att, n)
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att) AS ccols,
           -- Compared as PostgreSQL compares a key: in the referenced
           -- columns' collations.
           (SELECT string_agg(format('p.%I = c.%I%s', ra.attname, ca.attname,
                                     CASE WHEN ra.attcollation <> 0
                                          THEN ' COLLATE ' || ra.attcollation::regcollation::text ELSE '' END),
                              ' AND ' ORDER BY k.n)
              FROM unnest(c.conkey, c.confkey) WITH ORDINALITY k(catt, ratt, n)
              JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.catt
              JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.ratt) AS same
      FROM pg_constraint c
      JOIN pg_class cr ON cr.oid = c.conrelid
      JOIN pg_class fr ON fr.oid = c.confrelid
     WHERE c.contype = 'f' AND c.conparentid = 0 AND c.convalidated
       AND c.connamespace::regnamespace::text !~ '^pgcopy'
  LOOP
    EXECUTE format('SELECT count(*) FROM %s c WHERE ROW(%s) IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM %s p WHERE %s)',
                   r.child, r.ccols, r.parent, r.same) INTO n;
    IF n > 0 THEN
      RAISE EXCEPTION '% rows of % break foreign key %', n, r.child, r.conname;
    END IF;
  END LOOP;
END $$"#;

const CUSTOMERS: &str = "public.customer: customer_id <= 50";

/// The counts of the filtered and limited tables, on `c`.
fn counts(c: &Cluster, db: &str, which: &str) -> String {
    let q = match which {
        "source" => {
            "SELECT (SELECT count(*) FROM customer WHERE customer_id <= 50),
                    (SELECT count(*) FROM rental WHERE customer_id <= 50),
                    (SELECT count(*) FROM payment p WHERE customer_id <= 50
                        AND EXISTS (SELECT 1 FROM rental r WHERE r.rental_id = p.rental_id AND r.customer_id <= 50)),
                    (SELECT count(*) FROM film), (SELECT count(*) FROM inventory)"
        }
        _ => {
            "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM rental),
                    (SELECT count(*) FROM payment), (SELECT count(*) FROM film),
                    (SELECT count(*) FROM inventory)"
        }
    };
    scalar(c, db, q)
}

/// On pagila, as a superuser: the 50 customers, their rentals and payments,
/// every other table whole; every key holds; verify agrees with the same
/// `--where` and not without it; the dry run says how each table is read.
#[test]
fn fifty_customers_with_their_rentals_and_payments() {
    let p = Pair::new("subsetpagila");
    p.load(&["pagila/pagila-schema.sql"], &["pagila/pagila-data.sql"]);
    let (s, d) = p.urls();

    let dry = copy(&s, &d, &["--dry-run", "--where", CUSTOMERS]);
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("public.customer (filtered): SELECT ... FROM ONLY \"public\".\"customer\" pgcopy_row WHERE (customer_id <= 50)"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("public.rental (limited by foreign keys): "),
        "{}",
        dry.stdout
    );
    let json = copy(&s, &d, &["--dry-run", "--json", "--where", CUSTOMERS]);
    json.expect_code(0);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let taken: Vec<(String, String)> = doc["plan"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| {
            Some((
                t["table"]["name"].as_str()?.to_string(),
                t["taken"].as_str()?.to_string(),
            ))
        })
        .collect();
    assert!(
        taken.contains(&("customer".into(), "filtered".into())),
        "{taken:?}"
    );
    assert!(
        taken
            .iter()
            .any(|(t, how)| t.starts_with("payment_p") && how == "limited"),
        "{taken:?}"
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM customer"),
        "0",
        "a dry run changes nothing"
    );

    let run = p.copy(&["--where", CUSTOMERS]);
    run.expect_code(0);
    let expected = counts(&p.src, &p.db, "source");
    assert!(expected.starts_with("50|"), "{expected}");
    assert_eq!(counts(&p.dst, &p.db, "destination"), expected);
    p.dst.psql(&p.db, EVERY_KEY_HOLDS);

    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", "-s", &s, "-d", &d, "--exact"];
        args.extend_from_slice(extra);
        pgcopy(&args)
    };
    verify(&["--where", CUSTOMERS]).expect_code(0);
    let whole = verify(&[]);
    whole.expect_code(1);
    assert!(whole.stdout.contains("public.customer"), "{}", whole.stdout);

    // Two filters: a rental taken keeps its customer, even one over 50 (and
    // that customer's other rentals stay out: rental is filtered itself).
    let rentals = "public.rental: rental_id <= 100";
    p.copy(&["--where", CUSTOMERS, "--where", rentals])
        .expect_code(0);
    let customers = scalar(
        &p.src,
        &p.db,
        "SELECT count(*) FROM customer c WHERE customer_id <= 50
            OR EXISTS (SELECT 1 FROM rental r WHERE r.customer_id = c.customer_id AND r.rental_id <= 100)",
    );
    assert!(customers.parse::<u32>().unwrap() > 50, "{customers}");
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM customer"),
        customers
    );
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM rental"), "100");
    p.dst.psql(&p.db, EVERY_KEY_HOLDS);
    verify(&["--where", CUSTOMERS, "--where", rentals]).expect_code(0);
}

/// As the owner (drop mode), killed during the load: `--resume` without the
/// job's `--where` is refused in one sentence; with it, the subset ends
/// right and every key is back, validated.
#[test]
fn a_subset_resumes_only_with_its_own_filters() {
    let (p, d) = crate::common::owner_pair("subsetresume", &["fks-schema.sql"], &["fks-data.sql"]);
    let schema_before = schema_of(&p.dst, &p.db);
    let (s, _) = p.urls();
    // doc follows tenant through a composite key, MATCH SIMPLE: a NULL
    // owner references nothing.
    let filter = "tenant: tenant_id <> 2";
    let mut child = crate::common::spawn_copy(
        &s,
        &d,
        &["--where", filter],
        &[("PGCOPY_FAILPOINT", "phase:load")],
    );
    crate::common::kill_after(&mut child, "failpoint phase:load reached");
    let refused = crate::common::copy(&s, &d, &["--resume"]);
    refused.expect_code(1);
    assert!(
        refused
            .stderr
            .contains("was started with --where 'tenant: tenant_id <> 2': resume it with the same --where and --transform options"),
        "{}",
        refused.stderr
    );
    // A neighbour who may write the job's rows plants SQL in its stored
    // plan (and options): a resume runs only what its command line says.
    p.dst
        .try_psql_as(
            &p.db,
            "app",
            "UPDATE pgcopy.jobs SET
                plan = jsonb_set(plan, '{tables}', (SELECT jsonb_agg(t || '{\"rows_where\": \"(1 / 0 = 1)\", \"taken\": \"filtered\"}')
                                                    FROM jsonb_array_elements(plan->'tables') t))",
        )
        .unwrap();
    assert!(scalar(&p.dst, &p.db, "SELECT plan::text FROM pgcopy.jobs").contains("1 / 0 = 1"));
    crate::common::copy(&s, &d, &["--resume", "--where", filter]).expect_code(0);
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM tenant"),
        scalar(
            &p.src,
            &p.db,
            "SELECT count(*) FROM tenant WHERE tenant_id <> 2"
        ),
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM doc"),
        scalar(
            &p.src,
            &p.db,
            "SELECT count(*) FROM doc WHERE owner_id IS NULL OR tenant_id <> 2"
        ),
    );
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM author"),
        scalar(&p.src, &p.db, "SELECT count(*) FROM author"),
        "a table the filter does not reach is copied whole"
    );
    assert_eq!(schema_of(&p.dst, &p.db), schema_before);
    p.dst.psql(&p.db, EVERY_KEY_HOLDS);
    assert_eq!(crate::common::keys_not_back(&p), "0");
}

/// Bad filters: one sentence each, before anything changes.
#[test]
fn bad_filters_are_refused_before_any_change() {
    let p = Pair::new("subsetbad");
    p.load(&["fks-schema.sql"], &["fks-data.sql"]);
    let (s, d) = p.urls();
    let copy = |filter: &str| crate::common::copy(&s, &d, &["--where", filter]);
    let syntax = copy("category");
    syntax.expect_code(2);
    assert!(
        syntax.stderr.contains("is not TABLE: CONDITION"),
        "{}",
        syntax.stderr
    );
    let column = copy("category: no_such_column > 1");
    column.expect_code(1);
    assert!(
        column.stderr.contains(
            "the --where condition for public.category does not run on the source (column \"no_such_column\" does not exist)"
        ),
        "{}",
        column.stderr
    );
    // Once, for the table the condition is for: not again for each table
    // whose rows follow it (item's selection holds the same condition).
    assert_eq!(
        column.stderr.matches("does not run on the source").count(),
        1,
        "{}",
        column.stderr
    );
    // A condition whose answer changes between the transactions that read
    // the rows (each worker's, a resume's) is refused by name.
    for (text, calls) in [
        ("category: random() < 0.5", "random()"),
        // (As pgcopy writes it out: pg_catalog's names need no schema.)
        (
            "category: id < extract(epoch FROM pg_catalog.now())",
            "now()",
        ),
        (
            "category: id < extract(day FROM clock_timestamp())",
            "clock_timestamp()",
        ),
        (
            "category: CURRENT_DATE > '2000-01-01'",
            "the clock (CURRENT_TIMESTAMP",
        ),
    ] {
        let refused = copy(text);
        refused.expect_code(1);
        assert!(
            refused
                .stderr
                .contains(&format!("the --where condition for category calls {calls}")),
            "{}",
            refused.stderr
        );
    }
    // One whose functions are steady goes (a dry run here).
    crate::common::copy(
        &s,
        &d,
        &[
            "--dry-run",
            "--where",
            "category: abs(id) <= 10 AND lower('X') = 'x'",
        ],
    )
    .expect_code(0);
    // Text that balances only where it was tried, or names pgcopy's alias,
    // would read other rows in the subqueries that follow the filter.
    for (text, why) in [
        (
            "category: true) TO STDOUT; DROP TABLE book; --",
            "it is not one SQL expression",
        ),
        (
            "category: false) OR (id <= 10",
            "it is not one SQL expression",
        ),
        (
            "category: pgcopy_row.id <= 10",
            "it names pgcopy_row, pgcopy's alias of the row",
        ),
        ("category: id <= 10;", "it is not one SQL expression"),
    ] {
        let refused = copy(text);
        refused.expect_code(1);
        assert!(
            refused
                .stderr
                .contains(&format!("the --where for category is refused: {why}")),
            "{}",
            refused.stderr
        );
    }
    // author <-> book is a cycle pgcopy walks (`one_store_with_its_staff`);
    // with a second key from book to author, which authors' books to take
    // has no single answer.
    for c in [&p.src, &p.dst] {
        c.psql(
            &p.db,
            "ALTER TABLE book ADD COLUMN editor_id int REFERENCES author (id)",
        );
    }
    let cycle = copy("author: id < 5");
    cycle.expect_code(2);
    assert!(
        cycle.stderr.contains(
            "foreign keys form a cycle through tables the filters restrict (public.author, public.book), which \
             --where cannot follow: public.book, limited by the filters, references tables in it through 2 keys"
        ),
        "{}",
        cycle.stderr
    );
    let unknown = copy("nosuch: true");
    unknown.expect_code(2);
    assert!(
        unknown.stderr.contains("selects no copied table"),
        "{}",
        unknown.stderr
    );
    crate::common::assert_no_state_schema(&p.dst, &p.db);
    assert_eq!(scalar(&p.src, &p.db, "SELECT count(*) > 0 FROM book"), "t");

    // From psql, the extension's plan shows the same subset.
    p.dst.psql(&p.db, "CREATE EXTENSION pgcopy");
    let rows = p.dst.psql(
        &p.db,
        "SELECT table_name, rows_taken, rows_where IS NOT NULL FROM pgcopy.plan(row_filters => ARRAY['category: id < 3'])
          WHERE table_name IN ('category', 'item', 'author') ORDER BY 1",
    );
    assert_eq!(
        rows,
        "author|whole|f\ncategory|filtered|t\nitem|limited by foreign keys|t"
    );
    let err = p
        .dst
        .try_psql_as(
            &p.db,
            "postgres",
            "SELECT * FROM pgcopy.plan(row_filters => ARRAY['author: id < 3'])",
        )
        .unwrap_err();
    assert!(err.contains("foreign keys form a cycle"), "{err}");
    // What the CLI refuses, the extension's plan refuses too.
    for (filter, why) in [
        (
            "category: 1=1; DROP TABLE book",
            "it is not one SQL expression",
        ),
        (
            "category: false) OR (id <= 10",
            "it is not one SQL expression",
        ),
        (
            "category: pgcopy_row.id < 3",
            "it names pgcopy_row, pgcopy's alias of the row",
        ),
    ] {
        let err = p
            .dst
            .try_psql_as(
                &p.db,
                "postgres",
                &format!(
                    "SELECT * FROM pgcopy.plan(row_filters => ARRAY[{}])",
                    pgcopy_core::quote::quote_literal(filter)
                ),
            )
            .unwrap_err();
        assert!(
            err.contains(&format!(
                "the row_filters entry for category is refused: {why}"
            )),
            "{err}"
        );
    }
    for c in [&p.src, &p.dst] {
        c.psql(&p.db, "ALTER TABLE book DROP COLUMN editor_id");
    }
    assert_eq!(
        p.dst.psql(
            &p.db,
            "SELECT table_name, rows_taken, rows_where LIKE '%WITH RECURSIVE%' FROM pgcopy.plan(row_filters => ARRAY['author: id < 3'])
              WHERE table_name IN ('author', 'book') ORDER BY 1",
        ),
        "author|filtered|t\nbook|limited by foreign keys|t"
    );
    assert_eq!(
        p.dst.psql(
            &p.db,
            "SELECT transformed_columns FROM pgcopy.plan(transforms => ARRAY['employee.name: upper(name)'])
              WHERE table_name = 'employee'",
        ),
        r#"{"\"name\" = upper(name)"}"#
    );
}

/// On pagila as the owning non-superuser (drop mode: every key dropped,
/// restored and validated): 50 customers whose e-mails are masked on the
/// source, their rentals and payments; no source e-mail reaches the
/// destination; verify agrees given the same options. A transform of the
/// wrong type, or of a key column its foreign keys do not share, is refused
/// before anything changes.
#[test]
fn masked_customers_as_the_owner() {
    let (p, d) = pagila_owner_pair("subsetmask");
    let schema_before = schema_of(&p.dst, &p.db);
    let (s, _) = p.urls();
    let mask = "public.customer.email: 'customer' || customer_id || '@example.invalid'";
    let copy = |extra: &[&str]| {
        let mut args = vec!["copy", "-s", &s, "-d", &d, "--no-progress"];
        args.extend_from_slice(extra);
        pgcopy(&args)
    };

    let wrong_type = copy(&["--transform", "public.customer.email: customer_id"]);
    wrong_type.expect_code(1);
    assert!(
        wrong_type.stderr.contains(
            "the expression for column \"email\" is of type int4, the column of type text"
        ),
        "{}",
        wrong_type.stderr
    );
    let key = copy(&[
        "--transform",
        "public.customer.customer_id: customer_id + 1",
    ]);
    key.expect_code(2);
    assert!(
        key.stderr.contains("the key would no longer hold"),
        "{}",
        key.stderr
    );
    crate::common::assert_no_state_schema(&p.dst, &p.db);

    let run = copy(&["--where", CUSTOMERS, "--transform", mask]);
    run.expect_code(0);
    assert!(run.stderr.contains("drop mode"), "{}", run.stderr);
    assert_eq!(
        counts(&p.dst, &p.db, "destination"),
        counts(&p.src, &p.db, "source")
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*), count(*) FILTER (WHERE email = 'customer' || customer_id || '@example.invalid')
               FROM customer"
        ),
        "50|50"
    );
    // The source's addresses are nowhere on the destination.
    let real = "SELECT count(*) FROM customer WHERE email LIKE '%@sakilacustomer.org'";
    assert_ne!(scalar(&p.src, &p.db, real), "0");
    assert_eq!(scalar(&p.dst, &p.db, real), "0");
    p.dst.psql(&p.db, EVERY_KEY_HOLDS);
    assert_eq!(crate::common::keys_not_back(&p), "0");
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify", "-s", &s, "-d", &d, "--exact", "--where", CUSTOMERS,
        ];
        args.extend_from_slice(extra);
        pgcopy(&args)
    };
    verify(&["--transform", mask]).expect_code(0);
    verify(&[]).expect_code(1);
    assert_eq!(schema_of(&p.dst, &p.db), schema_before);
}

/// Tables that reference themselves, as the owner (drop mode: every key
/// dropped, then restored and validated). A filtered table brings along what
/// its rows reference in it, up to the top, through both its self-references
/// (loops in the data included) and a composite one whose rows may
/// reference nothing; a limited table keeps the rows whose managers are kept
/// too, walked down from the top. Checked against the rule written another
/// way: each employee by walking up its managers, each filtered table by its
/// filter rows and by every other row being referenced.
#[test]
fn self_references_are_walked() {
    let (p, d) = crate::common::owner_pair(
        "subsetself",
        &["self-refs-schema.sql"],
        &["self-refs-data.sql"],
    );
    let (s, _) = p.urls();
    let schema_before = schema_of(&p.dst, &p.db);
    // Copies (then verifies) with `filters`; every key holds, and the
    // destination's schema is as it was.
    let copy_holding = |command: &str, filters: &[&str]| {
        let mut args = vec![command, "-s", &s, "-d", &d];
        args.extend_from_slice(filters);
        pgcopy(&args).expect_code(0);
        if command == "copy" {
            p.dst.psql(&p.db, EVERY_KEY_HOLDS);
            assert_eq!(schema_of(&p.dst, &p.db), schema_before);
        }
    };
    let filters = [
        "--where",
        "company: id <= 3",
        "--where",
        "category: id % 10 = 3 AND column1 IS NULL",
        "--where",
        "node: id % 25 = 7 AND tenant <> 2",
    ];
    copy_holding("copy", &filters);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FILTER (WHERE NOT convalidated) || '/' || count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        ),
        "0/12"
    );

    // Employees: of the three companies, with every manager up the chain
    // of them too (one at the top references itself).
    let employees = scalar(
        &p.src,
        &p.db,
        "WITH RECURSIVE up(start, manager, ok) AS (
             SELECT id, NULLIF(manager_id, id), company_id <= 3 FROM employee
             UNION ALL
             SELECT up.start, NULLIF(e.manager_id, e.id), e.company_id <= 3 FROM up JOIN employee e ON e.id = up.manager)
         SELECT count(*) FROM (SELECT start FROM up GROUP BY start HAVING bool_and(ok)) kept",
    );
    assert!(employees.parse::<u32>().unwrap() > 10, "{employees}");
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM employee"),
        employees
    );
    assert_eq!(scalar(&p.dst, &p.db, "SELECT count(*) FROM company"), "3");

    // Categories and nodes: every row the filter takes, and no row but those
    // and rows another taken row references.
    for (table, filter, referenced) in [
        (
            "category",
            "id % 10 = 3 AND column1 IS NULL",
            "EXISTS (SELECT 1 FROM category o WHERE o.parent_id = t.id OR o.see_also = t.id)",
        ),
        (
            "node",
            "id % 25 = 7 AND tenant <> 2",
            "EXISTS (SELECT 1 FROM node o WHERE (o.parent_tenant, o.parent_id) = (t.tenant, t.id))",
        ),
    ] {
        let wanted = format!("SELECT count(*) FROM {table} t WHERE {filter}");
        assert_eq!(
            scalar(&p.dst, &p.db, &wanted),
            scalar(&p.src, &p.db, &wanted)
        );
        assert_eq!(
            scalar(
                &p.dst,
                &p.db,
                &format!(
                    "SELECT count(*) FROM {table} t WHERE NOT ({filter}) AND NOT {referenced}"
                )
            ),
            "0",
            "{table}: a row no taken row needs"
        );
        let more = format!("SELECT count(*) > 0 FROM {table} t WHERE NOT ({filter})");
        assert_eq!(scalar(&p.dst, &p.db, &more), "t", "{table}: ancestors");
    }
    // Products follow the categories taken.
    let categories = scalar(&p.dst, &p.db, "SELECT array_agg(id) FROM category");
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM product"),
        scalar(
            &p.src,
            &p.db,
            &format!("SELECT count(*) FROM product WHERE category_id IS NULL OR category_id = ANY ('{categories}')")
        )
    );

    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT count(*) FROM employee WHERE id = 3"),
        "1",
        "a row that references itself is a root"
    );
    copy_holding("verify", &[&["--exact"][..], &filters].concat());

    // g 100 pulls l 20, in a loop with 21: 22 and 23 follow 21 (their f is
    // taken), 24 does not (its f is not), 25 is a root and 26 follows it.
    // The bit(8) keys of flag have no hash opclass: rows are walked by place.
    let filters = [
        "--where",
        "f: id = 1",
        "--where",
        "g: id = 100",
        "--where",
        "flag: k = B'00010111'",
        "--where",
        "code: v < 10",
        "--where",
        "r: false",
        "--where",
        "x: true",
    ];
    copy_holding("copy", &filters);
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM l"
        ),
        "20,21,22,23,25,26"
    );
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT string_agg(k::int::text, ',' ORDER BY k) FROM flag"
        ),
        "1,2,5,11,23"
    );
    // Compared in "C": the codes under 10 and the rows that reference them.
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT (SELECT count(*) FROM code) || '/' || (SELECT count(*) FROM coded)"),
        scalar(
            &p.src,
            &p.db,
            "SELECT (SELECT count(*) FROM code WHERE v < 10) || '/' ||
                    (SELECT count(*) FROM coded d WHERE code IS NULL
                        OR EXISTS (SELECT 1 FROM code c WHERE c.code = d.code COLLATE \"C\" AND c.v < 10))"
        )
    );
    // x's key names r1: r2's row with the same id stays out.
    assert_eq!(
        scalar(&p.dst, &p.db, "SELECT string_agg(id || kind, ',') FROM r"),
        "1a"
    );
}

/// Stores and staff reference each other (a store's manager, a staff
/// member's store): one store's data, as its owner would refresh a
/// tenant, walks that cycle together. Checked against the rule written for
/// pagila by hand: the store, its staff, its customers and inventory, the
/// rentals whose inventory, customer and staff are all kept, and their
/// payments; every key holds; verify agrees.
#[test]
fn one_store_with_its_staff() {
    let p = Pair::new("subsetstore");
    p.load(&["pagila/pagila-schema.sql"], &["pagila/pagila-data.sql"]);
    // Sakila's key from a store to its manager (pagila's schema leaves it
    // out).
    for c in [&p.src, &p.dst] {
        c.psql(
            &p.db,
            "ALTER TABLE store ADD CONSTRAINT store_manager_staff_id_fkey
               FOREIGN KEY (manager_staff_id) REFERENCES staff (staff_id)",
        );
    }
    let (s, d) = p.urls();
    let store = "public.store: store_id = 1";
    let dry = crate::common::copy(&s, &d, &["--dry-run", "--where", store]);
    dry.expect_code(0);
    assert!(
        dry.stdout
            .contains("public.staff (limited by foreign keys): ")
            && dry.stdout.contains("WITH RECURSIVE pgcopy_row_cycle"),
        "{}",
        dry.stdout
    );
    let schema_before = schema_of(&p.dst, &p.db);
    p.copy(&["--where", store]).expect_code(0);
    p.dst.psql(&p.db, EVERY_KEY_HOLDS);
    assert_eq!(schema_of(&p.dst, &p.db), schema_before);
    // The rule, computed another way: step by step in PL/pgSQL, by keys.
    let kept = "CREATE TEMP TABLE k_store AS SELECT store_id FROM store WHERE store_id = 1;
        CREATE TEMP TABLE k_staff (staff_id int);
        DO $$ DECLARE n bigint; more bigint; BEGIN LOOP
          -- Children follow: the staff of kept stores.
          INSERT INTO k_staff SELECT DISTINCT s.staff_id FROM staff s
           WHERE s.store_id IN (SELECT store_id FROM k_store) AND s.staff_id NOT IN (SELECT staff_id FROM k_staff);
          GET DIAGNOSTICS more = ROW_COUNT;
          -- What is kept stays whole: kept stores' managers, kept staff's stores.
          INSERT INTO k_staff SELECT DISTINCT st.manager_staff_id FROM store st
           WHERE st.store_id IN (SELECT store_id FROM k_store) AND st.manager_staff_id NOT IN (SELECT staff_id FROM k_staff);
          GET DIAGNOSTICS n = ROW_COUNT; more := more + n;
          INSERT INTO k_store SELECT DISTINCT s.store_id FROM staff s
           WHERE s.staff_id IN (SELECT staff_id FROM k_staff) AND s.store_id NOT IN (SELECT store_id FROM k_store);
          GET DIAGNOSTICS n = ROW_COUNT; more := more + n;
          EXIT WHEN more = 0;
        END LOOP; END $$;
        CREATE TEMP TABLE k_customer AS SELECT customer_id FROM customer WHERE store_id IS NULL OR store_id IN (SELECT store_id FROM k_store);
        CREATE TEMP TABLE k_inventory AS SELECT inventory_id FROM inventory WHERE store_id IN (SELECT store_id FROM k_store);
        CREATE TEMP TABLE k_rental AS SELECT rental_id FROM rental
         WHERE (inventory_id IS NULL OR inventory_id IN (SELECT inventory_id FROM k_inventory))
           AND (customer_id IS NULL OR customer_id IN (SELECT customer_id FROM k_customer))
           AND (staff_id IS NULL OR staff_id IN (SELECT staff_id FROM k_staff));
        SELECT (SELECT count(*) FROM k_store), (SELECT count(*) FROM k_staff), (SELECT count(*) FROM k_customer),
               (SELECT count(*) FROM k_inventory), (SELECT count(*) FROM k_rental),
               (SELECT count(*) FROM payment
                 WHERE (customer_id IS NULL OR customer_id IN (SELECT customer_id FROM k_customer))
                   AND (staff_id IS NULL OR staff_id IN (SELECT staff_id FROM k_staff))
                   AND (rental_id IS NULL OR rental_id IN (SELECT rental_id FROM k_rental))),
               (SELECT count(*) FROM film)";
    let expected = scalar(&p.src, &p.db, kept);
    let stores: u32 = expected.split('|').next().unwrap().parse().unwrap();
    let rentals: u32 = expected.split('|').nth(4).unwrap().parse().unwrap();
    // Store 1's manager works at another store: the walk went round.
    assert!(stores > 1 && rentals > 0, "{expected}");
    let all = "SELECT (SELECT count(*) FROM store), (SELECT count(*) FROM staff), (SELECT count(*) FROM customer),
                      (SELECT count(*) FROM inventory), (SELECT count(*) FROM rental), (SELECT count(*) FROM payment),
                      (SELECT count(*) FROM film)";
    assert_eq!(scalar(&p.dst, &p.db, all), expected);
    assert_ne!(
        scalar(&p.src, &p.db, all),
        expected,
        "a subset, not the whole"
    );
    pgcopy(&["verify", "-s", &s, "-d", &d, "--exact", "--where", store]).expect_code(0);
}

/// `--no-follow-fks` as a superuser (replica mode keeps foreign keys in
/// place): a key to a filtered table is saved, dropped and restored, so it
/// comes back NOT VALID over the rows that break it (exit 3), never VALID.
#[test]
fn no_follow_leaves_no_broken_key_valid() {
    let p = Pair::new("subsetnofollow");
    p.load(&["fks-schema.sql"], &["fks-data.sql"]);
    let run = p.copy(&["--where", "crm.account: code < 5", "--no-follow-fks"]);
    run.expect_code(3);
    assert!(run.stderr.contains("Invoice → Account"), "{}", run.stderr);
    let broken = "SELECT count(*) FROM invoice i WHERE i.code IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM crm.account a WHERE (a.region, a.code) = (i.region, i.code))";
    assert_ne!(scalar(&p.dst, &p.db, broken), "0", "not vacuous");
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT convalidated FROM pg_constraint WHERE conname = 'Invoice → Account'"
        ),
        "f"
    );
    // Keys to tables the filter leaves whole stay in place, valid.
    assert_eq!(
        scalar(
            &p.dst,
            &p.db,
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
        ),
        "2",
        "this key and item's NOT VALID one"
    );
}
