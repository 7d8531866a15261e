//! A node cut off from PostgreSQL never completes work another node took.

use super::*;

/// A TCP proxy to PostgreSQL whose connections the test can cut (and
/// refuse) to partition one node from the database, then restore.
struct CuttableProxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl CuttableProxy {
    fn start(upstream: u16) -> CuttableProxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, open2) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if cut2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        CuttableProxy { port, cut, open }
    }

    /// Cuts every open connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_node_cut_off_from_postgres_never_completes_work_another_node_took_over() {
    let db_url = runtime().block_on(postgres().fresh_database());
    let proxy = CuttableProxy::start(postgres().port());
    let proxied_url = db_url.replace(
        &format!(":{}/", postgres().port()),
        &format!(":{}/", proxy.port),
    );
    let blobs = tempfile::tempdir().unwrap();
    let blobs_dir = blobs.path().to_str().unwrap();
    let lease = format!("{}ms", LEASE.as_millis());
    let cut_off = Server::start_with(&[
        "--store",
        &proxied_url,
        "--blobs",
        blobs_dir,
        "--lease",
        &lease,
    ]);
    let healthy =
        Server::start_with(&["--store", &db_url, "--blobs", blobs_dir, "--lease", &lease]);
    let app = AppDir::new(&manifest());
    healthy.cli_ok(&["deploy", app.path()]);
    wait_until(
        "the other node to serve the deploy",
        Duration::from_secs(10),
        || {
            client()
                .post(cut_off.url("/k/echo"))
                .body("x")
                .send()
                .is_ok_and(|r| r.status() == 200)
        },
    );
    // Eight runs of 2 s, taken by the node about to be cut off.
    let ids = queue_invocations(&cut_off, 8, "/k/sleep?ms=2000");
    let victim = node_id(&cut_off);
    wait_until("the node to hold the work", Duration::from_secs(10), || {
        query(
            &db_url,
            &format!("SELECT count(*) FROM invocations WHERE lease_owner = '{victim}'"),
        )[0]
        .get::<_, i64>(0)
            == 8
    });
    proxy.cut();
    // Its leases run out; the healthy node takes the work and runs it.
    wait_until(
        "the healthy node to finish the work",
        Duration::from_secs(60),
        || query(&db_url, "SELECT count(*) FROM invocations")[0].get::<_, i64>(0) == 0,
    );
    // The cut-off node's runs ended meanwhile; once it reaches the
    // database again its records are written, fenced out.
    proxy.restore();
    wait_until(
        "the cut-off node's records",
        Duration::from_secs(60),
        || {
            query(
                &db_url,
                &format!(
                    "SELECT count(*) FROM runs WHERE app = 'cl' AND error = '{}'",
                    strato_store::SUPERSEDED.replace('\'', "''")
                ),
            )[0]
            .get::<_, i64>(0)
                == 8
        },
    );
    let rows = query(
        &db_url,
        "SELECT event_id, count(*) FROM runs WHERE app = 'cl' AND status = 'succeeded'
         AND event_id IS NOT NULL GROUP BY event_id",
    );
    let done: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    for id in &ids {
        assert_eq!(
            done.get(id),
            Some(&1),
            "invocation {id} completed {:?} times",
            done.get(id)
        );
    }
    drop(cut_off);
    drop(healthy);
}
