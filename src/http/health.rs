//! `/healthz` and `/readyz`, on both listeners.

use std::time::Duration;

use actix::Addr;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::schema::Health;
use super::{read, routes};
use crate::cache::{CacheActor, CacheView};
use crate::messages::Ping;
use crate::model::now_unix_ms;

/// How long the cache actor has to answer a liveness check.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Adds the health routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read(routes::HEALTHZ, healthz))
        .service(read(routes::READYZ, readyz));
}

/// Liveness: 200 when the actor system answers a message in time, 503 when it does not.
#[utoipa::path(get, path = routes::HEALTHZ, tag = "operations",
    responses(
        (status = 200, description = "The actors answer", body = Health),
        (status = 503, description = "The cache actor did not answer in time", body = Health),
    )
)]
pub(crate) async fn healthz(cache: web::Data<Addr<CacheActor>>) -> HttpResponse {
    match tokio::time::timeout(LIVENESS_TIMEOUT, cache.send(Ping)).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "alive"})),
        _ => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unresponsive",
            "error": format!(
                "the cache actor did not answer within {} ms",
                LIVENESS_TIMEOUT.as_millis()
            ),
        })),
    }
}

/// Readiness: 200 once the cache holds its initial state (503 before), with Redis's state
/// and the age of what is served.
#[utoipa::path(get, path = routes::READYZ, tag = "operations",
    responses(
        (status = 200, description = "Serving: the cache holds every switch", body = Health),
        (status = 503, description = "Still loading", body = Health),
    )
)]
pub(crate) async fn readyz(view: web::Data<CacheView>) -> HttpResponse {
    let s = view.snapshot();
    // With telemetry.shard: which one this is, and how fresh every shard looks from here.
    let shard = view.shard().map(|me| {
        let now = now_unix_ms();
        let shards: Vec<_> = s
            .per_shard(me.count)
            .into_iter()
            .enumerate()
            .map(|(index, (switches, oldest))| {
                json!({"index": index, "switches_with_data": switches,
                    "oldest_sample_age_ms": oldest.map(|ms| now.saturating_sub(ms))})
            })
            .collect();
        json!({"index": me.index, "count": me.count, "shards": shards})
    });
    let body = json!({
        "status": if s.loaded { "ready" } else { "loading" },
        "switches": s.fabric_size(),
        "redis": {"state": s.redis.name(), "error": s.redis.error()},
        "kafka": s.kafka.as_ref().map(|k| json!({"state": k.name(), "error": k.error()})),
        "unconfirmed_switches": s.unconfirmed,
        "stale": s.all_stale(),
        "cache_age_ms": s.published_at.elapsed().as_millis() as u64,
        "oldest_sample_age_ms": s.oldest_ms.map(|ms| now_unix_ms().saturating_sub(ms)),
        "shard": shard,
    });
    if s.loaded {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
