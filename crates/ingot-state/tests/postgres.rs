//! [`PgKeyStore`] against a real PostgreSQL server: keys, revocation, the ledger under
//! concurrent writers, and a server that goes away and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_keys::Limits;
use ingot_state::testing::PgServer;
use ingot_state::{PgKeyStore, StateError};

const TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_and_the_ledger_live_in_postgres() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let a = Arc::new(PgKeyStore::new(&pg.url(), TIMEOUT).unwrap());
    let b = Arc::new(PgKeyStore::new(&pg.url(), TIMEOUT).unwrap());
    assert!(!a.has_keys().await.unwrap());
    let limits = Limits {
        rpm: Some(60),
        ..Limits::default()
    };
    let (rec, secret) = a.create("ci", limits).await.unwrap();
    assert!(secret.starts_with("ingot-"));
    assert!(b.has_keys().await.unwrap());
    let found = b.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.limits), (rec.id.as_str(), limits));
    assert!(b.authenticate("ingot-wrong").await.unwrap().is_none());
    let (other, _) = b.create("other", Limits::default()).await.unwrap();
    let listed: Vec<String> = a.list().await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, [rec.id.clone(), other.id.clone()]);

    // Two instances writing the ledger at once lose nothing.
    let writes = (0..40).map(|i| {
        let s = Arc::clone(if i % 2 == 0 { &a } else { &b });
        let id = rec.id.clone();
        tokio::spawn(async move { s.record_usage(&id, "m", 3, 2).await.unwrap() })
    });
    for w in writes {
        w.await.unwrap();
    }
    let rows = a.usage(Some(&rec.prefix)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].requests,
            rows[0].prompt_tokens,
            rows[0].completion_tokens
        ),
        (40, 120, 80)
    );
    assert!(a.usage(Some(&other.id)).await.unwrap().is_empty());

    let revoked = b.revoke(&rec.prefix).await.unwrap();
    assert!(revoked.revoked.is_some());
    assert!(a.authenticate(&secret).await.unwrap().is_none());
    assert!(matches!(
        a.revoke("key_nope").await,
        Err(StateError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_stopped_server_is_an_error_in_time_and_its_return_is_noticed() {
    let Some(mut pg) = PgServer::start() else {
        return;
    };
    let s = PgKeyStore::new(&pg.url(), Duration::from_secs(2)).unwrap();
    let (_, secret) = s.create("k", Limits::default()).await.unwrap();
    pg.stop();
    let t0 = Instant::now();
    let e = s.authenticate(&secret).await.unwrap_err();
    assert!(matches!(e, StateError::Unavailable(_)), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert!(s.ping().await.is_err());
    pg.restart();
    assert!(s.authenticate(&secret).await.unwrap().is_some());
}
