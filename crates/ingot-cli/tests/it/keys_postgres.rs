//! `ingot keys` and `ingot usage` on keys kept in PostgreSQL (`--postgres-url`), against a
//! throwaway PostgreSQL server.

use ingot_state::PgKeyStore;
use ingot_state::testing::PgServer;
use serde_json::Value;

use crate::common::{ingot, output, stderr, stdout};

#[tokio::test]
async fn keys_and_usage_work_on_postgres() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.url();
    let o = output(ingot(&[
        "keys",
        "create",
        "--name",
        "ci",
        "--rpm",
        "5",
        "--json",
        "--postgres-url",
        &url,
    ]))
    .await;
    assert!(o.status.success(), "{}", stderr(&o));
    let created: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();

    // What the servers will read: the same store.
    let store = PgKeyStore::new(&url, std::time::Duration::from_secs(5)).unwrap();
    let found = store.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.limits.rpm),
        (id.as_str(), Some(5))
    );
    store.record_usage(&id, "meta/x", 7, 3).await.unwrap();

    let mut list = ingot(&["keys", "list", "--json"]);
    list.env("INGOT_POSTGRES_URL", &url);
    let o = output(list).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let keys: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(keys[0]["id"], id.as_str());

    let o = output(ingot(&["usage", "--json", "--postgres-url", &url])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows[0]["prompt_tokens"], 7);
    assert_eq!(rows[0]["completion_tokens"], 3);

    let o = output(ingot(&["keys", "revoke", &id, "--postgres-url", &url])).await;
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(store.authenticate(&secret).await.unwrap().is_none());

    // Both stores at once is a mistake, said so.
    let o = output(ingot(&[
        "keys",
        "list",
        "--db",
        "/tmp/x.db",
        "--postgres-url",
        &url,
    ]))
    .await;
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}
