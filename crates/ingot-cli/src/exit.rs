//! Exit codes and error messages in the reference's terms ("Error Codes": 401 → check
//! NVIDIA_API_KEY, 404 → verify URL and model id, 422 → check the request, 429 → wait and retry).

use ingot_client::ClientError;

/// Any other failure.
pub const OTHER: u8 = 1;
/// 401/403.
pub const AUTH: u8 = 3;
/// 404.
pub const NOT_FOUND: u8 = 4;
/// 400/413/415/422.
pub const INVALID: u8 = 5;
/// 429 after the retries.
pub const RATE_LIMITED: u8 = 6;
/// 5xx.
pub const SERVER: u8 = 7;
/// Connection failure or timeout.
pub const CONNECTION: u8 = 8;

/// The exit code and the message to print for a client error.
pub fn describe(e: &ClientError) -> (u8, String) {
    match e {
        ClientError::Api(api) => {
            let (status, retries) = (&api.status, api.retries);
            let hint = match status {
                401 | 403 => {
                    "check NVIDIA_API_KEY (or --api-key): the server did not accept the key"
                        .to_owned()
                }
                404 => "check the model id (`ingot models` lists them) and the base URL".to_owned(),
                400 | 413 | 415 | 422 => "the request was invalid; see the detail above".to_owned(),
                429 => {
                    format!("rate limited: waited and retried {retries} time(s); try again later")
                }
                501 => "the server has nothing to serve this model with; see the detail above"
                    .to_owned(),
                s if *s >= 500 => format!("the server failed (retried {retries} time(s))"),
                _ => String::new(),
            };
            let code = match status {
                401 | 403 => AUTH,
                404 => NOT_FOUND,
                400 | 413 | 415 | 422 => INVALID,
                429 => RATE_LIMITED,
                s if *s >= 500 => SERVER,
                _ => OTHER,
            };
            let msg = if hint.is_empty() {
                e.to_string()
            } else {
                format!("{e}\nhint: {hint}")
            };
            (code, msg)
        }
        ClientError::Connection { .. } | ClientError::Timeout { .. } => (
            CONNECTION,
            format!("{e}\nhint: is the server running? check --base-url / NVIDIA_BASE_URL"),
        ),
        other => (OTHER, other.to_string()),
    }
}

/// A failure of a client command: an API error (mapped to its exit code by [`describe`]) or
/// anything else ([`OTHER`]).
pub enum Failure {
    Client(ClientError),
    Other(anyhow::Error),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.into())
    }
}

/// What the client commands return.
pub type Result<T> = std::result::Result<T, Failure>;
