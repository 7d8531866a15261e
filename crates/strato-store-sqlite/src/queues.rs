//! Queue messages and schedule slots.
//!
//! A message is one row from send to delete. Receiving is "claim the next
//! visible rows": they get a new receipt, a receive count and a visibility
//! deadline, in the transaction that also drops expired messages and
//! moves those received too often to the dead-letter queue. Every queue
//! operation goes through the group commit, so concurrent senders,
//! receivers and deleters share fsyncs.
//!
//! A schedule slot is a row keyed by (app, schedule, slot): inserting it
//! is what fires the slot, so a slot fires once however many schedulers
//! race for it, and the work it queues is written in the same
//! transaction.

use crate::{Db, db};
use rusqlite::{Connection, OptionalExtension, params};
use strato_store::StoreError;
use strato_store::{
    Effect, Message, NewMessage, QueueStats, ReceivePolicy, SlotOutcome, SlotRecord,
};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY,
    app TEXT NOT NULL,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    receipt TEXT NOT NULL DEFAULT '',
    body BLOB NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER NOT NULL DEFAULT 0,
    -- The queue a dead-lettered message came from (for redrive).
    source_queue TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_by_visibility ON queue_messages (app, queue, visible_ms, seq);
CREATE TABLE IF NOT EXISTS schedule_slots (
    app TEXT NOT NULL,
    schedule TEXT NOT NULL,
    slot_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    invocation TEXT,
    recorded_ms INTEGER NOT NULL,
    PRIMARY KEY (app, schedule, slot_ms)
) WITHOUT ROWID;
"#;

/// How long slot rows are kept (enough for any catch-up window).
const SLOT_HISTORY_MS: i64 = 8 * 86_400_000;

pub(super) fn insert_messages(
    conn: &Connection,
    app: &str,
    queue: &str,
    messages: &[NewMessage],
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO queue_messages (app, queue, id, body, sent_ms, visible_ms, expires_ms, traceparent)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(db("preparing to send messages"))?;
    for m in messages {
        stmt.execute(params![
            app,
            queue,
            m.id,
            m.body,
            now_ms,
            m.visible_ms,
            m.expires_ms,
            m.traceparent
        ])
        .map_err(db("sending a message"))?;
    }
    Ok(())
}

/// The row a receipt names: receipts are `SEQ.TOKEN`.
fn receipt_seq(receipt: &str) -> Option<i64> {
    receipt.split_once('.')?.0.parse().ok()
}

fn receive(
    conn: &Connection,
    app: &str,
    queue: &str,
    now_ms: i64,
    max: usize,
    policy: &ReceivePolicy,
) -> Result<Vec<Message>, StoreError> {
    conn.prepare_cached(
        "DELETE FROM queue_messages WHERE seq IN (SELECT seq FROM queue_messages
         WHERE app = ?1 AND queue = ?2 AND visible_ms <= ?3 AND expires_ms <= ?3 LIMIT 1000)",
    )
    .and_then(|mut s| s.execute(params![app, queue, now_ms]))
    .map_err(db("dropping expired messages"))?;
    if let (Some(limit), Some(dlq)) = (policy.max_receives, &policy.dead_letter) {
        // SQS moves a message when a receive would exceed its limit.
        conn.prepare_cached(
            "UPDATE queue_messages SET queue = ?4, source_queue = ?2, receive_count = 0,
             first_receive_ms = 0, receipt = '', visible_ms = ?3
             WHERE app = ?1 AND queue = ?2 AND visible_ms <= ?3 AND receive_count >= ?5",
        )
        .and_then(|mut s| s.execute(params![app, queue, now_ms, dlq, limit]))
        .map_err(db("moving messages to the dead-letter queue"))?;
    }
    let mut stmt = conn
        .prepare_cached(
            "UPDATE queue_messages SET receive_count = receive_count + 1,
             receipt = seq || '.' || lower(hex(randomblob(8))),
             visible_ms = ?4,
             first_receive_ms = CASE first_receive_ms WHEN 0 THEN ?3 ELSE first_receive_ms END
             WHERE seq IN (SELECT seq FROM queue_messages WHERE app = ?1 AND queue = ?2 AND visible_ms <= ?3
                           ORDER BY visible_ms, seq LIMIT ?5)
             RETURNING seq, id, receipt, body, sent_ms, first_receive_ms, receive_count, traceparent",
        )
        .map_err(db("receiving messages"))?;
    let rows = stmt
        .query_map(
            params![
                app,
                queue,
                now_ms,
                now_ms + policy.visibility_ms,
                max as i64
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    Message {
                        id: row.get(1)?,
                        receipt: row.get(2)?,
                        body: row.get(3)?,
                        sent_ms: row.get(4)?,
                        first_receive_ms: row.get(5)?,
                        receive_count: row.get(6)?,
                        traceparent: row.get(7)?,
                    },
                ))
            },
        )
        .map_err(db("receiving messages"))?;
    let mut out = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(db("reading received messages"))?;
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out.into_iter().map(|(_, m)| m).collect())
}

impl Db {
    pub(crate) fn send_messages(
        &self,
        app: &str,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (app, queue, messages) = (app.to_string(), queue.to_string(), messages.to_vec());
        self.group
            .write(move |tx| insert_messages(tx, &app, &queue, &messages, now_ms))
    }

    pub(crate) fn receive_messages(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
        max: usize,
        policy: &ReceivePolicy,
    ) -> Result<Vec<Message>, StoreError> {
        let (app, queue, policy) = (app.to_string(), queue.to_string(), policy.clone());
        self.group
            .write(move |tx| receive(tx, &app, &queue, now_ms, max, &policy))
    }

    pub(crate) fn delete_messages(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
    ) -> Result<Vec<bool>, StoreError> {
        self.by_receipt(
            "DELETE FROM queue_messages WHERE seq = ?1 AND receipt = ?2 AND app = ?3 AND queue = ?4",
            app,
            queue,
            receipts,
            None,
        )
    }

    pub(super) fn change_visibility_sql(
        &self,
        app: &str,
        queue: &str,
        receipts: &[String],
        visible_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        self.by_receipt(
            "UPDATE queue_messages SET visible_ms = ?5 WHERE seq = ?1 AND receipt = ?2 AND app = ?3 AND queue = ?4",
            app,
            queue,
            receipts,
            Some(visible_ms),
        )
    }

    /// Runs `sql` once per receipt (`?1` its row, `?2` the receipt, `?3`
    /// app, `?4` queue, `?5` the value) in one group-committed
    /// transaction; whether each touched its message.
    fn by_receipt(
        &self,
        sql: &'static str,
        app: &str,
        queue: &str,
        receipts: &[String],
        value: Option<i64>,
    ) -> Result<Vec<bool>, StoreError> {
        let (app, queue, receipts) = (app.to_string(), queue.to_string(), receipts.to_vec());
        self.group.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(sql)
                .map_err(db("preparing a message update"))?;
            receipts
                .iter()
                .map(|r| {
                    let Some(seq) = receipt_seq(r) else {
                        return Ok(false);
                    };
                    let touched = match value {
                        None => stmt.execute(params![seq, r, app, queue]),
                        Some(v) => stmt.execute(params![seq, r, app, queue, v]),
                    };
                    touched
                        .map(|n| n == 1)
                        .map_err(db("updating a message by receipt"))
                })
                .collect()
        })
    }

    pub(crate) fn purge_queue(&self, app: &str, queue: &str) -> Result<u64, StoreError> {
        self.write()
            .execute(
                "DELETE FROM queue_messages WHERE app = ?1 AND queue = ?2",
                params![app, queue],
            )
            .map(|n| n as u64)
            .map_err(db("purging a queue"))
    }

    pub(crate) fn queue_stats(
        &self,
        app: &str,
        queue: &str,
        now_ms: i64,
    ) -> Result<QueueStats, StoreError> {
        self.read()
            .query_row(
                "SELECT
                   COALESCE(SUM(visible_ms <= ?3), 0),
                   COALESCE(SUM(visible_ms > ?3 AND receive_count > 0), 0),
                   COALESCE(SUM(visible_ms > ?3 AND receive_count = 0), 0),
                   MIN(sent_ms)
                 FROM queue_messages WHERE app = ?1 AND queue = ?2 AND expires_ms > ?3",
                params![app, queue, now_ms],
                |r| {
                    Ok(QueueStats {
                        visible: r.get::<_, i64>(0)? as u64,
                        in_flight: r.get::<_, i64>(1)? as u64,
                        delayed: r.get::<_, i64>(2)? as u64,
                        oldest_age_ms: r.get::<_, Option<i64>>(3)?.map(|t| now_ms - t),
                    })
                },
            )
            .map_err(db("reading queue stats"))
    }

    pub(crate) fn redrive_messages(
        &self,
        app: &str,
        dead_letter: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.write()
            .execute(
                "UPDATE queue_messages SET queue = source_queue, source_queue = NULL,
                 receive_count = 0, first_receive_ms = 0, receipt = '', visible_ms = ?3
                 WHERE app = ?1 AND queue = ?2 AND source_queue IS NOT NULL",
                params![app, dead_letter, now_ms],
            )
            .map(|n| n as u64)
            .map_err(db("redriving messages"))
    }

    pub(crate) fn record_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        outcome: SlotOutcome,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write_slot(
            "INSERT OR IGNORE INTO schedule_slots (app, schedule, slot_ms, invocation, recorded_ms, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            app,
            schedule,
            slot_ms,
            Some(outcome),
            effects,
            now_ms,
        )
    }

    pub(crate) fn fire_waiting_slot(
        &self,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write_slot(
            "UPDATE schedule_slots SET outcome = 'fired', invocation = ?4, recorded_ms = ?5
             WHERE app = ?1 AND schedule = ?2 AND slot_ms = ?3 AND outcome = 'waiting'",
            app,
            schedule,
            slot_ms,
            None,
            effects,
            now_ms,
        )
    }

    /// Writes a slot row with `sql` (`?1` app, `?2` schedule, `?3` slot,
    /// `?4` the invocation the effects queue, `?5` now, `?6` the outcome if
    /// given) and, only if that changed a row, applies `effects` in the
    /// same transaction (pruning old slots too); whether it did.
    #[allow(clippy::too_many_arguments)]
    fn write_slot(
        &self,
        sql: &'static str,
        app: &str,
        schedule: &str,
        slot_ms: i64,
        outcome: Option<SlotOutcome>,
        effects: &[Effect],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (app, schedule, effects) = (app.to_string(), schedule.to_string(), effects.to_vec());
        self.group.write(move |tx| {
            let invocation = effects.iter().find_map(|e| match e {
                Effect::Enqueue(i) => Some(i.id.clone()),
                _ => None,
            });
            let changed = tx
                .prepare_cached(sql)
                .and_then(|mut s| match outcome {
                    Some(o) => s.execute(params![
                        app,
                        schedule,
                        slot_ms,
                        invocation,
                        now_ms,
                        o.as_str()
                    ]),
                    None => s.execute(params![app, schedule, slot_ms, invocation, now_ms]),
                })
                .map_err(db("recording a schedule slot"))?;
            if changed == 0 {
                return Ok(false);
            }
            crate::effects::apply(tx, &effects, now_ms)?;
            tx.prepare_cached(
                "DELETE FROM schedule_slots WHERE app = ?1 AND schedule = ?2 AND slot_ms < ?3",
            )
            .and_then(|mut s| s.execute(params![app, schedule, slot_ms - SLOT_HISTORY_MS]))
            .map_err(db("pruning schedule slots"))?;
            Ok(true)
        })
    }

    pub(crate) fn latest_schedule_slot(
        &self,
        app: &str,
        schedule: &str,
    ) -> Result<Option<SlotRecord>, StoreError> {
        self.read()
            .query_row(
                "SELECT slot_ms, outcome,
                   (SELECT invocation FROM schedule_slots WHERE app = ?1 AND schedule = ?2
                    AND outcome = 'fired' ORDER BY slot_ms DESC LIMIT 1), recorded_ms
                 FROM schedule_slots WHERE app = ?1 AND schedule = ?2 ORDER BY slot_ms DESC LIMIT 1",
                params![app, schedule],
                |r| {
                    let outcome: String = r.get(1)?;
                    Ok(SlotRecord {
                        slot_ms: r.get(0)?,
                        outcome: SlotOutcome::parse(&outcome).unwrap_or(SlotOutcome::Fired),
                        invocation: r.get(2)?,
                        recorded_ms: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db("reading a schedule's latest slot"))
    }

    pub(crate) fn invocation_pending(&self, id: &str) -> Result<bool, StoreError> {
        self.read()
            .query_row("SELECT 1 FROM invocations WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(db("looking up an invocation"))
    }
}
