use super::*;

#[test]
fn the_budget_is_shared_within_bounds() {
    assert_eq!(memory_mb(0), 1024);
    assert_eq!(memory_mb(1), 1024);
    assert_eq!(memory_mb(4), 256);
    assert_eq!(memory_mb(8), 128);
    assert_eq!(memory_mb(64), 128);
    assert_eq!(parallel_workers(0), 0);
    assert_eq!(parallel_workers(3), 3);
    assert_eq!(parallel_workers(15), 4);
    assert_eq!(settings(4, None), "SET maintenance_work_mem = '256MB'");
    assert_eq!(
        settings(2, Some(1)),
        "SET maintenance_work_mem = '512MB'; SET max_parallel_maintenance_workers = 1"
    );
}
