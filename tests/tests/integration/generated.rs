//! Generated schemas: seeded random tables with awkward names, columns of every
//! family of types (arrays, enums, composites, domains, ranges, a type without
//! binary I/O, `reg*` values, empty tsqueries and vectors), a table with no
//! columns, partitions, FKs in chains, self-references, cycles and NOT VALID
//! ones, expression and partial indexes, generated columns and serials, triggers
//! in every mode; copied as superuser (replica mode) and as a non-superuser
//! owner (drop mode, deferred indexes), then compared whole: rows, sequences,
//! FK definitions and validity, index definitions, trigger modes. `GEN_SEED`
//! replays a schema, `GEN_ROUNDS` makes more.

use crate::common::{copy, full_fingerprint, owner_pair, Pair, Rng};

/// (type, value expression over `g`, the row number from 1).
const TYPES: &[(&str, &str)] = &[
    ("int", "g * 7 % 1000"),
    ("bigint", "g::bigint * 1000003"),
    ("text", "'v' || g || E'\\t\\n\\\\' || repeat('x', g % 5)"),
    ("numeric(12,3)", "g / 7.0"),
    ("float8", "g / 3.0"),
    (
        "timestamptz",
        "TIMESTAMPTZ '2020-01-01 00:00+02' + g * interval '37 minutes'",
    ),
    ("date", "DATE '2000-02-28' + g"),
    ("boolean", "g % 3 = 0"),
    (
        "jsonb",
        "jsonb_build_object('k', g, 'a', jsonb_build_array(g, 'x'))",
    ),
    ("bytea", "decode(md5(g::text), 'hex')"),
    ("uuid", "md5(g::text)::uuid"),
    ("int[]", "ARRAY[g, g + 1, NULL]"),
    ("text[]", "ARRAY['a' || g, NULL, 'q\"uote']"),
    (
        "gen_mood",
        "(ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::gen_mood",
    ),
    (
        "gen_mood[]",
        "ARRAY[(ARRAY['sad', 'ok'])[g % 2 + 1]]::gen_mood[]",
    ),
    ("gen_pair", "ROW(g, 'p' || g)::gen_pair"),
    ("gen_pair[]", "ARRAY[ROW(g, 'x,y')::gen_pair]"),
    ("gen_posint", "g + 1"),
    ("aclitem", "'postgres=r/postgres'::aclitem"),
    (
        "tstzrange",
        "tstzrange(TIMESTAMPTZ '2021-01-01' - g * interval '1 day', TIMESTAMPTZ '2021-01-01')",
    ),
    ("inet", "('10.0.0.' || (g % 250))::inet"),
    ("interval", "make_interval(secs => g / 3.0)"),
    ("\"char\"", "chr(65 + g % 26)::\"char\""),
    ("money", "(g * 1.25)::money"),
    ("bit(4)", "(g % 16)::bit(4)"),
    ("point", "point(g, -g)"),
    ("xml", "xmlelement(name r, g)"),
    ("int4multirange", "int4multirange(int4range(g, g + 5))"),
    // By name (the destination's OIDs differ), and types whose receive
    // functions refuse empty values.
    (
        "regclass",
        "(ARRAY['pg_class', '\"Gen Schema\".gen_log', 'pg_type'])[g % 3 + 1]::regclass",
    ),
    (
        "regtype[]",
        "ARRAY['integer', 'gen_mood', 'gen_pair']::regtype[]",
    ),
    (
        "tsquery",
        "CASE WHEN g % 4 = 0 THEN ''::tsquery ELSE ('w' || g)::tsquery END",
    ),
    (
        "oidvector",
        "CASE WHEN g % 3 = 0 THEN ''::oidvector ELSE '1 2'::oidvector END",
    ),
];

const NAME_SHAPES: &[&str] = &[
    "t{}",
    "\"Mixed Case {}\"",
    "\"dot.{}\"",
    "\"q\"\"uote{}\"",
    "\"ünï {}\"",
    "\"select{}\"",
];

const FK_OPTIONS: &[&str] = &[
    "",
    " ON DELETE CASCADE",
    " DEFERRABLE INITIALLY DEFERRED",
    " ON UPDATE SET NULL",
    " MATCH FULL",
    " DEFERRABLE",
];

const TRIGGER_MODES: &[&str] = &["ENABLE", "ENABLE ALWAYS", "ENABLE REPLICA", "DISABLE"];

struct Table {
    /// Schema-qualified, quoted.
    name: String,
    rows: u64,
    partitioned: bool,
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.range(0, items.len() as u64) as usize]
}

/// A schema (run on both sides) and data (run on the source).
/// A schema, its data, and its tables' names (as SQL).
fn generate(rng: &mut Rng) -> (String, String, Vec<String>) {
    let mut schema = String::from(
        "CREATE SCHEMA \"Gen Schema\";
         CREATE TYPE gen_mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TYPE gen_pair AS (a int, b text);
         CREATE DOMAIN gen_posint AS int CHECK (VALUE > 0);
         CREATE TABLE \"Gen Schema\".gen_log (tbl text, op text);
         CREATE FUNCTION \"Gen Schema\".gen_log_fn() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO \"Gen Schema\".gen_log VALUES (TG_TABLE_NAME, TG_OP); RETURN NULL; END $$;\n",
    );
    let mut data = String::from("SET session_replication_role = replica;\n");
    let mut tables: Vec<Table> = Vec::new();
    let n = rng.range(6, 12);
    for i in 0..n {
        let shape = pick(rng, NAME_SHAPES);
        let local = shape.replace("{}", &i.to_string());
        let in_schema = rng.range(0, 3) == 0;
        let name = if in_schema {
            format!("\"Gen Schema\".{local}")
        } else {
            format!("public.{local}")
        };
        let rows = [0, 1, 40, 300, 1200][rng.range(0, 5) as usize];
        let partitioned = rng.range(0, 4) == 0;
        let mut cols = vec!["id int NOT NULL".to_string()];
        // (column, value expression) of the columns the data fills.
        let mut filled = vec![("id".to_string(), "g".to_string())];
        for j in 0..rng.range(2, 7) {
            let (ty, expr) = pick(rng, TYPES);
            let col = if j % 2 == 0 {
                format!("c{j}")
            } else {
                format!("\"Col {j}\"")
            };
            cols.push(format!("{col} {ty}"));
            filled.push((
                col,
                format!("CASE WHEN g % 11 = 0 THEN NULL ELSE {expr} END"),
            ));
        }
        // References to earlier tables, sometimes to itself.
        if let Some(target) = (i > 0 && rng.range(0, 10) < 6)
            .then(|| &tables[rng.range(0, tables.len() as u64) as usize])
        {
            let opt = pick(rng, FK_OPTIONS);
            cols.push(format!("ref int REFERENCES {} (id){opt}", target.name));
            let value = if target.rows == 0 {
                "NULL".into()
            } else {
                format!(
                    "CASE WHEN g % 5 = 0 THEN NULL ELSE (g % {}) + 1 END",
                    target.rows
                )
            };
            filled.push(("ref".into(), value));
        }
        let self_ref = !partitioned && rng.range(0, 5) == 0;
        if self_ref {
            cols.push(format!("parent int REFERENCES {name} (id) DEFERRABLE"));
            filled.push(("parent".into(), "nullif(g - 1, 0)".into()));
        }
        if rng.range(0, 3) == 0 {
            cols.push("doubled int GENERATED ALWAYS AS (id * 2) STORED".into());
        }
        if !partitioned && rng.range(0, 3) == 0 {
            cols.push("serial_no bigserial".into());
        }
        // Keys in every shape a load may take them away in: named,
        // deferrable, commented, replica identity, CLUSTER ON, a second
        // unique constraint on the same column (a foreign key to the table
        // uses the older of the two), a parent of an INHERITS child.
        let deferrable = !partitioned && rng.range(0, 4) == 0;
        cols.push(format!(
            "CONSTRAINT \"gen pk {i}\" PRIMARY KEY (id){}",
            if deferrable {
                " DEFERRABLE INITIALLY DEFERRED"
            } else {
                ""
            }
        ));
        // A foreign key cannot use a deferrable key: such a table always
        // has the unique constraint too.
        if deferrable || (!partitioned && rng.range(0, 3) == 0) {
            cols.push(format!("CONSTRAINT \"gen u{i}\" UNIQUE (id) INCLUDE (c0)"));
        }
        schema.push_str(&format!(
            "CREATE TABLE {name} ({}){};\n",
            cols.join(", "),
            if partitioned {
                " PARTITION BY RANGE (id)"
            } else {
                ""
            }
        ));
        let base = format!("gen_part_{i}");
        if partitioned {
            let schema_of = if in_schema {
                "\"Gen Schema\""
            } else {
                "public"
            };
            schema.push_str(&format!(
                "CREATE TABLE {schema_of}.{base}_low PARTITION OF {name} FOR VALUES FROM (MINVALUE) TO (100);
                 CREATE TABLE {schema_of}.{base}_rest PARTITION OF {name} DEFAULT;\n"
            ));
        }
        if rng.range(0, 3) == 0 {
            schema.push_str(&format!(
                "COMMENT ON CONSTRAINT \"gen pk {i}\" ON {name} IS 'key {i}';\n"
            ));
        }
        if !partitioned {
            match rng.range(0, 5) {
                0 if !deferrable => schema.push_str(&format!(
                    "ALTER TABLE {name} REPLICA IDENTITY USING INDEX \"gen pk {i}\";\n"
                )),
                1 => schema.push_str(&format!("ALTER TABLE {name} CLUSTER ON \"gen pk {i}\";\n")),
                2 => {
                    let schema_of = if in_schema {
                        "\"Gen Schema\""
                    } else {
                        "public"
                    };
                    let kid = format!("{schema_of}.gen_kid_{i}");
                    schema.push_str(&format!("CREATE TABLE {kid} () INHERITS ({name});\n"));
                    if rows > 0 {
                        let (names, values): (Vec<&str>, Vec<&str>) =
                            filled.iter().map(|(c, v)| (c.as_str(), v.as_str())).unzip();
                        data.push_str(&format!(
                            "INSERT INTO {kid} ({}) SELECT {} FROM generate_series(1, 3) g;\n",
                            names.join(", "),
                            values.join(", ")
                        ));
                    }
                }
                _ => {}
            }
        }
        // A trigger in any mode: whatever would fire during the load (by the
        // session's replica mode) is disabled and put back as it was.
        if rng.range(0, 3) == 0 {
            let mode = pick(rng, TRIGGER_MODES);
            schema.push_str(&format!(
                "CREATE TRIGGER \"gen trg {i}\" AFTER INSERT ON {name} FOR EACH ROW \
                 EXECUTE FUNCTION \"Gen Schema\".gen_log_fn();
                 ALTER TABLE {name} {mode} TRIGGER \"gen trg {i}\";\n"
            ));
        }
        match rng.range(0, 4) {
            0 => schema.push_str(&format!("CREATE INDEX ON {name} ((id % 7));\n")),
            1 => schema.push_str(&format!("CREATE INDEX ON {name} (id) WHERE id > 10;\n")),
            2 => schema.push_str(&format!("CREATE UNIQUE INDEX ON {name} (id DESC);\n")),
            _ => {}
        }
        if rows > 0 {
            let (names, values): (Vec<String>, Vec<String>) = filled.into_iter().unzip();
            data.push_str(&format!(
                "INSERT INTO {name} ({}) SELECT {} FROM generate_series(1, {rows}) g;\n",
                names.join(", "),
                values.join(", ")
            ));
        }
        tables.push(Table {
            name,
            rows,
            partitioned,
        });
    }
    // A cycle: the first plain table references the last one.
    let plain: Vec<&Table> = tables.iter().filter(|t| !t.partitioned).collect();
    if plain.len() >= 2 && rng.range(0, 2) == 0 {
        let (first, last) = (plain[0], plain[plain.len() - 1]);
        schema.push_str(&format!(
            "ALTER TABLE {} ADD COLUMN back int REFERENCES {} (id) DEFERRABLE INITIALLY DEFERRED;\n",
            first.name, last.name
        ));
        if last.rows > 0 {
            data.push_str(&format!("UPDATE {} SET back = 1;\n", first.name));
        }
    }
    // A NOT VALID FK the data breaks: it must stay NOT VALID, never be validated.
    if plain.len() >= 2 {
        let (a, b) = (plain[plain.len() - 1], plain[0]);
        schema.push_str(&format!(
            "ALTER TABLE {} ADD COLUMN loose int;
             ALTER TABLE {} ADD CONSTRAINT loose_fk FOREIGN KEY (loose) REFERENCES {} (id) NOT VALID;\n",
            a.name, a.name, b.name
        ));
        if a.rows > 0 {
            data.push_str(&format!("UPDATE {} SET loose = -id;\n", a.name));
        }
    }
    // A table with no columns at all: its rows are only a count.
    schema.push_str("CREATE TABLE public.\"gen no columns\" ();\n");
    data.push_str(&format!(
        "INSERT INTO public.\"gen no columns\" SELECT FROM generate_series(1, {});\n",
        rng.range(0, 30)
    ));
    data.push_str("RESET session_replication_role;\nANALYZE;\n");
    (schema, data, tables.into_iter().map(|t| t.name).collect())
}

/// Rows per table: (`regclass` text, count).
type Counts = Vec<(String, u64)>;

/// A node's rows: (leaf table, id, one reference per key from the node).
type NodeRows = Vec<(String, i64, Vec<Option<i64>>)>;

/// The rows per table (`regclass` text, count) a `--where '{filtered}: id %
/// 3 <> 0'` takes by the rule in docs/subsets.md, computed here from the
/// source's rows and keys as a plain least fixpoint (no SQL walks): the
/// filtered rows; a row of a limited table once each of its references to a
/// restricted table is NULL, itself, or taken; every row a taken row of a
/// restricted table references there. Returned with the destination's
/// counts.
fn rows_the_rule_takes(p: &Pair, filtered: &str) -> (Counts, Counts) {
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    let lines = |sql: &str| -> Vec<Vec<String>> {
        p.src
            .psql(&p.db, sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    let user = "n.nspname IN ('public', 'Gen Schema')";
    // Each leaf table and its node (the top of its partition tree).
    let leaves: Vec<(String, String)> = lines(&format!(
        "SELECT c.oid::regclass::text, coalesce(pg_partition_root(c.oid), c.oid)::regclass::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r' AND {user} ORDER BY 1"
    ))
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect();
    // Foreign keys between nodes: (child, column, parent).
    let edges: Vec<(String, String, String)> = lines(&format!(
        "SELECT coalesce(pg_partition_root(k.conrelid), k.conrelid)::regclass::text,
                (SELECT attname FROM pg_attribute WHERE attrelid = k.conrelid AND attnum = k.conkey[1]),
                coalesce(pg_partition_root(k.confrelid), k.confrelid)::regclass::text
           FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
          WHERE k.contype = 'f' AND k.conparentid = 0 AND {user}"
    ))
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
    .collect();
    let filtered = p.src.psql(
        &p.db,
        &format!("SELECT '{}'::regclass::text", filtered.replace('\'', "''")),
    );
    let filtered = filtered.trim().to_string();
    let mut restricted: BTreeSet<String> = BTreeSet::from([filtered.clone()]);
    loop {
        let more: Vec<String> = edges
            .iter()
            .filter(|(c, _, par)| restricted.contains(par) && !restricted.contains(c))
            .map(|(c, _, _)| c.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        restricted.extend(more);
    }
    // Each node's rows: (leaf, id, one reference per edge from it).
    let nodes: BTreeSet<&String> = leaves.iter().map(|(_, n)| n).collect();
    let mut rows: BTreeMap<String, NodeRows> = BTreeMap::new();
    for node in nodes.iter().filter(|n| restricted.contains(**n)) {
        let own: Vec<&(String, String, String)> =
            edges.iter().filter(|(c, _, _)| c == *node).collect();
        let refs: String = own
            .iter()
            .map(|(_, col, _)| format!(", {}", pgcopy_core::quote::quote_ident(col)))
            .collect();
        let only = if leaves.iter().any(|(l, n)| n == *node && l != *node) {
            ""
        } else {
            "ONLY"
        };
        let got = lines(&format!(
            "SELECT tableoid::regclass::text, id{refs} FROM {only} {node}"
        ));
        rows.insert(
            (*node).clone(),
            got.into_iter()
                .map(|r| {
                    let refs = r[2..].iter().map(|v| v.parse().ok()).collect();
                    (r[0].clone(), r[1].parse().unwrap(), refs)
                })
                .collect(),
        );
    }
    let mut kept: HashSet<(String, i64)> = rows[&filtered]
        .iter()
        .filter(|(_, id, _)| id % 3 != 0)
        .map(|(_, id, _)| (filtered.clone(), *id))
        .collect();
    let exists = |node: &String, id: i64| rows[node].iter().any(|(_, i, _)| *i == id);
    loop {
        let mut changed = false;
        for (node, node_rows) in &rows {
            let own: Vec<&(String, String, String)> = edges
                .iter()
                .filter(|(c, _, par)| c == node && restricted.contains(par))
                .collect();
            let all: Vec<&(String, String, String)> =
                edges.iter().filter(|(c, _, _)| c == node).collect();
            let value = |r: &Vec<Option<i64>>, e: &(String, String, String)| {
                r[all.iter().position(|x| *x == e).unwrap()]
            };
            for (_, id, refs) in node_rows {
                let key = (node.clone(), *id);
                if !kept.contains(&key) && *node != filtered {
                    let follows = own.iter().all(|e| match value(refs, e) {
                        None => true,
                        Some(v) => (&e.2 == node && v == *id) || kept.contains(&(e.2.clone(), v)),
                    });
                    if follows {
                        kept.insert(key.clone());
                        changed = true;
                    }
                }
                if kept.contains(&key) {
                    for e in &own {
                        if let Some(v) = value(refs, e) {
                            if exists(&e.2, v) && kept.insert((e.2.clone(), v)) {
                                changed = true;
                            }
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut expected = Vec::new();
    let mut got = Vec::new();
    for (leaf, node) in &leaves {
        let count = |c: &pgcopy_tests::Cluster| -> u64 {
            c.psql(&p.db, &format!("SELECT count(*) FROM ONLY {leaf}"))
                .trim()
                .parse()
                .unwrap()
        };
        expected.push((
            leaf.clone(),
            match rows.get(node) {
                Some(r) => r
                    .iter()
                    .filter(|(l, id, _)| l == leaf && kept.contains(&(node.clone(), *id)))
                    .count() as u64,
                None => count(&p.src),
            },
        ));
        got.push((leaf.clone(), count(&p.dst)));
    }
    (expected, got)
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn generated_schemas_copy_identically_as_superuser_and_as_owner() {
    let rounds: u32 = std::env::var("GEN_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let mut rng = Rng::from_env("GEN_SEED");
    let dir = std::env::temp_dir().join(format!("pgcopy-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..rounds {
        let (schema, data, names) = generate(&mut rng);
        let schema_file = write(&dir, &format!("schema{round}.sql"), &schema);
        let data_file = write(&dir, &format!("data{round}.sql"), &data);

        let p = Pair::new(&format!("gen{round}"));
        p.load(&[&schema_file], &[&data_file]);
        // Not vacuous: rows, FKs, a text-format or partitioned table or not.
        let shape = crate::common::scalar(
            &p.src,
            &p.db,
            "SELECT (SELECT sum(n_live_tup) FROM pg_stat_user_tables), \
                    (SELECT count(*) FROM pg_constraint WHERE contype = 'f'), \
                    (SELECT count(*) FROM pg_class WHERE relkind = 'p')",
        );
        eprintln!("round {round}: rows|fks|partitioned = {shape}");
        assert!(
            !shape.starts_with("0|") && !shape.contains("|0|"),
            "{shape}"
        );
        let run = p.copy(&["-p", "3", "--split-larger-than", "16kB"]);
        run.expect_code(0);
        let (src, dst) = (
            full_fingerprint(&p.src, &p.db),
            full_fingerprint(&p.dst, &p.db),
        );
        assert_eq!(
            src.data, dst.data,
            "superuser copy differs; schema:\n{schema}"
        );
        assert_eq!(
            src.fks, dst.fks,
            "superuser copy: FKs differ; schema:\n{schema}"
        );
        assert_eq!(src.indexes, dst.indexes, "superuser copy: indexes differ");
        assert_eq!(
            src.triggers, dst.triggers,
            "superuser copy: triggers differ"
        );
        drop(p);

        let (p, d) = owner_pair(&format!("genown{round}"), &[&schema_file], &[&data_file]);
        let (s, _) = p.urls();
        let run = copy(&s, &d, &["-p", "3", "--split-larger-than", "16kB"]);
        run.expect_code(0);
        let (src, dst) = (
            full_fingerprint(&p.src, &p.db),
            full_fingerprint(&p.dst, &p.db),
        );
        assert_eq!(src.data, dst.data, "owner copy differs; schema:\n{schema}");
        assert_eq!(
            src.fks, dst.fks,
            "owner copy: FKs differ; schema:\n{schema}\n{}",
            run.stderr
        );
        assert_eq!(src.indexes, dst.indexes, "owner copy: indexes differ");
        assert_eq!(src.triggers, dst.triggers, "owner copy: triggers differ");

        // A subset of one table, chunked: the other tables' rows follow, and
        // every foreign key holds and comes back validated (self-references
        // walked), or the filter is refused for a cycle between tables
        // before anything changes.
        let table = &names[rng.range(0, names.len() as u64) as usize];
        let filter = format!("{table}: id % 3 <> 0");
        eprintln!("round {round}: --where {filter:?}");
        let run = copy(&s, &d, &["--split-larger-than", "16kB", "--where", &filter]);
        match run.code {
            0 => {
                p.dst.psql(&p.db, crate::subset::EVERY_KEY_HOLDS);
                let (expected, got) = rows_the_rule_takes(&p, table);
                assert_eq!(
                    got, expected,
                    "--where {filter:?}: rows per table\n{schema}"
                );
            }
            2 => {
                assert!(
                    run.stderr.contains("foreign keys form a cycle")
                        || run.stderr.contains("which --where cannot follow"),
                    "{}",
                    run.stderr
                );
                assert_eq!(
                    full_fingerprint(&p.dst, &p.db),
                    dst,
                    "a refusal changes nothing"
                );
            }
            _ => panic!(
                "--where {filter:?}: exit {}\n{}\n{schema}",
                run.code, run.stderr
            ),
        }
        eprintln!("round {round}: exit {}", run.code);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
