//! The Worker's admin API (`/__edgeseg/admin/api/...`) from the command line,
//! with the admin token: what `edgeseg retrain` reads (the rules in force,
//! the export's objects) and writes (a draft). One blocking client (ureq,
//! HTTPS with rustls) and one error type whose messages say what to check.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// How long one call may take before the Worker counts as down.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Why a call to the Worker failed.
#[derive(Debug)]
pub enum ApiError {
    /// No answer: refused connection, unknown host, TLS, timeout.
    Unreachable { url: String, why: String },
    /// 401 or 403: the token is wrong, or its role may not do this.
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    /// Any other answer that is not a success.
    Failed {
        what: String,
        status: u16,
        message: String,
    },
    /// A success whose body is not what the API sends.
    Malformed { what: String, why: String },
    /// A local file could not be written.
    Local { path: String, why: String },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable { url, why } => write!(
                f,
                "cannot reach the Worker at {url}: {why} (check --worker: the site's address, \
                 e.g. https://shop.example.com, or http://127.0.0.1:8787 for `make dev`)"
            ),
            ApiError::Refused {
                url,
                status: 401,
                message,
            } => write!(
                f,
                "the Worker at {url} asks for the admin token (401: {message}); pass --token or set EDGESEG_ADMIN_TOKEN"
            ),
            ApiError::Refused {
                url,
                status,
                message,
            } => write!(
                f,
                "the Worker at {url} refused the admin token ({status}: {message}); check that it is the Worker's EDGESEG_ADMIN_TOKEN, and that its role (EDGESEG_ADMIN_TOKEN_ROLE) may do this (a retrain's draft needs an editor, an erasure a publisher)"
            ),
            ApiError::Failed {
                what,
                status,
                message,
            } => write!(f, "{what}: the Worker answered {status}: {message}"),
            ApiError::Malformed { what, why } => write!(
                f,
                "{what}: the answer is not what the admin API sends ({why}); is --worker an edgeseg Worker?"
            ),
            ApiError::Local { path, why } => write!(f, "cannot write {path}: {why}"),
        }
    }
}

/// A client for one Worker and token.
pub struct AdminApi {
    /// The site's origin, no trailing slash.
    pub base: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminApi {
    pub fn new(base: &str, token: &str) -> AdminApi {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .user_agent(concat!("edgeseg/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        AdminApi {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/__edgeseg/admin/api/{path}", self.base)
    }

    fn unreachable(&self, e: &ureq::Error) -> ApiError {
        ApiError::Unreachable {
            url: self.base.clone(),
            why: e.to_string(),
        }
    }

    /// A non-success answer as an error; its JSON `error` (or its text) as the message.
    fn refusal(&self, what: &str, status: u16, body: &str) -> ApiError {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                let t = body.trim();
                if t.is_empty() {
                    "(no message)".into()
                } else {
                    t.chars().take(300).collect()
                }
            });
        if status == 401 || status == 403 {
            ApiError::Refused {
                url: self.base.clone(),
                status,
                message,
            }
        } else {
            ApiError::Failed {
                what: what.to_string(),
                status,
                message,
            }
        }
    }

    /// `GET path`: the answer, whatever its status.
    fn get(&self, path: &str) -> Result<(u16, ureq::http::Response<ureq::Body>), ApiError> {
        let res = self
            .agent
            .get(&self.url(path))
            .header("authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| self.unreachable(&e))?;
        Ok((res.status().as_u16(), res))
    }

    /// `GET path`, answered with JSON.
    pub fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        let what = format!("GET {path}");
        let (status, mut res) = self.get(path)?;
        let body = res
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(self.refusal(&what, status, &body));
        }
        serde_json::from_str(&body).map_err(|e| ApiError::Malformed {
            what,
            why: e.to_string(),
        })
    }

    /// `GET path` saved to `file` as it comes (an export object's gzip
    /// bytes, never held in memory whole); the bytes written.
    pub fn get_to_file(&self, path: &str, file: &Path) -> Result<u64, ApiError> {
        let what = format!("GET {path}");
        let (status, mut res) = self.get(path)?;
        if !(200..300).contains(&status) {
            let body = res.body_mut().read_to_string().unwrap_or_default();
            return Err(self.refusal(&what, status, &body));
        }
        let local = |e: std::io::Error| ApiError::Local {
            path: file.display().to_string(),
            why: e.to_string(),
        };
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(local)?;
        }
        let mut out = std::fs::File::create(file).map_err(local)?;
        let mut reader = res.into_body().into_reader();
        let n = std::io::copy(&mut reader, &mut out).map_err(|e| ApiError::Unreachable {
            url: self.base.clone(),
            why: format!("the answer to {what} broke off: {e}"),
        })?;
        out.flush().map_err(local)?;
        Ok(n)
    }

    /// `POST path` with a JSON body: the status and the JSON answer
    /// (a refused token or a non-JSON answer is an error; other statuses
    /// are the caller's to read, e.g. 422 with the rules' errors).
    pub fn post_json(&self, path: &str, body: &Value) -> Result<(u16, Value), ApiError> {
        let what = format!("POST {path}");
        let mut res = self
            .agent
            .post(&self.url(path))
            .header("authorization", &format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| self.unreachable(&e))?;
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        if status == 401 || status == 403 {
            return Err(self.refusal(&what, status, &text));
        }
        match serde_json::from_str(&text) {
            Ok(v) => Ok((status, v)),
            Err(_) if !(200..300).contains(&status) => Err(self.refusal(&what, status, &text)),
            Err(e) => Err(ApiError::Malformed {
                what,
                why: e.to_string(),
            }),
        }
    }
}

/// Percent-encodes a query value (the export's keys and cursors).
pub fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
