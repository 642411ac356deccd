//! actix-web integration: RFC 6750 responses, the extractor, and scope
//! requirements on a guard, a route, and inside a handler.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{App, HttpResponse, test, web};
use common::*;
use resource_guard::{Authenticated, Guard, InProcessKeys, ManualClock, RequireScope, Validator};
use serde_json::json;

fn validator(key: &TestKey) -> Validator {
    Validator::builder(ISSUER)
        .audience(AUDIENCE)
        .key_source(Arc::new(InProcessKeys::from_jwk_set(&jwks(&[key]))))
        .clock(Arc::new(ManualClock::new(NOW)))
        .build()
        .unwrap()
}

async fn whoami(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.sub, "scope": auth.scope, "sid": auth.sid }))
}

async fn in_handler(auth: Authenticated) -> Result<HttpResponse, resource_guard::ValidationError> {
    auth.require_scope("reports")?;
    Ok(HttpResponse::Ok().finish())
}

macro_rules! app {
    ($v:expr) => {
        test::init_service(
            App::new()
                .route(
                    "/public",
                    web::get().to(|| async { HttpResponse::Ok().body("hi") }),
                )
                .route("/unguarded-claims", web::get().to(whoami))
                .service(
                    web::scope("/api")
                        .wrap(Guard::new($v.clone()))
                        .route("/whoami", web::get().to(whoami))
                        .route("/reports", web::get().to(in_handler))
                        .service(
                            web::resource("/admin")
                                .wrap(RequireScope::new("admin"))
                                .route(web::get().to(whoami)),
                        ),
                )
                .service(
                    web::scope("/billing")
                        .wrap(Guard::new($v.clone()).require_scope("billing"))
                        .route("", web::get().to(whoami)),
                ),
        )
        .await
    };
}

fn get(path: &str, auth: &[&str]) -> actix_http::Request {
    let mut req = test::TestRequest::get().uri(path);
    for value in auth {
        req = req.append_header((AUTHORIZATION, *value));
    }
    req.to_request()
}

fn challenge(res: &actix_web::dev::ServiceResponse) -> String {
    res.headers()
        .get(WWW_AUTHENTICATE)
        .map(|h| h.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[actix_rt::test]
async fn valid_tokens_reach_handlers_with_their_claims() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    let bearer = format!("Bearer {}", key.token(&claims()));
    let res = test::call_service(&app, get("/api/whoami", &[&bearer])).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = test::read_body_json(res).await;
    assert_eq!(
        body,
        json!({"sub": "user-1", "scope": "orders:read admin", "sid": "session-1"})
    );

    let res = test::call_service(&app, get("/public", &[])).await;
    assert_eq!(
        res.status(),
        200,
        "routes outside the guarded scope stay open"
    );
}

#[actix_rt::test]
async fn requests_without_a_bearer_token_get_a_bare_challenge() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    for auth in [&[][..], &["Basic dXNlcjpwYXNz"][..]] {
        let res = test::call_service(&app, get("/api/whoami", auth)).await;
        assert_eq!(res.status(), 401);
        assert_eq!(challenge(&res), "Bearer");
    }
}

#[actix_rt::test]
async fn malformed_authorization_headers_get_invalid_request() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    let token = key.token(&claims());
    let two = [format!("Bearer {token}"), format!("Bearer {token}")];
    let cases: Vec<Vec<String>> = vec![
        vec!["Bearer".into()],
        vec!["Bearer ".into()],
        vec![format!("Bearer {token} extra")],
        vec![format!("Bearer {token},x")],
        two.to_vec(),
    ];
    for auth in cases {
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        let res = test::call_service(&app, get("/api/whoami", &auth)).await;
        assert_eq!(res.status(), 400, "{auth:?}");
        assert!(challenge(&res).starts_with("Bearer error=\"invalid_request\""));
    }
}

#[actix_rt::test]
async fn bad_tokens_get_invalid_token_with_a_fixed_description() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    let expired = format!("Bearer {}", key.token(&with("exp", json!(NOW - 100))));
    let res = test::call_service(&app, get("/api/whoami", &[&expired])).await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        challenge(&res),
        "Bearer error=\"invalid_token\", error_description=\"token expired\""
    );
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
}

#[actix_rt::test]
async fn scopes_are_required_per_route_per_guard_and_in_handlers() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    let admin = format!("Bearer {}", key.token(&claims()));
    let reader = format!("Bearer {}", key.token(&with("scope", json!("orders:read"))));
    let billing = format!(
        "Bearer {}",
        key.token(&with("scope", json!("billing reports")))
    );

    let cases = [
        ("/api/admin", &admin, 200, None),
        ("/api/admin", &reader, 403, Some("admin")),
        ("/billing", &billing, 200, None),
        ("/billing", &admin, 403, Some("billing")),
        ("/api/reports", &billing, 200, None),
        ("/api/reports", &reader, 403, Some("reports")),
    ];
    for (path, bearer, status, scope) in cases {
        let res = test::call_service(&app, get(path, &[bearer])).await;
        assert_eq!(res.status(), status, "{path}");
        if let Some(scope) = scope {
            let c = challenge(&res);
            assert!(c.starts_with("Bearer error=\"insufficient_scope\""), "{c}");
            assert!(c.ends_with(&format!("scope=\"{scope}\"")), "{c}");
        }
    }
}

#[actix_rt::test]
async fn the_extractor_without_a_guard_is_a_server_error_not_an_open_door() {
    let key = TestKey::ed25519("k1");
    let app = app!(validator(&key));
    let bearer = format!("Bearer {}", key.token(&claims()));
    let res = test::call_service(&app, get("/unguarded-claims", &[&bearer])).await;
    assert_eq!(res.status(), 500);
}
