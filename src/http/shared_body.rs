//! Answering with a body many requests share (`/counters`, `/telemetry/`, see
//! `cache/bodies.rs`): `304 Not Modified` when the client already has it (If-None-Match),
//! gzip when the client accepts it, and the staleness header either way. Every header value
//! is built once (per body, or at compile time), not per request.

use actix_web::http::StatusCode;
use actix_web::http::header::{
    self, AcceptEncoding, Encoding, EntityTag, Header, HeaderValue, IfNoneMatch,
};
use actix_web::{HttpRequest, HttpResponse};

use super::stale_header;
use crate::cache::{BigBody, CacheView};

/// The response to `req` for `route`'s body, from the latest snapshot.
pub fn respond(
    req: &HttpRequest,
    view: &CacheView,
    route: BigBody,
    content_type: HeaderValue,
) -> HttpResponse {
    const VARY: HeaderValue = HeaderValue::from_static("accept-encoding");
    const GZIP: HeaderValue = HeaderValue::from_static("gzip");
    let gzip = accepts_gzip(req);
    let snapshot = view.snapshot();
    let body = view.body(&snapshot, route, gzip);
    let etag = if gzip { &body.gzip_etag } else { &body.etag };
    let not_modified = client_has(req, etag);
    let mut response = if not_modified {
        HttpResponse::new(StatusCode::NOT_MODIFIED)
    } else if gzip {
        HttpResponse::with_body(StatusCode::OK, body.gzip()).map_into_boxed_body()
    } else {
        HttpResponse::with_body(StatusCode::OK, body.bytes.clone()).map_into_boxed_body()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::VARY, VARY);
    let (name, value) = stale_header(snapshot.all_stale());
    headers.insert(name, value);
    if !not_modified {
        headers.insert(header::CONTENT_TYPE, content_type);
        if gzip {
            headers.insert(header::CONTENT_ENCODING, GZIP);
        }
    }
    response
}

/// Whether the client prefers gzip over the plain body (Accept-Encoding, with q-values).
fn accepts_gzip(req: &HttpRequest) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT_ENCODING) else {
        return false;
    };
    match accept.to_str().map(gzip_without_weights) {
        Ok(Some(gzip)) => gzip,
        _ => negotiate_gzip(req),
    }
}

/// The common case of Accept-Encoding, decided without parsing it into a list: no q-value
/// anywhere, so every coding listed is equally welcome, and gzip is chosen when it is listed
/// by name (as `negotiate_gzip` decides for such a header: `*` alone gets the plain body).
/// None when there are weights.
fn gzip_without_weights(accept: &str) -> Option<bool> {
    if accept.contains(';') {
        return None;
    }
    Some(
        accept
            .split(',')
            .map(str::trim)
            .any(|coding| coding.eq_ignore_ascii_case("gzip")),
    )
}

/// Accept-Encoding negotiated in full by actix-web: gzip or the plain body, by q-value.
fn negotiate_gzip(req: &HttpRequest) -> bool {
    AcceptEncoding::parse(req)
        .ok()
        .and_then(|accept| accept.negotiate([Encoding::gzip(), Encoding::identity()].iter()))
        == Some(Encoding::gzip())
}

/// Whether If-None-Match names `etag` (or `*`).
fn client_has(req: &HttpRequest, etag: &HeaderValue) -> bool {
    if !req.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    let Some(tag) = etag
        .to_str()
        .ok()
        .map(|quoted| EntityTag::new_strong(quoted.trim_matches('"').to_string()))
    else {
        return false;
    };
    match IfNoneMatch::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&tag)),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn accept_encoding_without_weights_decides_as_the_full_negotiation() {
        for accept in [
            "gzip",
            "GZip",
            "gzip, deflate",
            "deflate, gzip",
            "gzip, deflate, br, zstd",
            "deflate",
            "br",
            "identity",
            "*",
            "",
            " gzip ",
            "deflate,gzip",
            "x-gzip",
            "identity, gzip",
        ] {
            let req = TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, accept))
                .to_http_request();
            assert_eq!(
                gzip_without_weights(accept),
                Some(negotiate_gzip(&req)),
                "{accept:?}"
            );
        }
    }

    #[test]
    fn accept_encoding_with_weights_is_negotiated_in_full() {
        for (accept, gzip) in [
            ("gzip;q=0, identity", false),
            ("gzip;q=0.5, identity;q=0.4", true),
            ("identity;q=1, gzip;q=0.1", false),
            ("*;q=0", false),
        ] {
            assert_eq!(gzip_without_weights(accept), None, "{accept:?}");
            let req = TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, accept))
                .to_http_request();
            assert_eq!(accepts_gzip(&req), gzip, "{accept:?}");
        }
    }
}
