//! Request limits below actix-http's own (which allow request heads up to 128 KiB): no
//! route needs more than a short URI and a few headers.

use actix_web::dev::ServiceRequest;

use super::error::ApiError;

/// Longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total size of the request's header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a request is over the limits (answered 414 or 431, JSON, before routing), if it is.
/// Called by the request middleware in `log.rs`, so the refusal is logged and counted too.
pub fn refusal(req: &ServiceRequest) -> Option<ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong {
            length: uri_len,
            limit: MAX_URI_BYTES,
        });
    }
    let header_len: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    (header_len > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge {
        length: header_len,
        limit: MAX_HEADER_BYTES,
    })
}
