//! Per-key limits in Redis, shared by every instance: the same decisions as
//! [`ingot_keys::Limiter`] (sliding one-minute windows; tokens charged when a request ends;
//! the slowest refusing limit says how long to wait), made by one atomic script each.
//!
//! Per key, three sorted sets (one hash tag, so a cluster keeps them on one shard):
//! - `…:req`: one member per admitted request, scored by its time;
//! - `…:tok`: one member per charge, `ID:TOKENS`, scored by its time;
//! - `…:run`: one member per request in flight, scored by when its lease ends. A request
//!   ends by removing it; an instance that dies without doing so loses its slots when
//!   their lease ends ([`LEASE`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ingot_keys::{Denied, Limits, RateInfo};

use crate::StateError;
use crate::redis::{Redis, Script, Target};
use crate::resp::Value;

/// The window of requests and tokens per minute.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a slot of the concurrency limit is held when its request never says it ended
/// (its instance died).
pub const LEASE: Duration = Duration::from_secs(600);

/// KEYS: req, tok, run. ARGV: window ms, rpm, tpm, concurrency (-1: none), member, lease
/// ms. Returns {denied (0 none, 1 requests, 2 tokens, 3 concurrency), wait ms, requests in
/// the window, tokens in the window, ms until the oldest request leaves it, the same for
/// tokens}.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local win = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local conc = tonumber(ARGV[4])
local lease = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - win)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local reqs = redis.call('ZCARD', KEYS[1])
local charges = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local tokens = 0
for i = 1, #charges, 2 do
  tokens = tokens + tonumber(string.match(charges[i], '(%d+)$'))
end
local function left_in(score)
  return math.max(0, tonumber(score) + win - now)
end
local denied = 0
local wait = -1
if rpm >= 0 and reqs >= rpm then
  local e = redis.call('ZRANGE', KEYS[1], reqs - rpm, reqs - rpm, 'WITHSCORES')
  local w = 0
  if #e > 0 then w = left_in(e[2]) end
  if w > wait then denied = 1; wait = w end
end
if tpm >= 0 and tokens >= tpm then
  local left = tokens
  local w = 0
  for i = 1, #charges, 2 do
    left = left - tonumber(string.match(charges[i], '(%d+)$'))
    if left < tpm then w = left_in(charges[i + 1]); break end
  end
  if w > wait then denied = 2; wait = w end
end
-- Only concurrency refusing: a slot frees when a request ends; try again in a second.
if conc >= 0 and redis.call('ZCARD', KEYS[3]) >= conc then
  if 1000 > wait then denied = 3; wait = 1000 end
end
if denied == 0 then
  wait = 0
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], win)
  if conc >= 0 then
    redis.call('ZADD', KEYS[3], now + lease, ARGV[5])
    redis.call('PEXPIRE', KEYS[3], lease)
  end
  reqs = reqs + 1
end
local reset_req = 0
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first > 0 then reset_req = left_in(first[2]) end
local reset_tok = 0
if #charges > 0 then reset_tok = left_in(charges[2]) end
return {denied, wait, reqs, tokens, reset_req, reset_tok}
";

/// KEYS: tok. ARGV: member (`ID:TOKENS`), window ms.
const CHARGE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
";

/// A refusal: which limit, how long until the request would be admitted, the headers.
pub type Refusal = (Denied, Duration, RateInfo);

/// Per-key limits kept in Redis.
#[derive(Debug)]
pub struct SharedLimiter {
    redis: Redis,
    admit: Script,
    charge: Script,
    /// Makes members unique across instances.
    instance: String,
    seq: AtomicU64,
    /// Decisions and charges that failed (Redis away, slow or refusing).
    failures: AtomicU64,
}

/// An admitted request; dropping it frees its concurrency slot (in the background).
#[derive(Debug)]
pub struct SharedPermit {
    limiter: Arc<SharedLimiter>,
    run_key: Option<String>,
    member: String,
}

impl Drop for SharedPermit {
    fn drop(&mut self) {
        let Some(run_key) = self.run_key.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime (shutting down): the lease frees the slot.
            return;
        };
        let limiter = Arc::clone(&self.limiter);
        let member = std::mem::take(&mut self.member);
        rt.spawn(async move {
            let zrem: [&[u8]; 3] = [b"ZREM", run_key.as_bytes(), member.as_bytes()];
            if let Err(e) = limiter.redis.command(&zrem).await {
                tracing::warn!("a concurrency slot stays taken until its lease ends: {e}");
            }
        });
    }
}

impl SharedLimiter {
    /// A limiter on the Redis server at `url` (`redis://[[user]:password@]host[:port][/db]`);
    /// each decision waits at most `timeout`. Nothing connects until the first one.
    ///
    /// # Errors
    /// [`StateError::Config`] for a bad URL.
    pub fn new(url: &str, timeout: Duration) -> Result<Arc<Self>, StateError> {
        let mut id = [0u8; 6];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| StateError::Config("the system random number generator failed".into()))?;
        Ok(Arc::new(Self {
            redis: Redis::new(url, timeout)?,
            admit: Script::new(ADMIT),
            charge: Script::new(CHARGE),
            instance: id.iter().map(|b| format!("{b:02x}")).collect(),
            seq: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }))
    }

    /// Decisions and charges that failed since start (for metrics; `ping` is not counted).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn counted<T>(&self, r: Result<T, StateError>) -> Result<T, StateError> {
        if r.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// Where it keeps its state.
    pub fn target(&self) -> &Target {
        self.redis.target()
    }

    /// Whether Redis answers (`PING`), for readiness checks.
    ///
    /// # Errors
    /// As [`Redis::command`].
    pub async fn ping(&self) -> Result<(), StateError> {
        self.redis.command(&[b"PING"]).await.map(|_| ())
    }

    fn member(&self) -> String {
        format!(
            "{}-{}",
            self.instance,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Admits a request of `key` now, across every instance, or says which limit refuses it.
    ///
    /// # Errors
    /// The outer error: Redis could not decide (down, slow, refused the script). The inner
    /// one: the refusal.
    pub async fn admit(
        self: &Arc<Self>,
        key: &str,
        limits: &Limits,
    ) -> Result<Result<(SharedPermit, RateInfo), Refusal>, StateError> {
        let [req, tok, run] = keys(key);
        let member = self.member();
        let limit = |l: Option<u32>| l.map_or_else(|| "-1".to_owned(), |n| n.to_string());
        let window = WINDOW.as_millis().to_string();
        let lease = LEASE.as_millis().to_string();
        let args = [
            window.as_str(),
            &limit(limits.rpm),
            &limit(limits.tpm),
            &limit(limits.concurrency),
            &member,
            &lease,
        ];
        let reply = self
            .redis
            .eval(&self.admit, &[&req, &tok, &run], &args)
            .await;
        let reply = self.counted(reply)?;
        let d = self.counted(Decision::from_reply(&reply))?;
        let info = d.info(limits);
        if let Some(denied) = d.denied {
            return Ok(Err((denied, d.wait, info)));
        }
        let permit = SharedPermit {
            limiter: Arc::clone(self),
            run_key: limits.concurrency.map(|_| run),
            member,
        };
        Ok(Ok((permit, info)))
    }

    /// Charges `tokens` (prompt + completion) to `key` now.
    ///
    /// # Errors
    /// Redis could not record it.
    pub async fn charge(&self, key: &str, tokens: u64) -> Result<(), StateError> {
        if tokens == 0 {
            return Ok(());
        }
        let [_, tok, _] = keys(key);
        let member = format!("{}:{tokens}", self.member());
        let window = WINDOW.as_millis().to_string();
        let r = self
            .redis
            .eval(&self.charge, &[&tok], &[&member, &window])
            .await;
        self.counted(r).map(|_| ())
    }
}

/// The three sorted sets of a key, under one hash tag.
fn keys(key: &str) -> [String; 3] {
    // `{` and `}` in a key id would change the hash tag: keep ids to their safe form.
    let id: String = key
        .chars()
        .map(|c| if c == '{' || c == '}' { '_' } else { c })
        .collect();
    ["req", "tok", "run"].map(|s| format!("ingot:limits:{{{id}}}:{s}"))
}

/// The admit script's answer.
#[derive(Debug, PartialEq, Eq)]
struct Decision {
    denied: Option<Denied>,
    wait: Duration,
    requests: u64,
    tokens: u64,
    reset_requests: Duration,
    reset_tokens: Duration,
}

impl Decision {
    fn from_reply(v: &Value) -> Result<Self, StateError> {
        let bad = || StateError::Protocol(format!("the limit script answered {v:?}"));
        let Value::Array(items) = v else {
            return Err(bad());
        };
        let n: Vec<i64> = items
            .iter()
            .map(Value::as_int)
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        let [denied, wait, requests, tokens, reset_req, reset_tok] = n[..] else {
            return Err(bad());
        };
        let ms = |n: i64| Duration::from_millis(u64::try_from(n).unwrap_or(0));
        let denied = match denied {
            0 => None,
            1 => Some(Denied::Requests),
            2 => Some(Denied::Tokens),
            3 => Some(Denied::Concurrency),
            _ => return Err(bad()),
        };
        Ok(Self {
            denied,
            wait: ms(wait),
            requests: u64::try_from(requests).unwrap_or(0),
            tokens: u64::try_from(tokens).unwrap_or(0),
            reset_requests: ms(reset_req),
            reset_tokens: ms(reset_tok),
        })
    }

    fn info(&self, limits: &Limits) -> RateInfo {
        RateInfo {
            limit_requests: limits.rpm,
            remaining_requests: limits
                .rpm
                .map(|l| u32::try_from(u64::from(l).saturating_sub(self.requests)).unwrap_or(0)),
            reset_requests: self.reset_requests,
            limit_tokens: limits.tpm,
            remaining_tokens: limits
                .tpm
                .map(|l| u32::try_from(u64::from(l).saturating_sub(self.tokens)).unwrap_or(0)),
            reset_tokens: self.reset_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_one_hash_tag() {
        assert_eq!(
            keys("key_1"),
            [
                "ingot:limits:{key_1}:req",
                "ingot:limits:{key_1}:tok",
                "ingot:limits:{key_1}:run"
            ]
        );
        assert_eq!(keys("a}b")[0], "ingot:limits:{a_b}:req");
    }

    #[test]
    fn replies_become_decisions_and_headers() {
        let reply = Value::Array([2, 29_000, 3, 110, 50_000, 29_000].map(Value::Int).to_vec());
        let d = Decision::from_reply(&reply).unwrap();
        assert_eq!(d.denied, Some(Denied::Tokens));
        assert_eq!(d.wait, Duration::from_secs(29));
        let info = d.info(&Limits {
            rpm: Some(10),
            tpm: Some(100),
            concurrency: None,
        });
        assert_eq!(info.remaining_requests, Some(7));
        assert_eq!(info.remaining_tokens, Some(0));
        assert_eq!(info.reset_requests, Duration::from_secs(50));
        for bad in [
            Value::Int(1),
            Value::Array(vec![Value::Int(0)]),
            Value::Array([9, 0, 0, 0, 0, 0].map(Value::Int).to_vec()),
        ] {
            assert!(Decision::from_reply(&bad).is_err());
        }
    }
}
