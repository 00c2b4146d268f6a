//! The cases, each run once per backend by the `suite!` macro in main.rs.

use serde_json::json;
use spillway_store::{AppProfile, Store, StoreError, UsageRow};
use time::macros::datetime;

use crate::Harness;

// Prompt cases live in their own file; `suite!` looks for every case here.
pub use crate::agents::*;
pub use crate::batch::*;
pub use crate::changes::*;
pub use crate::imports::*;
pub use crate::prompts::*;
pub use crate::provisioned::*;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";

fn arn(account: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{REGION}:{account}:application-inference-profile/{id}")
}

fn profile(account: &str, id: &str, name: &str) -> AppProfile {
    AppProfile {
        arn: arn(account, id),
        id: id.to_owned(),
        account: account.to_owned(),
        region: REGION.to_owned(),
        name: name.to_owned(),
        description: Some("for the support team".to_owned()),
        copy_from: "arn:aws:bedrock:us-east-1::inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        model_id: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        regions: vec!["us-east-1".to_owned(), "us-west-2".to_owned()],
        status: "ACTIVE".to_owned(),
        // Nanoseconds on purpose: the store keeps microseconds and says so.
        created_at: datetime!(2024-09-01 10:00:00.123456789 UTC),
        updated_at: datetime!(2024-09-01 10:00:00.123456789 UTC),
        client_request_token: None,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn usage(hour: &str, profile_arn: Option<&str>, invocations: i64) -> UsageRow {
    UsageRow {
        account: ACCOUNT.to_owned(),
        hour: hour.to_owned(),
        model_id: profile_arn.unwrap_or("anthropic.claude-3-haiku-20240307-v1:0").to_owned(),
        foundation_model: "anthropic.claude-3-haiku-20240307-v1:0".to_owned(),
        profile_arn: profile_arn.map(str::to_owned),
        source_region: REGION.to_owned(),
        invocations,
        input_tokens: 100 * invocations,
        output_tokens: 10 * invocations,
        throttles: 1,
        errors: 0,
        cost_micros_usd: 37 * invocations,
    }
}

pub async fn profile_create_get_list_delete(h: &Harness) {
    let s = &h.store;
    let a = s.create_app_profile(&profile(ACCOUNT, "aaaaaaaaaaa1", "one")).await.unwrap();
    assert_eq!(a.created_at, datetime!(2024-09-01 10:00:00.123456 UTC));
    assert_eq!(a.regions, ["us-east-1", "us-west-2"]);
    let mut b = profile(ACCOUNT, "bbbbbbbbbbb2", "two");
    b.created_at += time::Duration::seconds(1);
    b.description = None;
    let b = s.create_app_profile(&b).await.unwrap();

    // By id and by ARN, in its own region only.
    assert_eq!(s.get_app_profile(ACCOUNT, REGION, "aaaaaaaaaaa1").await.unwrap(), a);
    assert_eq!(s.get_app_profile(ACCOUNT, REGION, &b.arn).await.unwrap(), b);
    assert!(matches!(s.get_app_profile(ACCOUNT, "eu-west-3", &a.id).await, Err(StoreError::NotFound)));

    // Oldest first, paged by limit/offset.
    assert_eq!(s.list_app_profiles(ACCOUNT, REGION, 10, 0).await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(s.list_app_profiles(ACCOUNT, REGION, 1, 1).await.unwrap(), std::slice::from_ref(&b));
    assert!(s.list_app_profiles(ACCOUNT, "eu-west-3", 10, 0).await.unwrap().is_empty());

    // Deleting takes the profile's tags with it.
    s.tag_resource(ACCOUNT, &a.arn, &tags(&[("team", "support")])).await.unwrap();
    assert_eq!(s.delete_app_profile(ACCOUNT, REGION, &a.arn).await.unwrap(), a);
    assert!(s.list_tags(ACCOUNT, &a.arn).await.unwrap().is_empty());
    assert!(matches!(s.get_app_profile(ACCOUNT, REGION, &a.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_app_profile(ACCOUNT, REGION, &a.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.delete_app_profile(ACCOUNT, REGION, "bbbbbbbbbbb2").await.unwrap(), b);
    assert!(s.list_app_profiles(ACCOUNT, REGION, 10, 0).await.unwrap().is_empty());
    // The name is free again once deleted.
    s.create_app_profile(&profile(ACCOUNT, "ccccccccccc3", "one")).await.unwrap();
}

pub async fn profile_create_is_idempotent_on_token(h: &Harness) {
    let s = &h.store;
    let mut first = profile(ACCOUNT, "aaaaaaaaaaa1", "one");
    first.client_request_token = Some("token-1".to_owned());
    let created = s.create_app_profile(&first).await.unwrap();

    // The retry carries a fresh id (the API layer draws one per call): same answer.
    let mut retry = profile(ACCOUNT, "zzzzzzzzzzz9", "one");
    retry.client_request_token = Some("token-1".to_owned());
    assert_eq!(s.create_app_profile(&retry).await.unwrap(), created);
    assert_eq!(s.list_app_profiles(ACCOUNT, REGION, 10, 0).await.unwrap().len(), 1);

    // Another token is another request; several profiles without a token coexist.
    let mut other = profile(ACCOUNT, "bbbbbbbbbbb2", "two");
    other.client_request_token = Some("token-2".to_owned());
    assert_eq!(s.create_app_profile(&other).await.unwrap().id, "bbbbbbbbbbb2");
    s.create_app_profile(&profile(ACCOUNT, "ccccccccccc3", "three")).await.unwrap();
    s.create_app_profile(&profile(ACCOUNT, "ddddddddddd4", "four")).await.unwrap();
    assert_eq!(s.list_app_profiles(ACCOUNT, REGION, 10, 0).await.unwrap().len(), 4);
}

pub async fn profile_duplicate_name_conflicts(h: &Harness) {
    let s = &h.store;
    s.create_app_profile(&profile(ACCOUNT, "aaaaaaaaaaa1", "dup")).await.unwrap();
    let mut again = profile(ACCOUNT, "bbbbbbbbbbb2", "dup");
    again.client_request_token = Some("new-token".to_owned());
    let err = s.create_app_profile(&again).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(msg) if msg.contains("dup")), "{err:?}");
    // The same name is fine in another account.
    s.create_app_profile(&profile(OTHER, "bbbbbbbbbbb2", "dup")).await.unwrap();
}

pub async fn accounts_are_isolated(h: &Harness) {
    let s = &h.store;
    let mine = s.create_app_profile(&profile(ACCOUNT, "aaaaaaaaaaa1", "mine")).await.unwrap();
    s.tag_resource(ACCOUNT, &mine.arn, &tags(&[("team", "a")])).await.unwrap();

    // The other account knows the id and the ARN, and still sees nothing.
    for key in [mine.id.as_str(), mine.arn.as_str()] {
        assert!(matches!(s.get_app_profile(OTHER, REGION, key).await, Err(StoreError::NotFound)));
        assert!(matches!(s.delete_app_profile(OTHER, REGION, key).await, Err(StoreError::NotFound)));
    }
    assert!(s.list_app_profiles(OTHER, REGION, 10, 0).await.unwrap().is_empty());
    let steal = tags(&[("team", "b")]);
    assert!(matches!(s.tag_resource(OTHER, &mine.arn, &steal).await, Err(StoreError::NotFound)));
    let keys = ["team".to_owned()];
    assert!(matches!(s.untag_resource(OTHER, &mine.arn, &keys).await, Err(StoreError::NotFound)));
    assert!(matches!(s.list_tags(OTHER, &mine.arn).await, Err(StoreError::NotFound)));
    s.delete_tags(OTHER, &mine.arn).await.unwrap();
    assert!(s.resources_with_tag(OTHER, "team").await.unwrap().is_empty());
    s.record_usage(&usage("2024-09-01T10", Some(&mine.arn), 1)).await.unwrap();
    assert!(s.usage_since(OTHER, "2000-01-01T00").await.unwrap().is_empty());

    // Still all there for the owner.
    assert_eq!(s.get_app_profile(ACCOUNT, REGION, &mine.id).await.unwrap(), mine);
    assert_eq!(s.list_tags(ACCOUNT, &mine.arn).await.unwrap(), tags(&[("team", "a")]));
}

pub async fn tags_upsert_untag_list(h: &Harness) {
    let s = &h.store;
    let (a, b) = (arn(ACCOUNT, "aaaaaaaaaaa1"), arn(ACCOUNT, "bbbbbbbbbbb2"));
    s.tag_resource(ACCOUNT, &a, &tags(&[("team", "support"), ("env", "prod")])).await.unwrap();
    // Upsert: an existing key takes the new value, a new key is added.
    s.tag_resource(ACCOUNT, &a, &tags(&[("team", "sales"), ("cost-center", "42")])).await.unwrap();
    s.tag_resource(ACCOUNT, &b, &tags(&[("team", "support")])).await.unwrap();
    let expected = tags(&[("cost-center", "42"), ("env", "prod"), ("team", "sales")]);
    assert_eq!(s.list_tags(ACCOUNT, &a).await.unwrap(), expected);
    assert_eq!(
        s.resources_with_tag(ACCOUNT, "team").await.unwrap(),
        [(a.clone(), "sales".to_owned()), (b.clone(), "support".to_owned())]
    );

    // Untag ignores keys that are not there.
    let keys = ["env".to_owned(), "missing".to_owned()];
    s.untag_resource(ACCOUNT, &a, &keys).await.unwrap();
    assert_eq!(s.list_tags(ACCOUNT, &a).await.unwrap(), tags(&[("cost-center", "42"), ("team", "sales")]));
    s.delete_tags(ACCOUNT, &a).await.unwrap();
    assert!(s.list_tags(ACCOUNT, &a).await.unwrap().is_empty());
    assert_eq!(s.list_tags(ACCOUNT, &b).await.unwrap(), tags(&[("team", "support")]));
    // Not an ARN of this account at all.
    assert!(matches!(s.list_tags(ACCOUNT, "nonsense").await, Err(StoreError::NotFound)));
}

pub async fn logging_config_put_get_delete(h: &Harness) {
    let s = &h.store;
    assert_eq!(s.get_logging_config(ACCOUNT, REGION).await.unwrap(), None);
    let first = json!({"s3Config": {"bucketName": "logs"}, "textDataDeliveryEnabled": true});
    let second = json!({"cloudWatchConfig": {"logGroupName": "g"}, "textDataDeliveryEnabled": false});
    s.put_logging_config(ACCOUNT, REGION, &first).await.unwrap();
    s.put_logging_config(ACCOUNT, "eu-west-3", &first).await.unwrap();
    s.put_logging_config(ACCOUNT, REGION, &second).await.unwrap();
    assert_eq!(s.get_logging_config(ACCOUNT, REGION).await.unwrap(), Some(second.clone()));
    assert_eq!(s.get_logging_config(OTHER, REGION).await.unwrap(), None);
    assert_eq!(
        s.all_logging_configs().await.unwrap(),
        [(ACCOUNT.to_owned(), "eu-west-3".to_owned(), first.clone()), (ACCOUNT.to_owned(), REGION.to_owned(), second),]
    );
    s.delete_logging_config(ACCOUNT, REGION).await.unwrap();
    s.delete_logging_config(ACCOUNT, REGION).await.unwrap(); // deleting twice is fine
    assert_eq!(s.get_logging_config(ACCOUNT, REGION).await.unwrap(), None);
    assert_eq!(s.all_logging_configs().await.unwrap().len(), 1);
}

pub async fn usage_upserts_add_up(h: &Harness) {
    let s = &h.store;
    let p = arn(ACCOUNT, "aaaaaaaaaaa1");
    s.record_usage(&usage("2024-09-01T09", None, 5)).await.unwrap();
    s.record_usage(&usage("2024-09-01T10", Some(&p), 2)).await.unwrap();
    s.record_usages(&[usage("2024-09-01T10", Some(&p), 3), usage("2024-09-01T10", None, 1)]).await.unwrap();

    let rows = s.usage_since(ACCOUNT, "2024-09-01T10").await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], usage("2024-09-01T10", None, 1));
    let summed = &rows[1];
    assert_eq!(summed.profile_arn.as_deref(), Some(p.as_str()));
    assert_eq!((summed.invocations, summed.input_tokens, summed.output_tokens), (5, 500, 50));
    assert_eq!((summed.throttles, summed.errors, summed.cost_micros_usd), (2, 0, 185));
    assert_eq!(s.usage_since(ACCOUNT, "2024-09-01T00").await.unwrap().len(), 3);
    assert!(s.usage_since(ACCOUNT, "2024-09-02T00").await.unwrap().is_empty());
}

pub async fn restart_keeps_every_resource(h: &Harness) {
    let s = &h.store;
    let mut p = profile(ACCOUNT, "aaaaaaaaaaa1", "kept");
    p.client_request_token = Some("tok".to_owned());
    let p = s.create_app_profile(&p).await.unwrap();
    s.tag_resource(ACCOUNT, &p.arn, &tags(&[("team", "support")])).await.unwrap();
    let cfg = json!({"s3Config": {"bucketName": "logs", "keyPrefix": "x/"}});
    s.put_logging_config(ACCOUNT, REGION, &cfg).await.unwrap();
    s.record_usage(&usage("2024-09-01T10", Some(&p.arn), 4)).await.unwrap();
    s.close().await;

    // Migrations run again on open and must leave the data alone.
    let s: Store = h.reopen().await;
    assert_eq!(s.get_app_profile(ACCOUNT, REGION, &p.id).await.unwrap(), p);
    assert_eq!(s.list_tags(ACCOUNT, &p.arn).await.unwrap(), tags(&[("team", "support")]));
    assert_eq!(s.get_logging_config(ACCOUNT, REGION).await.unwrap(), Some(cfg));
    let usage_rows = s.usage_since(ACCOUNT, "2024-09-01T00").await.unwrap();
    assert_eq!(usage_rows, [usage("2024-09-01T10", Some(&p.arn), 4)]);
    // Idempotency survives too: the retry after a restart gets the original.
    let mut retry = profile(ACCOUNT, "zzzzzzzzzzz9", "kept");
    retry.client_request_token = Some("tok".to_owned());
    assert_eq!(s.create_app_profile(&retry).await.unwrap(), p);
    s.close().await;
}
