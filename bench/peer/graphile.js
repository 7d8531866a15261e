// graphile-worker, the peer of bench/async.sh: N no-op jobs added one per
// transaction by CLIENTS concurrent clients while a worker (CONCURRENCY
// jobs at a time) runs them, like Strato's gateway load; prints jobs
// added/s and jobs/s end to end (until the queue is empty).
// Usage: node graphile.js CONNECTION_STRING N CLIENTS CONCURRENCY
const { run, makeWorkerUtils } = require("graphile-worker");
const { Pool } = require("pg");

async function main() {
  const [connectionString, n, clients, concurrency] = [
    process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5],
  ];
  const utils = await makeWorkerUtils({ connectionString });
  await utils.migrate();
  let done = 0;
  const runner = await run({
    connectionString,
    concurrency,
    noHandleSignals: true,
    pollInterval: 100,
    logger: new (require("graphile-worker").Logger)(() => () => {}),
    taskList: { noop: async () => { done++; } },
  });
  const pool = new Pool({ connectionString, max: clients });
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) {
      next++;
      await pool.query("SELECT graphile_worker.add_job('noop', json_build_object('x', 1))");
    }
  }));
  const added = Number(process.hrtime.bigint() - start) / 1e9;
  while (done < n) await new Promise((r) => setTimeout(r, 5));
  const total = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`graphile-worker: ${n} jobs added in ${added.toFixed(2)} s (${(n / added).toFixed(0)}/s); all run after ${total.toFixed(2)} s: ${(n / total).toFixed(0)} jobs/s end to end`);
  await runner.stop();
  await pool.end();
  await utils.release();
}
main().catch((e) => { console.error(e); process.exit(1); });
