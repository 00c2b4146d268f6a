//! The status driver: one background task per instance that walks the stored
//! provisioned models a few times a second and
//! - moves Creating → InService once `[provisioning] delay_ms` has passed, reserving the
//!   units' share of the serving pool first, or → Failed (with a failureMessage) when the
//!   pool cannot set that much aside;
//! - moves Updating → InService on the new model (re-reserving on its pool), or back to
//!   the old model with a failureMessage when the new one cannot be reserved;
//! - keeps this instance's reservations equal to what the store says serves, so a
//!   restart (or another instance sharing the store) reserves InService models again and
//!   a deletion elsewhere frees the slots here;
//! - accrues the hourly charge (units × the unit-hour price of the commitment term) into
//!   the usage rows of the provisioned ARN, split at hour boundaries.
//!
//! Every store write is a compare-and-set, so instances sharing a store apply each
//! transition, and bill each second, once.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use spillway_backends::Backends;
use spillway_catalog::Catalog;
use spillway_store::{ProvisionedModel, ProvisionedStatus, Store, StoreError, UsageRow};
use time::OffsetDateTime;

use super::{served, Active, Registry};
use crate::serve::Lifecycle;

/// Charges are written at most this often per provisioned model (and on demand, see
/// [`bill_all`]).
const BILL_EVERY: time::Duration = time::Duration::seconds(1);

/// What the driver works on: the backend pools it reserves slots in, and the registry
/// of provisioned models in service that it fills and the dispatcher reads.
struct Held {
    backends: Backends,
    registry: Arc<Registry>,
}

/// Runs a first pass (so a restarted instance holds its reservations before it serves)
/// and starts the driver; it stops at shutdown (after the pass in progress, so each
/// compare-and-set completes) or when the store is dropped.
pub async fn start(
    catalog: Arc<Catalog>,
    store: &Arc<Store>,
    backends: Backends,
    registry: Arc<Registry>,
    lifecycle: &Lifecycle,
) {
    let mut warned = HashSet::new();
    let held = Held { backends, registry };
    if let Err(e) = step(&catalog, store, &held, &mut warned).await {
        tracing::warn!(error = %e, "provisioned throughput driver: store failed");
    }
    let store: Weak<Store> = Arc::downgrade(store);
    let delay = Duration::from_millis(catalog.provisioning.delay_ms);
    // Ticks often enough that a status changes within about half the delay.
    let tick = (delay / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let ticks = lifecycle.clone();
    lifecycle.spawn(async move {
        // Or sooner, when another instance changed a provisioned model.
        while ticks.wait(crate::control_events::pause(tick, &crate::control_events::PROVISIONED)).await {
            let Some(store) = store.upgrade() else { break };
            if let Err(e) = step(&catalog, &store, &held, &mut warned).await {
                tracing::warn!(error = %e, "provisioned throughput driver: store failed");
            }
        }
    });
}

/// One pass over every stored provisioned model.
async fn step(catalog: &Catalog, store: &Store, held: &Held, warned: &mut HashSet<String>) -> Result<(), StoreError> {
    let rows = store.all_provisioned().await?;
    let now = OffsetDateTime::now_utc();
    let delay = time::Duration::milliseconds(i64::try_from(catalog.provisioning.delay_ms).unwrap_or(i64::MAX));
    let mut serving = HashSet::new();
    for row in rows {
        let due = now - row.updated_at >= delay;
        let row = match row.status {
            ProvisionedStatus::Creating | ProvisionedStatus::Updating if due => {
                finish(catalog, store, held, row, now).await?
            }
            _ => row,
        };
        if row.status.serves() {
            keep_reserved(catalog, held, &row, warned);
            serving.insert(row.arn.clone());
            bill(catalog, store, &row, now, false).await?;
        }
    }
    held.registry.retain(|a| serving.contains(&a.arn));
    Ok(())
}

/// Reserve `units` of `model_arn` for `row` on this instance.
fn reserve(
    catalog: &Catalog,
    held: &Held,
    row: &ProvisionedModel,
    model_arn: &str,
    units: u32,
) -> Result<Active, String> {
    let s = served(catalog, &row.region, &row.account, model_arn)
        .map_err(|_| format!("The model {model_arn} is no longer sold as Provisioned Throughput in {}.", row.region))?;
    let pool = held
        .backends
        .get(&s.offer.region, &s.offer.backend)
        .ok_or_else(|| format!("No backend serves {model_arn} in {}.", row.region))?;
    let slots = units.saturating_mul(s.unit.concurrency);
    let reserved = pool.reserve(slots).map_err(|e| {
        format!("Insufficient capacity to provision {units} model units of {model_arn} in {}: {e}.", row.region)
    })?;
    Ok(Active {
        arn: row.arn.clone(),
        model_arn: model_arn.to_owned(),
        foundation_model: s.model.id.clone(),
        units,
        tokens_per_minute: u64::from(units).saturating_mul(s.unit.tokens_per_minute),
        reserved,
    })
}

/// Completes a creation (on the model ARN) or an update (on the desired one). Returns
/// the row as it now stands (unchanged if another instance got there first).
async fn finish(
    catalog: &Catalog,
    store: &Store,
    held: &Held,
    row: ProvisionedModel,
    now: OffsetDateTime,
) -> Result<ProvisionedModel, StoreError> {
    let units = row.desired_model_units;
    let target = if row.status == ProvisionedStatus::Creating { &row.model_arn } else { &row.desired_model_arn };
    let mut to = row.clone();
    to.updated_at = now;
    let reserved = reserve(catalog, held, &row, target, units);
    match (&reserved, row.status) {
        (Ok(_), _) => {
            to.status = ProvisionedStatus::InService;
            to.model_units = units;
            to.model_arn = target.clone();
            to.desired_model_arn = to.model_arn.clone();
            to.failure_message = None;
            to.billed_until = Some(now);
            if row.status == ProvisionedStatus::Creating {
                to.commitment_expiration_time = row
                    .commitment_duration
                    .as_deref()
                    .and_then(spillway_catalog::provisioned::Commitment::parse)
                    .map(|c| now + time::Duration::days(c.days()));
            }
        }
        (Err(message), ProvisionedStatus::Creating) => {
            to.status = ProvisionedStatus::Failed;
            to.model_units = 0;
            to.failure_message = Some(message.clone());
        }
        // A failed update keeps serving the model it had.
        (Err(message), _) => {
            to.status = ProvisionedStatus::InService;
            to.desired_model_arn = row.model_arn.clone();
            to.failure_message = Some(message.clone());
        }
    }
    if !store.transition_provisioned(&row, &to).await? {
        return Ok(row);
    }
    match reserved {
        Ok(active) => {
            tracing::info!(arn = %row.arn, units, model = %to.model_arn, "provisioned throughput in service");
            held.registry.insert(active);
        }
        Err(message) => tracing::warn!(arn = %row.arn, %message, "provisioned throughput not provisioned"),
    }
    Ok(to)
}

/// Makes this instance hold the reservation the row says serves: after a restart, when
/// another instance completed the transition, or when the units or model changed.
fn keep_reserved(catalog: &Catalog, held: &Held, row: &ProvisionedModel, warned: &mut HashSet<String>) {
    let current = held.registry.get(&row.arn);
    if current.is_some_and(|a| a.model_arn == row.model_arn && a.units == row.model_units) {
        return;
    }
    match reserve(catalog, held, row, &row.model_arn, row.model_units) {
        Ok(active) => {
            warned.remove(&row.arn);
            held.registry.insert(active);
        }
        // Said once: the driver retries on every tick.
        Err(message) if warned.insert(row.arn.clone()) => {
            tracing::error!(arn = %row.arn, %message, "cannot reserve an in-service provisioned model on this instance");
        }
        Err(_) => {}
    }
}

/// Accrues the row's charge from `billed_until` to `now` (at least [`BILL_EVERY`] of it
/// unless `force`). Returns whether this call billed.
pub async fn bill(
    catalog: &Catalog,
    store: &Store,
    row: &ProvisionedModel,
    now: OffsetDateTime,
    force: bool,
) -> Result<bool, StoreError> {
    let Some(from) = row.billed_until else { return Ok(false) };
    if now <= from || (!force && now - from < BILL_EVERY) {
        return Ok(false);
    }
    let foundation_model = served(catalog, &row.region, &row.account, &row.model_arn)
        .map(|s| s.model.id.clone())
        .unwrap_or_else(|_| row.model_arn.rsplit('/').next().unwrap_or_default().to_owned());
    let per_second = f64::from(row.model_units) * row.unit_price_micros as f64 / 3600.0;
    let charges: Vec<UsageRow> = hours(from, now)
        .into_iter()
        .map(|(hour, seconds)| UsageRow {
            account: row.account.clone(),
            hour,
            model_id: row.arn.clone(),
            foundation_model: foundation_model.clone(),
            profile_arn: None,
            source_region: row.region.clone(),
            invocations: 0,
            input_tokens: 0,
            output_tokens: 0,
            throttles: 0,
            errors: 0,
            cost_micros_usd: (per_second * seconds).round() as i64,
        })
        .collect();
    store.bill_provisioned(&row.arn, from, now, &charges).await
}

/// Bills every serving provisioned model up to now: the usage report calls this so the
/// hourly charges it shows are current to the second.
pub async fn bill_all(catalog: &Catalog, store: &Store) -> Result<(), StoreError> {
    let now = OffsetDateTime::now_utc();
    for row in store.all_provisioned().await? {
        if row.status.serves() {
            bill(catalog, store, &row, now, true).await?;
        }
    }
    Ok(())
}

/// `[from, to)` split at UTC hour boundaries: (`YYYY-MM-DDTHH`, seconds in that hour).
fn hours(from: OffsetDateTime, to: OffsetDateTime) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let start_of_hour =
            at.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0));
        let next = start_of_hour.map_or(to, |h| h + time::Duration::HOUR).min(to);
        let hour = format!("{:04}-{:02}-{:02}T{:02}", at.year(), u8::from(at.month()), at.day(), at.hour());
        out.push((hour, (next - at).as_seconds_f64()));
        at = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn charges_split_at_hour_boundaries() {
        let got = hours(datetime!(2024-05-03 21:59:30 UTC), datetime!(2024-05-03 23:00:15 UTC));
        assert_eq!(
            got,
            [
                ("2024-05-03T21".to_owned(), 30.0),
                ("2024-05-03T22".to_owned(), 3600.0),
                ("2024-05-03T23".to_owned(), 15.0)
            ]
        );
        assert!(hours(datetime!(2024-05-03 21:00 UTC), datetime!(2024-05-03 21:00 UTC)).is_empty());
    }
}
