//! Answering with a body many requests share (`/counters`, `/telemetry/`, see
//! `cache/bodies.rs`): `304 Not Modified` when the client already has it (If-None-Match),
//! gzip when the client accepts it, and the staleness header either way.

use actix_web::http::header::{
    self, AcceptEncoding, ContentEncoding, ETag, Encoding, EntityTag, Header, IfNoneMatch,
};
use actix_web::{HttpRequest, HttpResponse};

use super::stale_header;
use crate::cache::{BigBody, CacheView};

/// The response to `req` for `route`'s body, from the latest snapshot.
pub fn respond(
    req: &HttpRequest,
    view: &CacheView,
    route: BigBody,
    content_type: &str,
) -> HttpResponse {
    let gzip = accepts_gzip(req);
    let snapshot = view.snapshot();
    let body = view.body(&snapshot, route, gzip);
    let stale = snapshot.all_stale();
    let etag = if gzip {
        body.gzip_etag()
    } else {
        body.etag.clone()
    };
    let tag = EntityTag::new_strong(etag.trim_matches('"').to_string());
    let not_modified = client_has(req, &tag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(ETag(tag))
        .insert_header((header::VARY, "accept-encoding"))
        .insert_header(stale_header(stale));
    if not_modified {
        return response.finish();
    }
    response.content_type(content_type);
    if gzip {
        response
            .insert_header(ContentEncoding::Gzip)
            .body(body.gzip())
    } else {
        response.body(body.bytes.clone())
    }
}

/// Whether the client prefers gzip over the plain body (Accept-Encoding, with q-values).
fn accepts_gzip(req: &HttpRequest) -> bool {
    if !req.headers().contains_key(header::ACCEPT_ENCODING) {
        return false;
    }
    AcceptEncoding::parse(req)
        .ok()
        .and_then(|accept| accept.negotiate([Encoding::gzip(), Encoding::identity()].iter()))
        == Some(Encoding::gzip())
}

/// Whether If-None-Match names `tag` (or `*`).
fn client_has(req: &HttpRequest, tag: &EntityTag) -> bool {
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        Err(_) => false,
    }
}
