// graphile-worker, the peer of bench/async.sh: N no-op jobs added one per
// transaction by CLIENTS concurrent clients while a worker (CONCURRENCY
// jobs at a time) runs them, like Strato's gateway load; prints jobs
// added/s and jobs/s end to end (until the queue is empty). Then its best
// case: N jobs queued in one transaction beforehand, run by the worker.
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
  const startWorker = () => run({
    connectionString,
    concurrency,
    noHandleSignals: true,
    pollInterval: 100,
    logger: new (require("graphile-worker").Logger)(() => () => {}),
    taskList: { noop: async () => { done++; } },
  });
  const runner = await startWorker();
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

  // Its best case: the same number of jobs queued in one transaction
  // beforehand, then run (what its own performance test measures).
  await pool.query(
    "SELECT graphile_worker.add_jobs(array_agg(json_populate_record(null::graphile_worker.job_spec, json_build_object('identifier', 'noop', 'payload', json_build_object('x', i))))) FROM generate_series(1, $1) i",
    [n],
  );
  done = 0;
  const start2 = process.hrtime.bigint();
  const runner2 = await startWorker();
  while (done < n) await new Promise((r) => setTimeout(r, 5));
  const ran = Number(process.hrtime.bigint() - start2) / 1e9;
  console.log(`graphile-worker: ${n} jobs queued beforehand in one transaction run in ${ran.toFixed(2)} s: ${(n / ran).toFixed(0)} jobs/s`);
  await runner2.stop();
  await pool.end();
  await utils.release();
}
main().catch((e) => { console.error(e); process.exit(1); });
