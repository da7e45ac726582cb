//! WAL checkpoints, kept off the writer's path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that
//! commit copies the whole log back into the database file and waits for two fsyncs while
//! every write queued behind it waits too. Here the writer connection has automatic
//! checkpoints turned off, and a checkpointer thread with its own connection copies the log
//! back with `PASSIVE` checkpoints (which never block the writer) at most every
//! [`COPY_INTERVAL`] while writes arrive. Copying every 100 ms rather than every few commits
//! copies a page rewritten by many commits once, and costs two fsyncs per copy, not per commit.
//!
//! A log is only rewound to its start when a write begins after *every* frame was copied back,
//! which a background copy never achieves while writes keep coming. So when the log has
//! grown past [`REWIND_FRAMES`], the checkpointer copies again until a copy is short, then
//! asks the writer to catch up: the writer, between two batches, checkpoints the few frames
//! written since, and SQLite rewinds the log at the start of the next write. No batch waits
//! for a full copy. The log's length is bounded by what the writer appends in one copy cycle:
//! a few MiB at ordinary loads, up to about 90 MiB at the benchmark's 45,000 messages/s.
//!
//! This module owns only checkpoint scheduling; it writes no rows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Log size (frames of one page) past which the writer is asked to catch up so the log can
/// rewind: 4,096 frames of 4 KiB, 16 MiB.
pub(crate) const REWIND_FRAMES: i64 = 4_096;

/// Commits gathered into one background copy: the shortest time between two copies.
const COPY_INTERVAL: Duration = Duration::from_millis(100);

/// While frames may be left to copy (a copy was skipped or fell short), a copy also runs this
/// long after the last commit, so an idle database ends up with its whole log copied back.
const IDLE_COPY_AFTER: Duration = Duration::from_secs(1);

/// Frames the writer may be left to copy when it catches up.
const CATCH_UP_FRAMES: i64 = 256;

/// Back-to-back copies tried before the writer catches up whatever is left.
const MAX_CONVERGING_COPIES: usize = 6;

/// The outcome of `PRAGMA wal_checkpoint`: frames in the log and frames copied back.
#[derive(Clone, Copy)]
pub(crate) struct CheckpointResult {
    pub(crate) log_frames: i64,
    pub(crate) copied_frames: i64,
}

/// Runs a `PASSIVE` checkpoint on `connection`.
pub(crate) fn passive_checkpoint(connection: &rusqlite::Connection) -> rusqlite::Result<CheckpointResult> {
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(CheckpointResult {
            log_frames: row.get(1)?,
            copied_frames: row.get(2)?,
        })
    })
}

/// The writer's handle on the checkpointer thread.
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    catch_up: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the checkpointer thread on its own connection to the database.
    pub(crate) fn start(connection: rusqlite::Connection) -> std::io::Result<Self> {
        let (wake, woken) = sync_channel(1);
        let catch_up = Arc::new(AtomicBool::new(false));
        let flag = catch_up.clone();
        let thread = std::thread::Builder::new()
            .name("baton-db-checkpoint".into())
            .spawn(move || run(connection, woken, flag))?;
        Ok(Self {
            wake: Some(wake),
            catch_up,
            thread: Some(thread),
        })
    }

    /// Tells the checkpointer that a batch was committed.
    pub(crate) fn committed(&self) {
        if let Some(wake) = &self.wake {
            // A full channel already holds a wake-up; a stopped thread needs none.
            let _ = wake.try_send(());
        }
    }

    /// Whether the log should be rewound, clearing the request: the caller then checkpoints
    /// on the writer connection.
    pub(crate) fn take_catch_up(&self) -> bool {
        self.catch_up.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the checkpointer thread panicked");
            }
        }
    }
}

/// Copies the log back. When the log is long enough to rewind, copies again (each copy takes
/// only what was appended during the one before) until a copy is short, so that what the
/// writer is left to copy when it catches up is short too. Returns the last outcome.
fn copy_until_nearly_done(connection: &rusqlite::Connection) -> Option<CheckpointResult> {
    let mut last: Option<CheckpointResult> = None;
    for _ in 0..MAX_CONVERGING_COPIES {
        let result = match passive_checkpoint(connection) {
            Ok(result) => result,
            Err(e) => {
                tracing::warn!(error = %e, "background checkpoint failed");
                break;
            }
        };
        let copied_now = last.map(|before| result.copied_frames - before.copied_frames);
        last = Some(result);
        if result.log_frames < REWIND_FRAMES || copied_now.is_some_and(|frames| frames <= CATCH_UP_FRAMES) {
            break;
        }
    }
    last
}

fn run(connection: rusqlite::Connection, woken: Receiver<()>, catch_up: Arc<AtomicBool>) {
    // Whether commits may have left frames to copy; an idle, fully copied log needs no visits.
    let mut pending = false;
    loop {
        let wake = if pending {
            woken.recv_timeout(IDLE_COPY_AFTER)
        } else {
            woken.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match wake {
            Ok(()) => std::thread::sleep(COPY_INTERVAL),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        pending = true;
        // The writer owes a catch-up: copying now would only contend for the checkpoint lock.
        if catch_up.load(Ordering::Acquire) {
            continue;
        }
        match copy_until_nearly_done(&connection) {
            Some(result) if result.log_frames >= REWIND_FRAMES => {
                tracing::debug!(
                    log_frames = result.log_frames,
                    copied_frames = result.copied_frames,
                    "asking the writer to rewind the log"
                );
                catch_up.store(true, Ordering::Release);
            }
            Some(result) => pending = result.copied_frames < result.log_frames,
            None => {}
        }
    }
    if let Err((_, e)) = connection.close() {
        tracing::warn!(error = %e, "closing the checkpoint connection");
    }
}
