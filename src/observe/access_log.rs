//! The access log's way to the database: records queue in a bounded channel (a full queue drops
//! the record and counts it; the request never waits), one task writes them in batches (every
//! second or every [`BATCH`] rows, one multi-row INSERT), and another deletes rows older than
//! `ACCESS_LOG_RETENTION` days.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;
use super::record::Record;
use crate::db::access_log::NewAccess;
use crate::db::Db;

/// Records waiting to be written before new ones are dropped.
const QUEUE: usize = 16_384;
/// Rows per INSERT.
pub const BATCH: usize = 500;
/// Longest wait before queued rows are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Rows kept for a retry while the database refuses them; beyond this they are dropped.
const RETRY_LIMIT: usize = 10 * BATCH;
/// How often old rows are deleted, and how many per statement.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
const RETENTION_BATCH: i64 = 10_000;

/// The request path's end of the queue.
pub struct AccessQueue {
    tx: mpsc::Sender<Record>,
    flush: mpsc::Sender<oneshot::Sender<()>>,
}

/// The writer's end, handed to [`run_writer`].
pub struct AccessWriter {
    rx: mpsc::Receiver<Record>,
    flush: mpsc::Receiver<oneshot::Sender<()>>,
}

pub fn queue() -> (AccessQueue, AccessWriter) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (flush_tx, flush_rx) = mpsc::channel(4);
    (AccessQueue { tx, flush: flush_tx }, AccessWriter { rx, flush: flush_rx })
}

impl AccessQueue {
    /// Queues a record; false when the queue is full (the record is dropped).
    pub fn push(&self, record: Record) -> bool {
        self.tx.try_send(record).is_ok()
    }

    /// Waits until everything queued so far is written (or the writer gave up on it).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.flush.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn row(r: Record) -> NewAccess {
    NewAccess {
        at: r.at.into(),
        repo: r.repo,
        path: r.path,
        method: r.method.as_str().to_string(),
        status: r.status,
        cache_status: r.cache.header_value(),
        bytes: r.bytes,
        duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        client: r.client.map(|c| c.to_string()),
    }
}

/// Writes `batch`; on failure keeps it for the next try unless it grew past [`RETRY_LIMIT`].
async fn write(db: &Db, metrics: &Metrics, batch: &mut Vec<NewAccess>) {
    while !batch.is_empty() {
        let n = batch.len().min(BATCH);
        match db.insert_access_log(&batch[..n]).await {
            Ok(_) => {
                metrics.access_log_written.inc_by(n as u64);
                batch.drain(..n);
            }
            Err(e) => {
                tracing::warn!(error = %e, rows = batch.len(), "access log rows not written yet");
                if batch.len() > RETRY_LIMIT {
                    metrics.access_log_dropped.inc_by(batch.len() as u64);
                    batch.clear();
                }
                return;
            }
        }
    }
}

/// The writer task: runs until every queue handle is gone.
pub async fn run_writer(mut w: AccessWriter, db: Db, metrics: std::sync::Arc<Metrics>) {
    let mut batch: Vec<NewAccess> = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            record = w.rx.recv() => match record {
                Some(r) => {
                    batch.push(row(r));
                    if batch.len() >= BATCH {
                        write(&db, &metrics, &mut batch).await;
                    }
                }
                None => break,
            },
            Some(done) = w.flush.recv() => {
                while let Ok(r) = w.rx.try_recv() {
                    batch.push(row(r));
                }
                write(&db, &metrics, &mut batch).await;
                let _ = done.send(());
            }
            _ = tick.tick() => write(&db, &metrics, &mut batch).await,
        }
    }
    write(&db, &metrics, &mut batch).await;
}

/// Deletes rows older than `days` days, hourly; `days == 0` keeps everything.
pub async fn run_retention(db: Db, days: u32) {
    if days == 0 {
        return;
    }
    loop {
        let before = Utc::now() - chrono::Duration::days(i64::from(days));
        let mut deleted = 0;
        loop {
            match db.expire_access_log(before, RETENTION_BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < RETENTION_BATCH as u64 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "access log retention: delete failed; retrying later");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, days, "access log rows past retention deleted");
        }
        tokio::time::sleep(RETENTION_EVERY).await;
    }
}
