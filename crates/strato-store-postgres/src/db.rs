//! Small helpers over the pool: every statement is prepared once per
//! connection (deadpool's statement cache) and every error becomes the
//! store's neutral error saying what was being done.

use deadpool_postgres::{GenericClient, Object, Pool};
use strato_store::StoreError;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// A statement parameter.
pub(crate) type Param<'a> = &'a (dyn ToSql + Sync);

/// Maps a PostgreSQL (or pool) error to the store's neutral error.
pub(crate) fn pg<E: std::error::Error + Send + Sync + 'static>(
    doing: &'static str,
) -> impl Fn(E) -> StoreError {
    move |source| StoreError::backend(doing, source)
}

/// A connection from the pool.
pub(crate) async fn client(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(pg("connecting to PostgreSQL"))
}

pub(crate) async fn query(
    c: &impl GenericClient,
    doing: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Vec<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(doing))?;
    c.query(&stmt, params).await.map_err(pg(doing))
}

pub(crate) async fn query_opt(
    c: &impl GenericClient,
    doing: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(doing))?;
    c.query_opt(&stmt, params).await.map_err(pg(doing))
}

pub(crate) async fn query_one(
    c: &impl GenericClient,
    doing: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Row, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(doing))?;
    c.query_one(&stmt, params).await.map_err(pg(doing))
}

pub(crate) async fn execute(
    c: &impl GenericClient,
    doing: &'static str,
    sql: &str,
    params: &[Param<'_>],
) -> Result<u64, StoreError> {
    let stmt = c.prepare_cached(sql).await.map_err(pg(doing))?;
    c.execute(&stmt, params).await.map_err(pg(doing))
}

/// The strings of a one-column result.
pub(crate) fn strings(rows: Vec<Row>) -> Vec<String> {
    rows.into_iter().map(|r| r.get(0)).collect()
}
