//! The generator API (`generator_server`): `GET /counters`, every switch's latest metrics
//! as CSV.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{read, routes, shared_body};
use crate::cache::{BigBody, CacheView};

/// Adds the generator API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::COUNTERS, counters));
}

/// `GET /counters`: the cached CSV body, rendered once per change of the cache.
async fn counters(req: HttpRequest, view: web::Data<CacheView>) -> HttpResponse {
    shared_body::respond(
        &req,
        &view,
        BigBody::Counters,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    )
}
