//! Request limits below actix-http's own (which allow request heads up to 128 KiB): no
//! route needs more than a short URI and a few headers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use super::error::ApiError;

/// Longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest total size of the request's header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: answers 414 or 431 (JSON) to requests over the limits, before routing.
pub async fn reject_oversized(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_len: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    let refusal = if uri_len > MAX_URI_BYTES {
        Some(ApiError::UriTooLong {
            length: uri_len,
            limit: MAX_URI_BYTES,
        })
    } else if header_len > MAX_HEADER_BYTES {
        Some(ApiError::HeadersTooLarge {
            length: header_len,
            limit: MAX_HEADER_BYTES,
        })
    } else {
        None
    };
    match refusal {
        Some(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
