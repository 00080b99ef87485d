use super::*;

#[test]
fn the_plan_takes_the_options_and_the_setting_each_from_one_place() {
    let options = CopyOptions {
        include_tables: Some("public.*,\"Sales\".orders".into()),
        exclude_tables: Some("public.audit".into()),
        split_larger_than: 1 << 20,
        follow_fks: false,
        row_filters: vec![RowFilter::parse("public.customer: id < 50").unwrap()],
        trust: TrustedOwners::new(["app".to_string()]),
        ..CopyOptions::default()
    };
    let setting = PlanSetting {
        state_schema: "pgcopy_state",
        fk_strategy: FkStrategy::Replica,
        block_size: 16384,
        defer_indexes: true,
        dest_version_num: 170004,
    };
    let plan = options.plan_options(&setting).unwrap();
    assert_eq!(plan.include.len(), 2);
    assert_eq!(plan.exclude.len(), 1);
    assert_eq!(plan.skip_schemas, ["pgcopy_state"]);
    assert_eq!(plan.split_larger_than, 1 << 20);
    assert_eq!(plan.fk_strategy, FkStrategy::Replica);
    assert_eq!(plan.block_size, 16384);
    assert!(plan.defer_indexes && !plan.follow_fks && !plan.allow_empty_match);
    assert_eq!(plan.row_filters, options.row_filters);
    assert_eq!(plan.trust, options.trust);
    assert_eq!(plan.dest_version_num, 170004);
    assert!(plan.only.is_none());

    let unreadable = CopyOptions {
        include_tables: Some("\"unclosed".into()),
        ..CopyOptions::default()
    };
    assert!(unreadable.plan_options(&PlanSetting::default()).is_err());
}

#[test]
fn a_job_stores_its_options_with_transforms_as_digests() {
    let options = CopyOptions {
        include_tables: Some("t".into()),
        defer_indexes: None,
        transforms: vec![ColumnTransform::parse("public.t.secret: 'masked'").unwrap()],
        ..CopyOptions::default()
    };
    let stored = options.stored(4, 1000, true);
    assert_eq!((stored.parallel, stored.batch_size), (4, 1000));
    assert!(stored.defer_indexes, "as decided, not as asked");
    assert_eq!(stored.include_tables.as_deref(), Some("t"));
    assert_eq!(stored.defer_indexes_min_bytes, DEFER_INDEXES_MIN_BYTES);
    assert!(!serde_json::to_string(&stored).unwrap().contains("masked"));
    assert!(options.transforms[0].same_as_stored(&stored.transforms[0]));
}

#[test]
fn large_objects_go_with_the_whole_database_unless_asked() {
    let whole = CopyOptions::default();
    assert!(whole.copies_large_objects());
    let some = CopyOptions {
        include_tables: Some("t".into()),
        ..CopyOptions::default()
    };
    assert!(!some.copies_large_objects());
    for (asked, copied) in [(LargeObjects::Always, true), (LargeObjects::Never, false)] {
        for include_tables in [None, Some("t".to_string())] {
            let o = CopyOptions {
                include_tables,
                large_objects: asked,
                ..CopyOptions::default()
            };
            assert_eq!(o.copies_large_objects(), copied);
        }
    }
}

#[test]
fn sizes_read_as_people_write_them() {
    assert_eq!(human_bytes(1023), "1023 B");
    assert_eq!(human_bytes(1536), "1.5 kB");
    assert_eq!(human_bytes(3 << 30), "3.0 GB");
}
