// The floor of bench/cluster.sh: what PostgreSQL itself does for a queue
// with the durability Strato uses (fsync on, synchronous_commit on):
// insert a job row and later update it (queue + settle), N pairs,
//   batched    256 inserts per transaction, then 256 updates per transaction
//   unbatched  one insert transaction and one update transaction per job,
//              from CLIENTS concurrent connections
// Usage: node floor.js CONNECTION_STRING N CLIENTS
const { Pool } = require("pg");

async function main() {
  const [connectionString, n, clients] = [process.argv[2], +process.argv[3], +process.argv[4]];
  const pool = new Pool({ connectionString, max: clients });
  await pool.query("DROP TABLE IF EXISTS floor_q");
  await pool.query("CREATE TABLE floor_q (id BIGINT PRIMARY KEY, body BYTEA, done BOOLEAN NOT NULL)");
  let start = process.hrtime.bigint();
  const batch = 256;
  for (let i = 0; i < n; i += batch) {
    await pool.query(
      "INSERT INTO floor_q (id, body, done) SELECT g, '\\x00', false FROM generate_series($1::bigint, $2::bigint) g",
      [i, Math.min(i + batch, n) - 1],
    );
  }
  for (let i = 0; i < n; i += batch) {
    await pool.query("UPDATE floor_q SET done = true WHERE id BETWEEN $1 AND $2", [i, Math.min(i + batch, n) - 1]);
  }
  let secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`floor batched: ${n} insert+update pairs, 256 per transaction: ${(n / secs).toFixed(0)} pairs/s`);

  await pool.query("TRUNCATE floor_q");
  start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) {
      const id = next++;
      await pool.query("INSERT INTO floor_q (id, body, done) VALUES ($1, '\\x00', false)", [id]);
      await pool.query("UPDATE floor_q SET done = true WHERE id = $1", [id]);
    }
  }));
  secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`floor unbatched: ${n} insert+update pairs, one transaction each, ${clients} clients: ${(n / secs).toFixed(0)} pairs/s`);
  await pool.query("DROP TABLE floor_q");
  await pool.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
