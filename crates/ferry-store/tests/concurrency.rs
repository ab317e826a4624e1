mod common;

use common::job;
use ferry_job::JobState;
use ferry_store::{JobPatch, SqliteStore, Store, StoreError};
use std::sync::Arc;

/// Many tasks race to start the same job: exactly one may win, or it would run twice.
async fn race(stores: Vec<Arc<dyn Store>>) {
    let j = job(1);
    stores[0].submit(&j).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = stores[i % stores.len()].clone();
        let id = j.id.clone();
        tasks.push(tokio::spawn(async move {
            store
                .transition(
                    &id,
                    JobState::Starting,
                    &JobPatch {
                        backend_handle: Some(format!("worker-{i}")),
                        ..JobPatch::default()
                    },
                    &format!("worker {i}"),
                )
                .await
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(record) => winners.push(record),
            Err(StoreError::IllegalTransition { from, .. }) => assert_eq!(from, JobState::Starting),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let events = stores[0].events(&j.id).await.unwrap();
    assert_eq!(events.len(), 2);
    let now = stores[0].get(&j.id).await.unwrap().unwrap();
    assert_eq!(now.backend_handle, winners[0].backend_handle);
    let handle = now.backend_handle.unwrap();
    let winner = handle.strip_prefix("worker-").unwrap();
    assert_eq!(
        events[1].detail,
        format!("worker {winner}"),
        "the event is the winner's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_many_concurrent_starts_wins_in_one_process() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().await.unwrap());
    race(vec![store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_of_many_concurrent_starts_wins_across_connections_to_one_file() {
    // Separate stores on one file stand in for separate processes: they contend for
    // SQLite's lock rather than queueing on one writer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferry.db");
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
    }
    race(stores).await;
}
