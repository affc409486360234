//! Reference server for the benchmarks: what actix-web itself does with the same bodies.
//!
//! A minimal actix-web server (the project's actix-web, same worker option, no logging, no
//! middleware) answering from memory with bodies captured from a running telemetryd:
//!
//! | route | files in `--dir` |
//! |---|---|
//! | `GET /small` | `small.body`, `small.type` |
//! | `GET /counters` | `counters.body`, `counters.type`, optional `counters.body.gz` |
//! | `GET /telemetry/` | `telemetry.body`, `telemetry.type`, optional `telemetry.body.gz` |
//! | `GET /telemetry/{switch_id}/{metric}` | the `small` body again, whatever the parameters |
//!
//! The last route costs what actix-web's router charges for a path with two dynamic
//! segments (a regex match), which telemetryd's `/telemetry/{switch_id}/{metric}` pays too
//! and the static `/small` does not.
//!
//! `*.body` are the exact bytes telemetryd sent, `*.type` its `Content-Type` value,
//! `*.body.gz` the bytes it sent with `Content-Encoding: gzip`. A request whose
//! `Accept-Encoding` contains `gzip` gets the gzip bytes (with `Content-Encoding: gzip`)
//! when they were captured.
//!
//! ```sh
//! cargo run --release --example baseline -- --dir bench/out/bodies-10000 --port 18090 --workers 2
//! ```

use std::path::{Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bytes::Bytes;
use clap::Parser;

/// Serves captured telemetryd bodies from memory.
#[derive(Parser, Debug)]
struct Args {
    /// Directory holding the captured bodies (see the module documentation).
    #[arg(long)]
    dir: PathBuf,
    /// TCP port on 127.0.0.1.
    #[arg(long, default_value_t = 18090)]
    port: u16,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

/// One route's bodies and content type.
#[derive(Clone)]
struct Body {
    content_type: HeaderValue,
    plain: Bytes,
    gzip: Option<Bytes>,
}

impl Body {
    fn load(dir: &Path, name: &str) -> std::io::Result<Body> {
        let read = |file: String| std::fs::read(dir.join(file));
        let content_type = String::from_utf8_lossy(&read(format!("{name}.type"))?)
            .trim()
            .to_string();
        let content_type = HeaderValue::from_str(&content_type).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{name}.type: {e}"))
        })?;
        let gzip = match read(format!("{name}.body.gz")) {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Body {
            content_type,
            plain: Bytes::from(read(format!("{name}.body"))?),
            gzip,
        })
    }

    fn respond(&self, req: &HttpRequest) -> HttpResponse {
        let wants_gzip = req
            .headers()
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
        let mut res = HttpResponse::Ok();
        res.insert_header((header::CONTENT_TYPE, self.content_type.clone()));
        match (&self.gzip, wants_gzip) {
            (Some(gz), true) => res
                .insert_header((header::CONTENT_ENCODING, "gzip"))
                .body(gz.clone()),
            _ => res.body(self.plain.clone()),
        }
    }
}

#[derive(Clone)]
struct Bodies {
    small: Body,
    counters: Body,
    telemetry: Body,
}

async fn small(req: HttpRequest, b: web::Data<Bodies>) -> HttpResponse {
    b.small.respond(&req)
}

async fn counters(req: HttpRequest, b: web::Data<Bodies>) -> HttpResponse {
    b.counters.respond(&req)
}

async fn telemetry(req: HttpRequest, b: web::Data<Bodies>) -> HttpResponse {
    b.telemetry.respond(&req)
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let bodies = Bodies {
        small: Body::load(&args.dir, "small")?,
        counters: Body::load(&args.dir, "counters")?,
        telemetry: Body::load(&args.dir, "telemetry")?,
    };
    let data = web::Data::new(bodies);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/small", web::get().to(small))
                .route("/counters", web::get().to(counters))
                .route("/telemetry/", web::get().to(telemetry))
                .route("/telemetry/{switch_id}/{metric}", web::get().to(small))
        })
        .workers(args.workers)
        .bind(("127.0.0.1", args.port))?
        .run()
        .await
    })
}
