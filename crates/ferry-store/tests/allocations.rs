mod common;

use common::{job, running};
use ferry_job::JobState;
use ferry_store::{EventKind, JobPatch, SqliteStore, Store, StoreError};

#[tokio::test]
async fn a_device_has_one_holder_and_a_refused_grant_grants_nothing() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let a = running(&store, 0).await; // holds local 0 and 1
    let b = job(5);
    store.submit(&b).await.unwrap();

    let err = store
        .allocate(&b.id, "local", &[2, 1, 3])
        .await
        .unwrap_err();
    match &err {
        StoreError::DeviceBusy {
            id,
            backend,
            device,
            holder,
        } => {
            assert_eq!(
                (id, backend.as_str(), *device, holder),
                (&b.id, "local", 1, &a)
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(a.as_str()), "{err}");
    let held = store.held_devices("local").await.unwrap();
    assert_eq!(
        held,
        [(0, a.clone()), (1, a.clone())],
        "device 2 was not granted"
    );

    // The same device numbers on another backend are other devices.
    store.allocate(&b.id, "ssh:rack1", &[0, 1]).await.unwrap();
    // Asking again for what it holds is a no-op, not a conflict.
    store.allocate(&b.id, "ssh:rack1", &[1, 2]).await.unwrap();
    assert_eq!(store.held_devices("ssh:rack1").await.unwrap().len(), 3);
    let allocated = store
        .events(&b.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::Allocated)
        .count();
    assert_eq!(allocated, 2);

    assert_eq!(store.release(&a).await.unwrap(), 2);
    assert_eq!(store.release(&a).await.unwrap(), 0);
    store.allocate(&b.id, "local", &[0, 1]).await.unwrap();
    assert_eq!(
        store.held_devices("local").await.unwrap(),
        [(0, b.id.clone()), (1, b.id.clone())]
    );

    // Cancelling releases everything the job holds.
    store
        .transition(&b.id, JobState::Cancelled, &JobPatch::default(), "user")
        .await
        .unwrap();
    assert!(store.held_devices("local").await.unwrap().is_empty());
    assert!(store.held_devices("ssh:rack1").await.unwrap().is_empty());
    let late = store.allocate(&b.id, "local", &[0]).await.unwrap_err();
    assert!(
        matches!(late, StoreError::AllocateFinished { .. }),
        "{late}"
    );
}

#[tokio::test]
async fn bad_allocations_are_refused_before_anything_is_written() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let j = job(1);
    store.submit(&j).await.unwrap();
    assert!(store.allocate(&j.id, "local", &[0, 0]).await.is_err());
    assert!(store.allocate(&j.id, "", &[0]).await.is_err());
    let missing = store
        .allocate(&common::id(9), "local", &[0])
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    assert!(store.held_devices("local").await.unwrap().is_empty());
    assert_eq!(store.events(&j.id).await.unwrap().len(), 1);
}
