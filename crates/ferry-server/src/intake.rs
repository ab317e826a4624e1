//! Submissions, accepted durably in groups and decoupled from launching.
//!
//! A submission is answered once its job is durable in the store, not once a scheduler
//! pass has launched it: a user pushing a 1,000-task sweep waits for commits, not for
//! launches. Submissions that arrive together share one transaction (group commit): the
//! writer takes every submission waiting when it is free, up to [`MOST_AT_ONCE`], commits
//! them together, answers each, and wakes the scheduler for one pass over all of them.

use ferry_store::{NewJob, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

/// The most submissions one commit carries.
pub const MOST_AT_ONCE: usize = 512;

type Waiting = (NewJob, oneshot::Sender<Result<(), StoreError>>);

#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Waiting>,
}

impl Intake {
    /// Starts the writer. `kick` is notified after every commit: the scheduler's pass.
    pub fn start(store: Arc<dyn Store>, kick: Arc<Notify>) -> Intake {
        let (tx, mut rx) = mpsc::channel::<Waiting>(MOST_AT_ONCE * 4);
        tokio::spawn(async move {
            let mut batch: Vec<Waiting> = Vec::with_capacity(MOST_AT_ONCE);
            while rx.recv_many(&mut batch, MOST_AT_ONCE).await > 0 {
                let (jobs, answers): (Vec<NewJob>, Vec<_>) = batch.drain(..).unzip();
                let results = store.submit_many(&jobs).await;
                for (answer, result) in answers.into_iter().zip(results) {
                    // The submitter may have gone (its connection closed): the job stays.
                    let _ = answer.send(result);
                }
                kick.notify_one();
            }
        });
        Intake { tx }
    }

    /// Durably queues `job`; returns once it is committed.
    pub async fn submit(&self, job: NewJob) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        let gone = || StoreError::Unavailable {
            what: "the server is shutting down: submit again once it is back".into(),
        };
        self.tx.send((job, answer)).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}
