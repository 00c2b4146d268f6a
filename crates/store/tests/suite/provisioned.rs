//! Provisioned throughput cases, run once per backend like the others (see main.rs).

use spillway_store::{ListFilter, ProvisionedModel, ProvisionedQuery, ProvisionedStatus, StoreError, UsageRow};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::Harness;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";
const CLAUDE: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1:18k";
const HAIKU: &str = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
const T0: OffsetDateTime = datetime!(2024-05-03 21:47:23.801 UTC);

fn pt(account: &str, id: &str, name: &str, created: OffsetDateTime) -> ProvisionedModel {
    ProvisionedModel {
        arn: format!("arn:aws:bedrock:{REGION}:{account}:provisioned-model/{id}"),
        id: id.to_owned(),
        account: account.to_owned(),
        region: REGION.to_owned(),
        name: name.to_owned(),
        model_arn: CLAUDE.to_owned(),
        desired_model_arn: CLAUDE.to_owned(),
        foundation_model_arn: CLAUDE.to_owned(),
        model_units: 0,
        desired_model_units: 1,
        status: ProvisionedStatus::Creating,
        failure_message: None,
        commitment_duration: None,
        commitment_expiration_time: None,
        unit_price_micros: 63_000_000,
        created_at: created,
        updated_at: created,
        billed_until: None,
        client_request_token: None,
    }
}

fn page(q: ProvisionedQuery) -> ProvisionedQuery {
    ProvisionedQuery { filter: ListFilter { limit: 10, ..q.filter }, ..q }
}

fn names(list: &[ProvisionedModel]) -> Vec<&str> {
    list.iter().map(|p| p.name.as_str()).collect()
}

pub async fn provisioned_create_get_list_delete(h: &Harness) {
    let s = &h.store;
    // Seed 002's listing: a Creating one reports 0 units of the 1 desired.
    let a = s.create_provisioned(&pt(ACCOUNT, "6w96yspvh8ey", "hogethru2", T0)).await.unwrap();
    assert_eq!((a.model_units, a.desired_model_units, a.status), (0, 1, ProvisionedStatus::Creating));
    let mut b = pt(ACCOUNT, "bbbbbbbbbbb2", "second_one", T0 + Duration::seconds(1));
    b.model_arn = HAIKU.to_owned();
    b.commitment_duration = Some("OneMonth".to_owned());
    let b = s.create_provisioned(&b).await.unwrap();
    let c = s.create_provisioned(&pt(ACCOUNT, "ccccccccccc3", "third", T0 + Duration::seconds(2))).await.unwrap();

    // By name and by ARN, in its own region and account only.
    assert_eq!(s.get_provisioned(ACCOUNT, REGION, "hogethru2").await.unwrap(), a);
    assert_eq!(s.get_provisioned(ACCOUNT, REGION, &b.arn).await.unwrap(), b);
    assert!(matches!(s.get_provisioned(ACCOUNT, "us-west-2", "hogethru2").await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_provisioned(OTHER, REGION, &a.arn).await, Err(StoreError::NotFound)));

    // Sort, page and filter.
    let all = s.list_provisioned(ACCOUNT, REGION, &page(ProvisionedQuery::default())).await.unwrap();
    assert_eq!(names(&all), ["hogethru2", "second_one", "third"]);
    let f = ListFilter { descending: true, limit: 2, offset: 1, ..ListFilter::default() };
    let desc = ProvisionedQuery { filter: f, ..ProvisionedQuery::default() };
    assert_eq!(names(&s.list_provisioned(ACCOUNT, REGION, &desc).await.unwrap()), ["second_one", "hogethru2"]);
    let by_model = page(ProvisionedQuery { model_arn: Some(HAIKU.to_owned()), ..ProvisionedQuery::default() });
    assert_eq!(names(&s.list_provisioned(ACCOUNT, REGION, &by_model).await.unwrap()), ["second_one"]);
    // `_` is a literal underscore, not LIKE's wildcard; matching ignores case.
    let named = |n: &str| ProvisionedQuery {
        filter: ListFilter { name_contains: Some(n.to_owned()), ..ListFilter::default() },
        ..ProvisionedQuery::default()
    };
    let by_name = page(named("D_O"));
    assert_eq!(names(&s.list_provisioned(ACCOUNT, REGION, &by_name).await.unwrap()), ["second_one"]);
    let wild = page(named("o_e"));
    assert!(s.list_provisioned(ACCOUNT, REGION, &wild).await.unwrap().is_empty());
    let window = page(ProvisionedQuery {
        filter: ListFilter {
            created_after: Some(T0),
            created_before: Some(T0 + Duration::seconds(2)),
            ..ListFilter::default()
        },
        ..ProvisionedQuery::default()
    });
    assert_eq!(names(&s.list_provisioned(ACCOUNT, REGION, &window).await.unwrap()), ["second_one"]);
    let failed = page(ProvisionedQuery { status: Some(ProvisionedStatus::Failed), ..ProvisionedQuery::default() });
    assert!(s.list_provisioned(ACCOUNT, REGION, &failed).await.unwrap().is_empty());

    // Deleting takes the tags with it; the name is free again.
    s.tag_resource(ACCOUNT, &a.arn, &[("team".to_owned(), "ml".to_owned())]).await.unwrap();
    assert_eq!(s.delete_provisioned(ACCOUNT, REGION, "hogethru2").await.unwrap(), a);
    assert!(s.list_tags(ACCOUNT, &a.arn).await.unwrap().is_empty());
    assert!(matches!(s.delete_provisioned(ACCOUNT, REGION, &a.arn).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_provisioned(OTHER, REGION, &c.arn).await, Err(StoreError::NotFound)));
    s.create_provisioned(&pt(ACCOUNT, "ddddddddddd4", "hogethru2", T0)).await.unwrap();
}

pub async fn provisioned_idempotent_and_unique(h: &Harness) {
    let s = &h.store;
    let mut first = pt(ACCOUNT, "aaaaaaaaaaa1", "one", T0);
    first.client_request_token = Some("tok".to_owned());
    let created = s.create_provisioned(&first).await.unwrap();
    let mut retry = pt(ACCOUNT, "zzzzzzzzzzz9", "one", T0);
    retry.client_request_token = Some("tok".to_owned());
    assert_eq!(s.create_provisioned(&retry).await.unwrap(), created);
    let err = s.create_provisioned(&pt(ACCOUNT, "bbbbbbbbbbb2", "one", T0)).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(m) if m.contains("one")), "{err:?}");
    // Same name in another account is another resource.
    s.create_provisioned(&pt(OTHER, "bbbbbbbbbbb2", "one", T0)).await.unwrap();
    // Renaming onto a taken name conflicts too.
    s.create_provisioned(&pt(ACCOUNT, "ccccccccccc3", "two", T0)).await.unwrap();
    let err = s.update_provisioned(ACCOUNT, REGION, "two", Some("one"), None, T0).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

pub async fn provisioned_transitions_and_updates(h: &Harness) {
    let s = &h.store;
    let creating = s.create_provisioned(&pt(ACCOUNT, "aaaaaaaaaaa1", "one", T0)).await.unwrap();
    let at = T0 + Duration::seconds(5);
    let mut live = creating.clone();
    live.status = ProvisionedStatus::InService;
    live.model_units = 1;
    live.billed_until = Some(at);
    live.updated_at = at;
    assert!(s.transition_provisioned(&creating, &live).await.unwrap());
    // A second instance reading the old row loses the race.
    assert!(!s.transition_provisioned(&creating, &live).await.unwrap());
    let live = s.get_provisioned(ACCOUNT, REGION, "one").await.unwrap();
    assert_eq!((live.status, live.model_units, live.billed_until), (ProvisionedStatus::InService, 1, Some(at)));

    // A rename applies at once; a new model makes it Updating until the driver finishes.
    let renamed = s.update_provisioned(ACCOUNT, REGION, &live.arn, Some("uno"), None, at).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.status), ("uno", ProvisionedStatus::InService));
    let later = at + Duration::seconds(1);
    let updating = s.update_provisioned(ACCOUNT, REGION, "uno", None, Some(HAIKU), later).await.unwrap();
    assert_eq!(updating.status, ProvisionedStatus::Updating);
    assert_eq!((updating.model_arn.as_str(), updating.desired_model_arn.as_str()), (CLAUDE, HAIKU));
    let mut done = updating.clone();
    done.status = ProvisionedStatus::InService;
    done.model_arn = HAIKU.to_owned();
    done.billed_until = None; // never resets billing
    done.updated_at = later + Duration::seconds(1);
    assert!(s.transition_provisioned(&updating, &done).await.unwrap());
    let got = s.get_provisioned(ACCOUNT, REGION, "uno").await.unwrap();
    assert_eq!((got.model_arn.as_str(), got.billed_until), (HAIKU, Some(at)));
    assert!(matches!(s.update_provisioned(OTHER, REGION, "uno", Some("x"), None, at).await, Err(StoreError::NotFound)));
}

pub async fn provisioned_billing_is_exactly_once(h: &Harness) {
    let s = &h.store;
    let mut p = pt(ACCOUNT, "aaaaaaaaaaa1", "one", T0);
    p.status = ProvisionedStatus::InService;
    p.billed_until = Some(T0);
    let p = s.create_provisioned(&p).await.unwrap();
    let charge = |micros| UsageRow {
        account: ACCOUNT.to_owned(),
        hour: "2024-05-03T21".to_owned(),
        model_id: p.arn.clone(),
        foundation_model: "anthropic.claude-v2:1".to_owned(),
        profile_arn: None,
        source_region: REGION.to_owned(),
        invocations: 0,
        input_tokens: 0,
        output_tokens: 0,
        throttles: 0,
        errors: 0,
        cost_micros_usd: micros,
    };
    let t1 = T0 + Duration::seconds(60);
    assert!(s.bill_provisioned(&p.arn, T0, t1, &[charge(1_050_000)]).await.unwrap());
    // Another instance billing the same interval adds nothing.
    assert!(!s.bill_provisioned(&p.arn, T0, t1, &[charge(1_050_000)]).await.unwrap());
    assert!(s.bill_provisioned(&p.arn, t1, t1 + Duration::seconds(60), &[charge(1_050_000)]).await.unwrap());
    let rows = s.usage_since(ACCOUNT, "2024-05-03T00").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].model_id.as_str(), rows[0].cost_micros_usd), (p.arn.as_str(), 2_100_000));
    assert_eq!(s.get_provisioned(ACCOUNT, REGION, "one").await.unwrap().billed_until, Some(t1 + Duration::seconds(60)));
}

pub async fn provisioned_restart_keeps_status(h: &Harness) {
    let mut p = pt(ACCOUNT, "aaaaaaaaaaa1", "one", T0);
    p.status = ProvisionedStatus::InService;
    p.model_units = 1;
    p.commitment_duration = Some("SixMonths".to_owned());
    p.commitment_expiration_time = Some(T0 + Duration::days(180));
    p.billed_until = Some(T0);
    let stored = h.store.create_provisioned(&p).await.unwrap();
    h.store.close().await;
    let store = h.reopen().await;
    assert_eq!(store.all_provisioned().await.unwrap(), [stored]);
    store.close().await;
}
