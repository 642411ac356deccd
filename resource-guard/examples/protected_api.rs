//! A small API protected by resource-guard.
//!
//! ```text
//! cargo run -p resource-guard --example protected_api -- \
//!     --issuer http://127.0.0.1:8080 --audience orders-api --bind 127.0.0.1:9090
//! ```
//!
//! - `GET /whoami`: any valid access token; returns `sub`, `scope`, `sid`.
//! - `GET /admin`: requires the `admin` scope.
//! - `GET /healthz`: open.
//!
//! Once listening it prints `listening on http://ADDR` on stdout, so that a
//! script (or a test) binding port 0 can find it.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use clap::Parser;
use resource_guard::{Authenticated, Guard, JwksCache, RequireScope, Validator};
use serde_json::json;

/// Command-line arguments.
#[derive(Parser, Debug)]
struct Args {
    /// The token issuer's URL; keys come from its /.well-known/jwks.json.
    #[arg(long)]
    issuer: String,
    /// The audience this API accepts.
    #[arg(long)]
    audience: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    bind: SocketAddr,
    /// JWKS URL, when it is not at the issuer's well-known path.
    #[arg(long)]
    jwks_url: Option<String>,
}

async fn whoami(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.sub, "scope": auth.scope, "sid": auth.sid }))
}

async fn admin(auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sub": auth.sub, "admin": true }))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();

    let jwks_url = args
        .jwks_url
        .clone()
        .unwrap_or_else(|| format!("{}{}", args.issuer.trim_end_matches('/'), shared::JWKS_PATH));
    let keys = JwksCache::builder(jwks_url).start()?;
    if !keys.wait_until_loaded(Duration::from_secs(10)).await {
        tracing::warn!("JWKS not loaded yet; protected routes return 503 until a fetch succeeds");
    }
    let validator = Validator::builder(&args.issuer)
        .audience(&args.audience)
        .key_source(keys)
        .build()?;

    let server = HttpServer::new(move || {
        App::new()
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok") }),
            )
            .service(
                web::scope("")
                    .wrap(Guard::new(validator.clone()))
                    .route("/whoami", web::get().to(whoami))
                    .service(
                        web::resource("/admin")
                            .wrap(RequireScope::new("admin"))
                            .route(web::get().to(admin)),
                    ),
            )
    })
    .workers(2)
    .bind(args.bind)?;

    for addr in server.addrs() {
        #[allow(
            clippy::print_stdout,
            reason = "the bound address is this program's output"
        )]
        {
            println!("listening on http://{addr}");
        }
    }
    server.run().await?;
    Ok(())
}
