//! [`SharedLimiter`] against a real `redis-server`: exact admission across instances under
//! concurrent load, tokens, concurrency slots, and a server that dies and comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingot_keys::{Denied, Limits};
use ingot_state::testing::RedisServer;
use ingot_state::{SharedLimiter, StateError};

const TIMEOUT: Duration = Duration::from_millis(500);

fn limits(rpm: Option<u32>, tpm: Option<u32>, concurrency: Option<u32>) -> Limits {
    Limits {
        rpm,
        tpm,
        concurrency,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_admit_exactly_the_limit_under_concurrent_load() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = SharedLimiter::new(&redis.url(), TIMEOUT).unwrap();
    let b = SharedLimiter::new(&redis.url(), TIMEOUT).unwrap();
    let lim = limits(Some(10), None, None);
    let tries = (0..60).map(|i| {
        let l = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tokio::spawn(async move { l.admit("key_a", &lim).await.unwrap() })
    });
    let mut admitted = 0;
    for t in tries {
        match t.await.unwrap() {
            Ok(_) => admitted += 1,
            Err((denied, wait, info)) => {
                assert_eq!(denied, Denied::Requests);
                assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
                assert_eq!(info.remaining_requests, Some(0));
            }
        }
    }
    assert_eq!(admitted, 10);
    // Another key has its own window.
    assert!(a.admit("key_b", &lim).await.unwrap().is_ok());
}

#[tokio::test]
async fn tokens_and_concurrency_are_shared() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = SharedLimiter::new(&redis.url(), TIMEOUT).unwrap();
    let b = SharedLimiter::new(&redis.url(), TIMEOUT).unwrap();
    let tpm = limits(None, Some(100), None);
    let (_p, info) = a.admit("k", &tpm).await.unwrap().unwrap();
    assert_eq!(info.remaining_tokens, Some(100));
    a.charge("k", 70).await.unwrap();
    b.charge("k", 40).await.unwrap();
    let (denied, wait, info) = b.admit("k", &tpm).await.unwrap().unwrap_err();
    assert_eq!(denied, Denied::Tokens);
    assert!(wait > Duration::from_secs(55), "{wait:?}");
    assert_eq!(info.remaining_tokens, Some(0));

    let one = limits(None, None, Some(1));
    let (held, _) = a.admit("c", &one).await.unwrap().unwrap();
    let (denied, wait, _) = b.admit("c", &one).await.unwrap().unwrap_err();
    assert_eq!(
        (denied, wait),
        (Denied::Concurrency, Duration::from_secs(1))
    );
    drop(held);
    // The slot is freed in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if b.admit("c", &one).await.unwrap().is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_dead_server_is_an_error_in_time_and_its_return_is_noticed() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let l = SharedLimiter::new(&redis.url(), TIMEOUT).unwrap();
    let lim = limits(Some(100), None, None);
    assert!(l.admit("k", &lim).await.unwrap().is_ok());
    l.ping().await.unwrap();

    redis.stop();
    let t0 = Instant::now();
    let e = l.admit("k", &lim).await.unwrap_err();
    assert!(matches!(e, StateError::Unavailable(_)), "{e}");
    assert!(t0.elapsed() < TIMEOUT + Duration::from_millis(500));
    assert!(l.ping().await.is_err());

    // Back (empty, so the script is loaded again): the next request reconnects.
    redis.restart();
    let (_, info) = l.admit("k", &lim).await.unwrap().unwrap();
    assert_eq!(info.remaining_requests, Some(99));
}
