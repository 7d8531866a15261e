//! Queue messages and schedule slots on PostgreSQL.
//!
//! Receiving claims the next visible rows with `FOR UPDATE SKIP LOCKED`:
//! consumers on several nodes never block each other nor receive the
//! same message twice within its visibility timeout. A schedule slot is a
//! row keyed by (app, schedule, slot): inserting it is what fires the
//! slot, so it fires once cluster-wide however many nodes race for it.

use crate::db::{execute, query, query_one, query_opt};
use deadpool_postgres::{GenericClient, Transaction};
use strato_store::{
    Effect, Message, NewMessage, QueueStats, ReceivePolicy, SlotOutcome, SlotRecord, StoreError,
};

/// How long slot rows are kept (enough for any catch-up window).
const SLOT_HISTORY_MS: i64 = 8 * 86_400_000;

pub(crate) async fn insert_messages(
    c: &impl GenericClient,
    app: &str,
    queue: &str,
    messages: &[NewMessage],
    now_ms: i64,
) -> Result<(), StoreError> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let bodies: Vec<&[u8]> = messages.iter().map(|m| m.body.as_slice()).collect();
    let visible: Vec<i64> = messages.iter().map(|m| m.visible_ms).collect();
    let expires: Vec<i64> = messages.iter().map(|m| m.expires_ms).collect();
    let traces: Vec<Option<&str>> = messages.iter().map(|m| m.traceparent.as_deref()).collect();
    execute(
        c,
        "sending messages",
        "INSERT INTO queue_messages (app, queue, id, body, sent_ms, visible_ms, expires_ms, traceparent)
         SELECT $1, $2, id, body, $3, visible_ms, expires_ms, traceparent
         FROM unnest($4::text[], $5::bytea[], $6::bigint[], $7::bigint[], $8::text[]) WITH ORDINALITY
           AS u(id, body, visible_ms, expires_ms, traceparent, n) ORDER BY n",
        &[&app, &queue, &now_ms, &ids, &bodies, &visible, &expires, &traces],
    )
    .await
    .map(drop)
}

/// The row a receipt names: receipts are `SEQ.TOKEN`.
fn receipt_seq(receipt: &str) -> Option<i64> {
    receipt.split_once('.')?.0.parse().ok()
}

pub(crate) async fn receive(
    tx: &Transaction<'_>,
    app: &str,
    queue: &str,
    now_ms: i64,
    max: usize,
    policy: &ReceivePolicy,
) -> Result<Vec<Message>, StoreError> {
    execute(
        tx,
        "dropping expired messages",
        "DELETE FROM queue_messages WHERE seq IN (SELECT seq FROM queue_messages
         WHERE app = $1 AND queue = $2 AND visible_ms <= $3 AND expires_ms <= $3 LIMIT 1000 FOR UPDATE SKIP LOCKED)",
        &[&app, &queue, &now_ms],
    )
    .await?;
    if let (Some(limit), Some(dlq)) = (policy.max_receives, &policy.dead_letter) {
        // SQS moves a message when a receive would exceed its limit.
        execute(
            tx,
            "moving messages to the dead-letter queue",
            "UPDATE queue_messages SET queue = $4, source_queue = $2, receive_count = 0,
             first_receive_ms = 0, receipt = '', visible_ms = $3
             WHERE seq IN (SELECT seq FROM queue_messages WHERE app = $1 AND queue = $2
                           AND visible_ms <= $3 AND receive_count >= $5 FOR UPDATE SKIP LOCKED)",
            &[&app, &queue, &now_ms, dlq, &i64::from(limit)],
        )
        .await?;
    }
    let rows = query(
        tx,
        "receiving messages",
        "UPDATE queue_messages SET receive_count = receive_count + 1,
         receipt = seq::text || '.' || substr(md5(random()::text), 1, 16),
         visible_ms = $4,
         first_receive_ms = CASE first_receive_ms WHEN 0 THEN $3 ELSE first_receive_ms END
         WHERE seq IN (SELECT seq FROM queue_messages WHERE app = $1 AND queue = $2 AND visible_ms <= $3
                       ORDER BY visible_ms, seq LIMIT $5 FOR UPDATE SKIP LOCKED)
         RETURNING seq, id, receipt, body, sent_ms, first_receive_ms, receive_count, traceparent",
        &[
            &app,
            &queue,
            &now_ms,
            &(now_ms + policy.visibility_ms),
            &(max as i64),
        ],
    )
    .await?;
    let mut out: Vec<(i64, Message)> = rows
        .iter()
        .map(|row| {
            (
                row.get(0),
                Message {
                    id: row.get(1),
                    receipt: row.get(2),
                    body: row.get(3),
                    sent_ms: row.get(4),
                    first_receive_ms: row.get(5),
                    receive_count: row.get::<_, i64>(6) as u32,
                    traceparent: row.get(7),
                },
            )
        })
        .collect();
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out.into_iter().map(|(_, m)| m).collect())
}

/// Deletes messages (`visible_ms` None) or changes their visibility, by
/// receipt; whether each touched its message.
pub(crate) async fn by_receipt(
    c: &impl GenericClient,
    app: &str,
    queue: &str,
    receipts: &[String],
    visible_ms: Option<i64>,
) -> Result<Vec<bool>, StoreError> {
    let parsed: Vec<(usize, i64)> = receipts
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, receipt_seq(r)?)))
        .collect();
    let mut out = vec![false; receipts.len()];
    if parsed.is_empty() {
        return Ok(out);
    }
    let seqs: Vec<i64> = parsed.iter().map(|(_, s)| *s).collect();
    let wanted: Vec<&str> = parsed.iter().map(|(i, _)| receipts[*i].as_str()).collect();
    let touched = match visible_ms {
        None => {
            query(
                c,
                "deleting messages",
                "DELETE FROM queue_messages m USING unnest($1::bigint[], $2::text[]) AS w(seq, receipt)
                 WHERE m.seq = w.seq AND m.receipt = w.receipt AND m.app = $3 AND m.queue = $4
                 RETURNING m.receipt",
                &[&seqs, &wanted, &app, &queue],
            )
            .await?
        }
        Some(v) => {
            query(
                c,
                "changing message visibility",
                "UPDATE queue_messages m SET visible_ms = $5 FROM unnest($1::bigint[], $2::text[]) AS w(seq, receipt)
                 WHERE m.seq = w.seq AND m.receipt = w.receipt AND m.app = $3 AND m.queue = $4
                 RETURNING m.receipt",
                &[&seqs, &wanted, &app, &queue, &v],
            )
            .await?
        }
    };
    let touched: std::collections::HashSet<String> = touched.iter().map(|r| r.get(0)).collect();
    for (i, receipt) in receipts.iter().enumerate() {
        out[i] = touched.contains(receipt);
    }
    Ok(out)
}

pub(crate) async fn purge(
    c: &impl GenericClient,
    app: &str,
    queue: &str,
) -> Result<u64, StoreError> {
    execute(
        c,
        "purging a queue",
        "DELETE FROM queue_messages WHERE app = $1 AND queue = $2",
        &[&app, &queue],
    )
    .await
}

pub(crate) async fn stats(
    c: &impl GenericClient,
    app: &str,
    queue: &str,
    now_ms: i64,
) -> Result<QueueStats, StoreError> {
    let r = query_one(
        c,
        "reading queue stats",
        "SELECT
           COUNT(*) FILTER (WHERE visible_ms <= $3),
           COUNT(*) FILTER (WHERE visible_ms > $3 AND receive_count > 0),
           COUNT(*) FILTER (WHERE visible_ms > $3 AND receive_count = 0),
           MIN(sent_ms)
         FROM queue_messages WHERE app = $1 AND queue = $2 AND expires_ms > $3",
        &[&app, &queue, &now_ms],
    )
    .await?;
    Ok(QueueStats {
        visible: r.get::<_, i64>(0) as u64,
        in_flight: r.get::<_, i64>(1) as u64,
        delayed: r.get::<_, i64>(2) as u64,
        oldest_age_ms: r.get::<_, Option<i64>>(3).map(|t| now_ms - t),
    })
}

pub(crate) async fn redrive(
    c: &impl GenericClient,
    app: &str,
    dead_letter: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    execute(
        c,
        "redriving messages",
        "UPDATE queue_messages SET queue = source_queue, source_queue = NULL,
         receive_count = 0, first_receive_ms = 0, receipt = '', visible_ms = $3
         WHERE app = $1 AND queue = $2 AND source_queue IS NOT NULL",
        &[&app, &dead_letter, &now_ms],
    )
    .await
}

/// A schedule slot write: record it with an outcome, or fire it if it was
/// waiting.
pub(crate) enum SlotWrite {
    Record(SlotOutcome),
    FireWaiting,
}

/// Writes a slot row and, only if that changed a row, applies `effects`
/// in the same transaction (pruning old slots too); whether it did.
pub(crate) async fn write_slot(
    tx: &Transaction<'_>,
    write: SlotWrite,
    app: &str,
    schedule: &str,
    slot_ms: i64,
    effects: &[Effect],
    now_ms: i64,
) -> Result<bool, StoreError> {
    let invocation = effects.iter().find_map(|e| match e {
        Effect::Enqueue(i) => Some(i.id.as_str()),
        _ => None,
    });
    const DOING: &str = "recording a schedule slot";
    let changed = match write {
        SlotWrite::Record(outcome) => execute(
            tx,
            DOING,
            "INSERT INTO schedule_slots (app, schedule, slot_ms, invocation, recorded_ms, outcome)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[
                &app,
                &schedule,
                &slot_ms,
                &invocation,
                &now_ms,
                &outcome.as_str(),
            ],
        )
        .await?,
        SlotWrite::FireWaiting => {
            execute(
                tx,
                DOING,
                "UPDATE schedule_slots SET outcome = 'fired', invocation = $4, recorded_ms = $5
                 WHERE app = $1 AND schedule = $2 AND slot_ms = $3 AND outcome = 'waiting'",
                &[&app, &schedule, &slot_ms, &invocation, &now_ms],
            )
            .await?
        }
    };
    if changed == 0 {
        return Ok(false);
    }
    crate::work::apply(tx, effects, now_ms).await?;
    execute(
        tx,
        "pruning schedule slots",
        "DELETE FROM schedule_slots WHERE app = $1 AND schedule = $2 AND slot_ms < $3",
        &[&app, &schedule, &(slot_ms - SLOT_HISTORY_MS)],
    )
    .await?;
    Ok(true)
}

pub(crate) async fn latest_slot(
    c: &impl GenericClient,
    app: &str,
    schedule: &str,
) -> Result<Option<SlotRecord>, StoreError> {
    let row = query_opt(
        c,
        "reading a schedule's latest slot",
        "SELECT slot_ms, outcome,
           (SELECT invocation FROM schedule_slots WHERE app = $1 AND schedule = $2
            AND outcome = 'fired' ORDER BY slot_ms DESC LIMIT 1), recorded_ms
         FROM schedule_slots WHERE app = $1 AND schedule = $2 ORDER BY slot_ms DESC LIMIT 1",
        &[&app, &schedule],
    )
    .await?;
    Ok(row.map(|r| SlotRecord {
        slot_ms: r.get(0),
        outcome: SlotOutcome::parse(r.get(1)).unwrap_or(SlotOutcome::Fired),
        invocation: r.get(2),
        recorded_ms: r.get(3),
    }))
}
