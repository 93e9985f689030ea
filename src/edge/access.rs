//! Who is calling the admin API: the bearer token (a named service identity)
//! or a person behind Cloudflare Access (`Cf-Access-Jwt-Assertion`).
//!
//! The Access token's RS256 signature is checked here with the runtime's
//! WebCrypto (`crypto.subtle.importKey` of the team's JWK, then `verify` with
//! RSASSA-PKCS1-v1_5 / SHA-256): an RSA crate would cost bundle size the
//! Worker does not have. Everything else (claims, roles, what a role may do)
//! is the core's ([`crate::access`]). The team's keys are fetched from its
//! certs URL (`ACCESS_CERTS_URL` overrides it, for tests on loopback), kept
//! in the isolate for an hour, and fetched again when a token names a key id
//! the cache does not have, at most every [`REFETCH_MS`].

use std::cell::RefCell;

use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{console_error, console_log, Env, Request, Response, Result};

use crate::access::jwt::{self, AccessConfig, Signature};
use crate::access::roles::RoleTable;
use crate::access::{Identity, IdentityKind, Role};
use crate::auth::{check_bearer, Auth};

/// Secret holding the admin (service) token.
pub const ADMIN_TOKEN: &str = "EDGESEG_ADMIN_TOKEN";
/// The header Cloudflare Access adds to every request it lets through.
pub const ACCESS_HEADER: &str = "cf-access-jwt-assertion";
/// Keys are re-read after this long even when every `kid` is known.
const KEYS_TTL_MS: f64 = 3_600_000.0;
/// An unknown `kid` fetches the keys again at most this often, so tokens
/// with made-up key ids can not make the Worker hammer the certs URL.
const REFETCH_MS: f64 = 30_000.0;

struct KeyCache {
    url: String,
    fetched_ms: f64,
    keys: Vec<(String, JsValue)>,
}

thread_local! {
    static KEYS: RefCell<Option<KeyCache>> = const { RefCell::new(None) };
}

/// The caller, or the reply that refuses them (401 or 403).
pub async fn identify(req: &Request, env: &Env) -> Result<std::result::Result<Identity, Response>> {
    let headers = req.headers();
    let bearer = headers.get("authorization")?;
    let token = super::secret(env, ADMIN_TOKEN).unwrap_or_default();
    match check_bearer(bearer.as_deref(), &token) {
        Auth::Granted => return Ok(Ok(service_identity(env))),
        Auth::Wrong => {
            console_log!(
                "edgeseg admin: refused a wrong token for {:?} {}",
                req.method(),
                req.path()
            );
            return refuse(403, "that admin token is not valid");
        }
        Auth::Missing => {}
    }
    let Some(assertion) = headers.get(ACCESS_HEADER)?.filter(|a| !a.trim().is_empty()) else {
        return refuse(
            401,
            "sign in: open the admin through Cloudflare Access, or send Authorization: Bearer <admin token>",
        );
    };
    let Some(config) = access_config(env) else {
        return refuse(
            401,
            "this Worker is not set up for Cloudflare Access (set ACCESS_TEAM_DOMAIN and ACCESS_AUD); sign in with the admin token",
        );
    };
    let claimed = match verify(&assertion, &config, env).await {
        Ok(c) => c,
        Err(e) => {
            // The reason, never the token: a logged token could be replayed.
            console_log!(
                "edgeseg admin: refused an Access token for {:?} {}: {e}",
                req.method(),
                req.path()
            );
            return refuse(403, &e.to_string());
        }
    };
    let table = match super::rules_cache::current(env).await {
        Some(rules) => rules.settings.admin.clone(),
        // Before any rules: the document's defaults (people are viewers).
        None => RoleTable {
            members: Vec::new(),
            default_role: Some(Role::Viewer),
        },
    };
    let (id, kind) = match &claimed.subject {
        jwt::Subject::Email(e) => (e.clone(), IdentityKind::Person),
        jwt::Subject::ServiceToken(cn) => (format!("service:{cn}"), IdentityKind::AccessService),
    };
    let Some(role) = table.resolve(&claimed) else {
        console_log!("edgeseg admin: {id} signed in through Access but has no role");
        return refuse(
            403,
            &format!("{id} has no role in this admin: a publisher can add you to settings.admin in the rules"),
        );
    };
    Ok(Ok(Identity {
        id,
        kind,
        role,
        groups: claimed.groups,
    }))
}

fn refuse(status: u16, message: &str) -> Result<std::result::Result<Identity, Response>> {
    super::error_reply(status, message).map(Err)
}

/// The bearer token's identity: `service:<EDGESEG_ADMIN_TOKEN_NAME>` (default
/// `service:admin-token`) with the role `EDGESEG_ADMIN_TOKEN_ROLE` (default
/// `publisher`, what scripts that deploy rules need; an unreadable value
/// means `viewer`, the least, and is logged).
fn service_identity(env: &Env) -> Identity {
    let var = |name: &str| {
        env.var(name)
            .ok()
            .map(|v| v.to_string())
            .filter(|v| !v.trim().is_empty())
    };
    let name = var("EDGESEG_ADMIN_TOKEN_NAME").unwrap_or_else(|| "admin-token".into());
    let role = match var("EDGESEG_ADMIN_TOKEN_ROLE") {
        None => Role::Publisher,
        Some(r) => Role::parse(&r).unwrap_or_else(|| {
            console_error!(
                "edgeseg admin: EDGESEG_ADMIN_TOKEN_ROLE is {r:?}, not viewer, editor or publisher; the token is a viewer"
            );
            Role::Viewer
        }),
    };
    Identity {
        id: format!("service:{}", name.trim()),
        kind: IdentityKind::Service,
        role,
        groups: Vec::new(),
    }
}

fn access_config(env: &Env) -> Option<AccessConfig> {
    let var = |name: &str| env.var(name).map(|v| v.to_string()).unwrap_or_default();
    AccessConfig::new(&var("ACCESS_TEAM_DOMAIN"), &var("ACCESS_AUD"))
}

async fn verify(
    assertion: &str,
    config: &AccessConfig,
    env: &Env,
) -> std::result::Result<jwt::Claimed, jwt::TokenError> {
    let token = jwt::decode(assertion)?;
    let now = super::now_secs();
    if !token.is_rs256() {
        return token.check(Signature::Invalid, config, now);
    }
    let url = env
        .var("ACCESS_CERTS_URL")
        .map(|v| v.to_string())
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| config.certs_url());
    let verdict = match key_for(&url, token.kid()).await {
        None => Signature::UnknownKey,
        Some(key) => match rsa_verify(&key, token.signature(), token.signed_bytes()).await {
            Ok(true) => Signature::Valid,
            Ok(false) => Signature::Invalid,
            Err(e) => {
                console_error!("edgeseg admin: WebCrypto could not verify an Access token: {e:?}");
                Signature::Invalid
            }
        },
    };
    token.check(verdict, config, now)
}

/// The imported key for `kid`, from the cache or a fresh read of the certs.
async fn key_for(url: &str, kid: &str) -> Option<JsValue> {
    let now = super::now_millis();
    let (cached, fetch) = KEYS.with(|k| match k.borrow().as_ref() {
        Some(c) if c.url == url => {
            let key = c
                .keys
                .iter()
                .find(|(id, _)| id == kid)
                .map(|(_, k)| k.clone());
            let age = now - c.fetched_ms;
            let fetch = age > KEYS_TTL_MS || (key.is_none() && age > REFETCH_MS);
            (key, fetch)
        }
        _ => (None, true),
    });
    if !fetch {
        return cached;
    }
    match fetch_keys(url).await {
        Ok(keys) => {
            let key = keys
                .iter()
                .find(|(id, _)| id == kid)
                .map(|(_, k)| k.clone());
            KEYS.with(|k| {
                *k.borrow_mut() = Some(KeyCache {
                    url: url.to_string(),
                    fetched_ms: now,
                    keys,
                })
            });
            key
        }
        Err(e) => {
            console_error!("edgeseg admin: reading the Access keys from {url}: {e}");
            // Keep what we had; note the attempt so a broken certs URL is
            // not fetched on every request.
            KEYS.with(|k| {
                let mut k = k.borrow_mut();
                match k.as_mut() {
                    Some(c) if c.url == url => c.fetched_ms = now - KEYS_TTL_MS + REFETCH_MS,
                    _ => {
                        *k = Some(KeyCache {
                            url: url.to_string(),
                            fetched_ms: now - KEYS_TTL_MS + REFETCH_MS,
                            keys: Vec::new(),
                        })
                    }
                }
            });
            cached
        }
    }
}

async fn fetch_keys(url: &str) -> std::result::Result<Vec<(String, JsValue)>, String> {
    let js = |e: JsValue| format!("{e:?}");
    let request = web_sys::Request::new_with_str(url).map_err(js)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response = JsFuture::from(global.fetch_with_request(&request))
        .await
        .map_err(js)?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("status {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(js)?)
        .await
        .map_err(js)?
        .as_string()
        .unwrap_or_default();
    let mut keys = Vec::new();
    for jwk in jwt::parse_jwks(&text)? {
        keys.push((
            jwk.kid.clone(),
            import_key(&jwk.import_json()).await.map_err(js)?,
        ));
    }
    Ok(keys)
}

fn algorithm() -> Object {
    let a = Object::new();
    let _ = Reflect::set(&a, &"name".into(), &"RSASSA-PKCS1-v1_5".into());
    let _ = Reflect::set(&a, &"hash".into(), &"SHA-256".into());
    a
}

/// Calls `crypto.subtle[method](...args)` and awaits its promise.
async fn subtle(method: &str, args: &[JsValue]) -> std::result::Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    let subtle = Reflect::get(&crypto, &"subtle".into())?;
    let f: Function = Reflect::get(&subtle, &method.into())?.dyn_into()?;
    let list = Array::new();
    for a in args {
        list.push(a);
    }
    let promise: Promise = f.apply(&subtle, &list)?.dyn_into()?;
    JsFuture::from(promise).await
}

async fn import_key(jwk_json: &str) -> std::result::Result<JsValue, JsValue> {
    let jwk = js_sys::JSON::parse(jwk_json)?;
    let usages = Array::new();
    usages.push(&"verify".into());
    subtle(
        "importKey",
        &[
            "jwk".into(),
            jwk,
            algorithm().into(),
            false.into(),
            usages.into(),
        ],
    )
    .await
}

async fn rsa_verify(
    key: &JsValue,
    signature: &[u8],
    data: &[u8],
) -> std::result::Result<bool, JsValue> {
    let verdict = subtle(
        "verify",
        &[
            algorithm().into(),
            key.clone(),
            Uint8Array::from(signature).into(),
            Uint8Array::from(data).into(),
        ],
    )
    .await?;
    Ok(verdict.as_bool() == Some(true))
}
