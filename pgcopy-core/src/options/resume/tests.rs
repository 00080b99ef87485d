use super::*;
use crate::options::LargeObjects;
use crate::subset::RowFilter;
use crate::transform::ColumnTransform;
use crate::trust::TrustedOwners;

/// A job started with `pgcopy copy --include-tables 'public.*' --where ...
/// --transform ... --trust-owner app`, with indexes of tables over 1 MB
/// deferred and tables over 256 MB split.
fn stored() -> JobOptions {
    JobOptions {
        include_tables: Some("public.*".into()),
        split_larger_than: 256 << 20,
        defer_indexes: true,
        defer_indexes_min_bytes: 1 << 20,
        row_filters: vec![RowFilter::parse("public.customer: id < 50").unwrap()],
        follow_fks: true,
        transforms: vec![ColumnTransform::parse("public.customer.email: md5(email)")
            .unwrap()
            .stored()],
        trust_owner: TrustedOwners::new(["app".to_string()]),
        ..JobOptions::default()
    }
}

/// The same command line given again, without the flags a resume may leave
/// out.
fn given() -> CopyOptions {
    CopyOptions {
        include_tables: None,
        exclude_tables: None,
        allow_empty_match: false,
        split_larger_than: 256 << 20,
        analyze: true,
        fire_triggers: false,
        large_objects: LargeObjects::WithWholeDatabase,
        defer_indexes: None,
        defer_indexes_min_bytes: 1 << 20,
        row_filters: vec![RowFilter::parse("public.customer: id < 50").unwrap()],
        follow_fks: true,
        transforms: vec![ColumnTransform::parse("public.customer.email: md5(email)").unwrap()],
        trust: TrustedOwners::new(["app".to_string()]),
    }
}

fn usage(r: Result<(), Mismatch>) -> String {
    match r {
        Err(Mismatch::Usage(s)) => s,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn the_same_flags_or_none_of_the_selection_resume() {
    compare(7, &stored(), &given(), GivenSizes::default()).unwrap();
    let mut g = given();
    g.include_tables = Some("public.*".into());
    let sizes = GivenSizes {
        split_larger_than: Some(256 << 20),
        defer_indexes_above: Some(1 << 20),
    };
    compare(7, &stored(), &g, sizes).unwrap();
}

#[test]
fn a_selection_or_load_flag_that_says_otherwise_is_refused_naming_both() {
    let mut g = given();
    g.include_tables = Some("sales.*".into());
    assert_eq!(
        usage(compare(7, &stored(), &g, GivenSizes::default())),
        "--include-tables sales.* contradicts job 7, which was started with --include-tables public.*: \
         resume it without --include-tables, or discard it (`pgcopy jobs discard 7`) and start a new copy"
    );
    let mut g = given();
    g.exclude_tables = Some("audit".into());
    let said = usage(compare(7, &stored(), &g, GivenSizes::default()));
    assert!(
        said.starts_with(
            "--exclude-tables audit contradicts job 7, which was started with no --exclude-tables:"
        ),
        "{said}"
    );
    let sizes = GivenSizes {
        split_larger_than: Some(64 << 20),
        defer_indexes_above: None,
    };
    let said = usage(compare(7, &stored(), &given(), sizes));
    assert!(
        said.starts_with("--split-larger-than 64")
            && said.contains("started with --split-larger-than 256"),
        "{said}"
    );
    let mut g = given();
    g.defer_indexes = Some(true);
    let said = usage(compare(7, &stored(), &g, GivenSizes::default()));
    assert!(
        said.starts_with("--defer-indexes contradicts job 7, which was started with the indexes of tables above 1"),
        "{said}"
    );
    let mut kept = stored();
    kept.defer_indexes = false;
    let mut g = given();
    g.defer_indexes = Some(false);
    compare(7, &kept, &g, GivenSizes::default()).unwrap();
    g.defer_indexes = Some(true);
    let said = usage(compare(7, &kept, &g, GivenSizes::default()));
    assert!(
        said.contains("which was started with its indexes kept in place"),
        "{said}"
    );
}

#[test]
fn other_rows_or_other_trust_is_the_preflights_refusal() {
    let mut g = given();
    g.row_filters = vec![RowFilter::parse("public.customer: id < 60").unwrap()];
    assert!(matches!(
        compare(7, &stored(), &g, GivenSizes::default()),
        Err(Mismatch::Problem(p)) if matches!(*p, Problem::RowFiltersDiffer { job_id: 7, .. })
    ));
    let mut g = given();
    g.transforms = vec![ColumnTransform::parse("public.customer.email: upper(email)").unwrap()];
    assert!(matches!(
        compare(7, &stored(), &g, GivenSizes::default()),
        Err(Mismatch::Problem(p)) if matches!(*p, Problem::RowFiltersDiffer { .. })
    ));
    let mut g = given();
    g.follow_fks = false;
    assert!(matches!(
        compare(7, &stored(), &g, GivenSizes::default()),
        Err(Mismatch::Problem(p)) if matches!(*p, Problem::RowFiltersDiffer { .. })
    ));
    let mut g = given();
    g.trust = TrustedOwners::default();
    match compare(7, &stored(), &g, GivenSizes::default()) {
        Err(Mismatch::Problem(p)) => match *p {
            Problem::TrustDiffers { job_id: 7, stored } => assert_eq!(stored, "--trust-owner app"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_resume_follows_the_jobs_options_where_a_flag_may_only_ask_less() {
    let mut now = given();
    now.analyze = false;
    let mut job = stored();
    job.fire_triggers = true;
    job.split_larger_than = 1 << 20;
    let followed = resume(7, &job, &now, GivenSizes::default()).unwrap();
    assert_eq!(followed.include_tables.as_deref(), Some("public.*"));
    assert_eq!(followed.split_larger_than, 1 << 20);
    assert!(!followed.analyze, "--no-analyze given now is followed");
    assert!(
        followed.fire_triggers,
        "the job fired triggers: so does its resume"
    );
    assert_eq!(followed.defer_indexes, Some(true));
    assert_eq!(followed.defer_indexes_min_bytes, 1 << 20);
    assert!(
        followed.allow_empty_match,
        "the stored plan is held against today's selection instead"
    );
    assert_eq!(
        followed.transforms, now.transforms,
        "the expressions run are this command line's, never the stored digests"
    );
    assert_eq!(followed.trust, job.trust_owner);
    let mut other = given();
    other.include_tables = Some("sales.*".into());
    assert!(matches!(
        resume(7, &job, &other, GivenSizes::default()),
        Err(Mismatch::Usage(_))
    ));
}
