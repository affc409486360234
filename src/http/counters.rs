//! The generator API (`generator_server`): `GET /counters`, every switch's latest metrics
//! as CSV.

use actix_web::{HttpResponse, web};

use super::{STALE_HEADER, read};
use crate::cache::CacheView;

/// Adds the generator API's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read("/counters", counters));
}

/// `GET /counters`: the cached CSV body, rendered once per change of the cache.
async fn counters(view: web::Data<CacheView>) -> HttpResponse {
    let snapshot = view.snapshot();
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            STALE_HEADER,
            if snapshot.all_stale() {
                "true"
            } else {
                "false"
            },
        ))
        .body(snapshot.counters_csv())
}
