//! Micro-benchmarks of the hot pure parts: drawing samples, rendering the shared bodies,
//! encoding a sample for Redis. `cargo bench --bench hot_paths`; numbers, not assertions.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use telemetryd::cache::{BigBody, CacheView, Snapshot, SwitchState};
use telemetryd::messages::LinkState;
use telemetryd::model::SwitchId;
use telemetryd::simulate::SwitchModel;
use telemetryd::store::codec::encode_into;

/// A fabric of `n` switches with one sample each.
fn fabric(n: u32) -> Vec<Option<SwitchState>> {
    (0..n)
        .map(|i| {
            let sample = SwitchModel::new(42, SwitchId(i)).next_sample(1.0, 1_764_290_000_123);
            Some(SwitchState {
                sample,
                in_redis: true,
            })
        })
        .collect()
}

fn sample_model(c: &mut Criterion) {
    let mut model = SwitchModel::new(42, SwitchId(7));
    c.bench_function("next_sample", |b| {
        b.iter(|| black_box(model.next_sample(1.0, 0)))
    });
}

fn render(c: &mut Criterion) {
    let states = fabric(10_000);
    let view = CacheView::new(10_000, Duration::from_secs(1));
    let snapshot = || {
        Snapshot::new(
            states.clone(),
            LinkState::Unknown,
            true,
            Duration::from_secs(1),
        )
    };
    c.bench_function("counters_csv 10k switches", |b| {
        b.iter_batched(
            snapshot,
            |s| black_box(view.body(&s, BigBody::Counters, false).bytes.len()),
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("telemetry_json 10k switches", |b| {
        b.iter_batched(
            snapshot,
            |s| black_box(view.body(&s, BigBody::Telemetry, false).bytes.len()),
            criterion::BatchSize::LargeInput,
        )
    });
    c.bench_function("telemetry_json gzip 10k switches", |b| {
        b.iter_batched(
            snapshot,
            |s| black_box(view.body(&s, BigBody::Telemetry, true).gzip().len()),
            criterion::BatchSize::LargeInput,
        )
    });
}

fn encode(c: &mut Criterion) {
    let sample = SwitchModel::new(42, SwitchId(19)).next_sample(1.0, 1_764_290_000_123);
    let mut scratch = String::new();
    c.bench_function("encode_into (HSET arguments)", |b| {
        b.iter(|| black_box(encode_into(black_box(&sample), &mut scratch)))
    });
}

criterion_group!(benches, sample_model, render, encode);
criterion_main!(benches);
