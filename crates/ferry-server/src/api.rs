//! The HTTP API, version 1. JSON in and out; errors are `{"error": "..."}` with a status
//! that says whose fault it was.

use axum::extract::{Path, Query, Request, State as Ext};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferry_backend::{GpuDetection, LogChunk};
use ferry_job::JobId;
use ferry_scheduler::rented::SweepFinding;
use ferry_scheduler::{JobPayload, Scheduler, SchedulerError};
use ferry_store::{
    Attempt, BookedEntry, JobEvent, JobFilter, JobRecord, LedgerFilter, NewJob, Placement,
    StoreError,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Clone)]
pub struct State {
    pub scheduler: Arc<Scheduler>,
    /// Submissions, committed in groups; each commit wakes the scheduler.
    pub intake: crate::intake::Intake,
    pub planner: Option<Planner>,
    pub token: String,
    pub stop: tokio::sync::watch::Sender<bool>,
    pub gpus: GpuDetection,
}

/// What a client sends to run a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitRequest {
    pub name: String,
    pub payload: JobPayload,
    pub placement: Placement,
    pub max_runtime_s: Option<i64>,
}

/// What `ferry launch` asks the server: place this task (placement is decided here, with
/// the server's own config and backends) and run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchRequest {
    /// The task file, absolute (its folder is where relative paths start).
    pub task_file: std::path::PathBuf,
    /// `--max-runtime`, as written.
    pub max_runtime: Option<String>,
    /// `--retry-until-up`, as written.
    pub retry_until_up: Option<String>,
    /// Who launches it (the user `ferry launch` runs as): whose monthly budget it counts
    /// against (`[budget.users]`).
    #[serde(default)]
    pub user: Option<String>,
    /// The project it counts against (`ferry launch --project`, `[budget.projects]`).
    #[serde(default)]
    pub project: Option<String>,
}

/// The plan the server made, and the job it submitted, or why it submitted none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchAnswer {
    /// The ranked plan (`ferry_optimizer::Plan`), as JSON.
    pub plan: serde_json::Value,
    pub job: Option<JobRecord>,
    pub refused: Option<Refusal>,
}

/// Why a plan led to no job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refusal {
    /// No candidate fits the task at all (each says why in the plan).
    pub nothing_fits: bool,
    pub message: String,
}

/// What a planner decided for one task: the plan, and the submission or the refusal.
pub struct Planned {
    pub plan: serde_json::Value,
    pub submit: std::result::Result<SubmitRequest, Refusal>,
}

/// Places a task with the server's config and backends (blocking: it may ask a Slurm
/// cluster for its queue wait). An `Err` is a task the planner could not read.
pub type Planner =
    Arc<dyn Fn(&LaunchRequest) -> std::result::Result<Planned, String> + Send + Sync>;

/// A job with its event log and its attempts (rented work may run more than once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    #[serde(flatten)]
    pub job: JobRecord,
    pub events: Vec<JobEvent>,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<SchedulerError> for ApiError {
    fn from(e: SchedulerError) -> Self {
        let status = match &e {
            SchedulerError::Job(..) => StatusCode::UNPROCESSABLE_ENTITY,
            SchedulerError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            SchedulerError::Store(StoreError::Unavailable { .. }) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            SchedulerError::Store(StoreError::Duplicate { .. } | StoreError::Invalid { .. }) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        SchedulerError::from(e).into()
    }
}

type Result<T> = std::result::Result<T, ApiError>;

pub fn router(state: State) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/jobs", post(submit).get(list))
        .route("/v1/launch", post(launch))
        .route("/v1/jobs/{id}", get(show))
        .route("/v1/jobs/{id}/logs", get(logs))
        .route("/v1/jobs/{id}/cancel", post(cancel))
        .route("/v1/ledger", get(ledger))
        .route("/v1/budgets", get(budgets))
        .route("/v1/sweep", post(sweep))
        .route("/v1/shutdown", post(shutdown))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

async fn auth(Ext(state): Ext<State>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), state.token.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (see server.token in Ferry's data folder)".into(),
        )
        .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn job_id(s: &str) -> Result<JobId> {
    s.parse()
        .map_err(|e: ferry_job::id::BadJobId| ApiError(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn health(Ext(state): Ext<State>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "gpus": state.gpus,
    }))
}

/// Places the task here, then submits it as `/v1/jobs` does.
async fn launch(
    Ext(state): Ext<State>,
    Json(req): Json<LaunchRequest>,
) -> Result<(StatusCode, Json<LaunchAnswer>)> {
    let planner = state.planner.clone().ok_or_else(|| {
        ApiError(
            StatusCode::NOT_IMPLEMENTED,
            "this server places no tasks (it was started without a planner)".into(),
        )
    })?;
    let planned = tokio::task::spawn_blocking(move || planner(&req))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    match planned.submit {
        Ok(request) => {
            let (status, Json(job)) = submit(Ext(state), Json(request)).await?;
            Ok((
                status,
                Json(LaunchAnswer {
                    plan: planned.plan,
                    job: Some(job),
                    refused: None,
                }),
            ))
        }
        Err(refused) => Ok((
            StatusCode::OK,
            Json(LaunchAnswer {
                plan: planned.plan,
                job: None,
                refused: Some(refused),
            }),
        )),
    }
}

async fn submit(
    Ext(state): Ext<State>,
    Json(req): Json<SubmitRequest>,
) -> Result<(StatusCode, Json<JobRecord>)> {
    let s = &state.scheduler;
    let job = NewJob {
        id: s.new_id(),
        name: req.name,
        task: req.payload.to_value(),
        placement: req.placement,
        submitted_at_ms: now_ms(),
        max_runtime_s: req.max_runtime_s,
    };
    let id = job.id.clone();
    // Answered once durable: the launch happens in the scheduler's next pass, which the
    // commit wakes, not while this request waits.
    s.check(&job)?;
    s.check_budget(&job).await?;
    state.intake.submit(job).await?;
    let rec = s
        .store()
        .get(&id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "job vanished".into()))?;
    Ok((StatusCode::CREATED, Json(rec)))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
}

async fn list(Ext(state): Ext<State>, Query(q): Query<ListQuery>) -> Result<Json<Vec<JobRecord>>> {
    let filter = JobFilter {
        limit: q.limit,
        ..JobFilter::default()
    };
    Ok(Json(state.scheduler.store().list(&filter).await?))
}

async fn show(Ext(state): Ext<State>, Path(id): Path<String>) -> Result<Json<JobView>> {
    let id = job_id(&id)?;
    let store = state.scheduler.store();
    let job = store
        .get(&id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    let events = store.events(&id).await?;
    let attempts = store.attempts(&id).await?;
    Ok(Json(JobView {
        job,
        events,
        attempts,
    }))
}

#[derive(Deserialize)]
struct LogQuery {
    #[serde(default)]
    offset: u64,
}

async fn logs(
    Ext(state): Ext<State>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Json<LogChunk>> {
    let id = job_id(&id)?;
    let rec = state
        .scheduler
        .store()
        .get(&id)
        .await?
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    if state.scheduler.is_rented(&rec.placement.backend) {
        let mut chunk = state.scheduler.rented_logs(&id, q.offset).await?;
        chunk.complete = chunk.complete && rec.state.is_terminal();
        return Ok(Json(chunk));
    }
    let backend = state
        .scheduler
        .backend_for(&rec.placement.backend)
        .ok_or_else(|| {
            ApiError(
                StatusCode::CONFLICT,
                format!(
                    "job {id} ran on {}, which this server does not have configured (restart it after changing the config)",
                    rec.placement.backend
                ),
            )
        })?;
    let mut chunk = if rec.state.is_terminal() && rec.started_at_ms.is_none() {
        // Never started (refused, cancelled in the queue): there is no output to fetch.
        LogChunk {
            data: String::new(),
            next_offset: q.offset,
            complete: true,
        }
    } else {
        backend
            .logs(&id, q.offset)
            .await
            .map_err(SchedulerError::from)?
    };
    // "Complete" once the store, not only the backend, has recorded the end.
    chunk.complete = chunk.complete && rec.state.is_terminal()
        || rec.state.is_terminal() && rec.started_at_ms.is_none();
    Ok(Json(chunk))
}

async fn cancel(Ext(state): Ext<State>, Path(id): Path<String>) -> Result<Json<JobRecord>> {
    let id = job_id(&id)?;
    let s = &state.scheduler;
    if s.store().get(&id).await?.is_none() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}")));
    }
    let rec = s.cancel(&id).await?;
    Ok(Json(rec))
}

async fn ledger(Ext(state): Ext<State>) -> Result<Json<Vec<BookedEntry>>> {
    Ok(Json(
        state
            .scheduler
            .store()
            .ledger(&LedgerFilter::default())
            .await?,
    ))
}

/// Each monthly cap with what this month has booked against it.
async fn budgets(Ext(state): Ext<State>) -> Result<Json<Vec<ferry_scheduler::BudgetUse>>> {
    Ok(Json(state.scheduler.budget_uses().await?))
}

#[derive(Deserialize)]
struct SweepQuery {
    #[serde(default)]
    dry_run: bool,
}

async fn sweep(
    Ext(state): Ext<State>,
    Query(q): Query<SweepQuery>,
) -> Result<Json<Vec<SweepFinding>>> {
    Ok(Json(state.scheduler.sweep(q.dry_run).await?))
}

async fn shutdown(Ext(state): Ext<State>) -> StatusCode {
    let _ = state.stop.send(true);
    StatusCode::ACCEPTED
}

fn now_ms() -> i64 {
    ferry_job::now_ms()
}
