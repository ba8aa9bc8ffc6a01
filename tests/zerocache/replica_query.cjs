// Reads zero-cache's SQLite replica for the test harness (zero_harness.replica_query).
//
// The replica uses wal2 journaling, which only zero-cache's own SQLite build (@rocicorp/zero-sqlite3)
// understands, so the stock sqlite3 shell cannot open it. Input on stdin, JSON:
//   {"file": "/path/zero.db", "queries": [{"sql": "SELECT ...", "params": [...]}, ...]}
// Output on stdout, JSON: one array of row objects per query. Errors: message on stderr, exit 1.
// Run with NODE_PATH pointing at the cached install's node_modules.
'use strict';

const Database = require('@rocicorp/zero-sqlite3');

// BigInt (64-bit integers beyond 2^53) and blobs have no JSON form: send them as strings.
function plain(value) {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  return value;
}

const request = JSON.parse(require('fs').readFileSync(0, 'utf8'));
// Read-only: the replica belongs to zero-cache, which keeps writing while we read.
const db = new Database(request.file, {readonly: true, fileMustExist: true});
try {
  db.pragma('busy_timeout = 10000');
  const results = [];
  // One read transaction for all queries: counts of several tables come from the same snapshot.
  db.transaction(() => {
    for (const q of request.queries) {
      const rows = db.prepare(q.sql).all(...(q.params || []));
      results.push(rows.map(row => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)]))));
    }
  })();
  process.stdout.write(JSON.stringify(results));
} finally {
  db.close();
}
