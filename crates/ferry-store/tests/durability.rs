mod common;

use common::{charge, id, job, running};
use ferry_job::{JobState, Micros};
use ferry_store::{
    JobFilter, JobPatch, LedgerFilter, SCHEMA_VERSION, SqliteStore, Store, StoreError,
};
use sqlx::Connection;

#[tokio::test]
async fn everything_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/ferry.db");
    let (events_before, jobs_before) = {
        let store = SqliteStore::open(&path).await.unwrap();
        let a = running(&store, 1).await;
        store.submit(&job(2)).await.unwrap();
        store
            .finish(
                &a,
                JobState::Failed,
                &JobPatch {
                    exit_code: Some(3),
                    reason: Some("exit status 3".into()),
                    ..JobPatch::default()
                },
                "exited 3",
                Some(&charge(&a, 1_234_567)),
            )
            .await
            .unwrap();
        running(&store, 3).await;
        let events = store.events(&a).await.unwrap();
        let jobs = store.list(&JobFilter::default()).await.unwrap();
        // Dropped without close(), as a crash would leave it.
        (events, jobs)
    };
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.list(&JobFilter::default()).await.unwrap(),
        jobs_before
    );
    assert_eq!(store.events(&id(1)).await.unwrap(), events_before);
    let failed = store.get(&id(1)).await.unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.exit_code),
        (JobState::Failed, Some(3))
    );
    assert_eq!(
        store.total(&LedgerFilter::default()).await.unwrap(),
        Micros(1_234_567)
    );
    assert_eq!(
        store.held_devices("local").await.unwrap(),
        [(6, id(3)), (7, id(3))]
    );
    assert_eq!(store.list(&JobFilter::unfinished()).await.unwrap().len(), 2);
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert!(store.check().await.unwrap().is_empty());
    store.close().await;
}

#[tokio::test]
async fn the_file_is_in_wal_mode_and_its_log_and_ledger_refuse_edits() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_in_dir(dir.path()).await.unwrap();
    store.submit(&job(1)).await.unwrap();
    let path = store.path().unwrap().to_path_buf();
    assert_eq!(path, dir.path().join("ferry.db"));
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // The log and the ledger refuse edits even from outside the store.
    for edit in [
        "UPDATE job_events SET detail = 'x'",
        "DELETE FROM job_events",
    ] {
        let err = sqlx::query(edit).execute(&mut conn).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let float = sqlx::query(
        "INSERT INTO ledger (job_id, at, kind, amount_micros) VALUES (?1, 0, 'x', 1.5)",
    )
    .bind(id(1).as_str())
    .execute(&mut conn)
    .await;
    assert!(float.is_err(), "a float must not land in the ledger");
}

#[tokio::test]
async fn reopening_does_not_migrate_twice_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    SqliteStore::open(&path).await.unwrap().close().await;

    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, SCHEMA_VERSION);
    sqlx::query("INSERT INTO schema_version VALUES (?1, 0, 'from the future')")
        .bind(SCHEMA_VERSION + 1)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    match &err {
        StoreError::SchemaTooNew { found, known, .. } => {
            assert_eq!((*found, *known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("upgrade ferry") && msg.contains("ferry.db"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_store_that_cannot_be_created_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(&file.join("ferry.db")).await.unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[tokio::test]
async fn a_row_edited_by_hand_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.submit(&job(1)).await.unwrap();
    store.submit(&job(2)).await.unwrap();
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE jobs SET placement = '{}' WHERE id = ?1")
        .bind(id(2).as_str())
        .execute(&mut conn)
        .await
        .unwrap();
    let err = store.list(&JobFilter::default()).await.unwrap_err();
    match &err {
        StoreError::Corrupt { row, field, .. } => {
            assert!(row.contains(id(2).as_str()), "{row}");
            assert_eq!(*field, "placement");
        }
        other => panic!("{other}"),
    }
    assert!(store.get(&id(1)).await.unwrap().is_some());
}
