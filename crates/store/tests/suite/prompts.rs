//! Prompt cases (bedrock-agent Prompt management), run once per backend like `cases.rs`
//! (re-exported from there so that `suite!` finds them).

use serde_json::{json, Value};
use spillway_store::{DraftUpdate, Prompt, StoreError};
use time::macros::datetime;

use crate::Harness;

const ACCOUNT: &str = "123456789012";
const OTHER: &str = "210987654321";
const REGION: &str = "us-east-1";

fn body(text: &str) -> Value {
    json!({"defaultVariant": "v1", "variants": [{
        "name": "v1", "templateType": "TEXT", "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "templateConfiguration": {"text": {"text": text, "inputVariables": [{"name": "topic"}]}}
    }]})
}

fn prompt(account: &str, id: &str, name: &str) -> Prompt {
    Prompt {
        id: id.to_owned(),
        arn: format!("arn:aws:bedrock:{REGION}:{account}:prompt/{id}"),
        account: account.to_owned(),
        region: REGION.to_owned(),
        name: name.to_owned(),
        description: Some("the draft".to_owned()),
        version: None,
        body: body("About {{topic}}"),
        created_at: datetime!(2024-09-01 10:00:00.123456789 UTC),
        updated_at: datetime!(2024-09-01 10:00:00.123456789 UTC),
        client_token: None,
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub async fn prompt_create_get_list_update(h: &Harness) {
    let s = &h.store;
    let a = s.create_prompt(&prompt(ACCOUNT, "AAAAAAAAA1", "one")).await.unwrap();
    assert_eq!(a.created_at, datetime!(2024-09-01 10:00:00.123456 UTC));
    assert_eq!((a.version, &a.body), (None, &body("About {{topic}}")));
    let mut b = prompt(ACCOUNT, "BBBBBBBBB2", "two");
    b.created_at += time::Duration::seconds(1);
    let b = s.create_prompt(&b).await.unwrap();

    assert_eq!(s.get_prompt(ACCOUNT, REGION, "AAAAAAAAA1", None).await.unwrap(), a);
    assert!(matches!(s.get_prompt(ACCOUNT, "eu-west-3", "AAAAAAAAA1", None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_prompt(ACCOUNT, REGION, "AAAAAAAAA1", Some(1)).await, Err(StoreError::NotFound)));
    assert_eq!(s.list_prompts(ACCOUNT, REGION, 10, 0).await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(s.list_prompts(ACCOUNT, REGION, 1, 1).await.unwrap(), std::slice::from_ref(&b));

    // The update replaces the DRAFT and keeps its creation time.
    let new_body = body("Now about {{topic}}");
    let when = datetime!(2024-09-02 08:00:00 UTC);
    let update = DraftUpdate { name: "one-renamed", description: None, body: &new_body };
    let updated = s.update_prompt(ACCOUNT, REGION, &a.id, update, when).await.unwrap();
    assert_eq!((updated.name.as_str(), updated.description.as_deref()), ("one-renamed", None));
    assert_eq!((updated.body.clone(), updated.created_at, updated.updated_at), (new_body.clone(), a.created_at, when));
    // Renaming onto another prompt's name conflicts; an unknown prompt is NotFound.
    let clash = DraftUpdate { name: "two", description: None, body: &new_body };
    assert!(matches!(s.update_prompt(ACCOUNT, REGION, &a.id, clash, when).await, Err(StoreError::Conflict(_))));
    assert!(matches!(s.update_prompt(ACCOUNT, REGION, "ZZZZZZZZZ9", update, when).await, Err(StoreError::NotFound)));
}

pub async fn prompt_create_is_idempotent_and_names_are_unique(h: &Harness) {
    let s = &h.store;
    let mut first = prompt(ACCOUNT, "AAAAAAAAA1", "dup");
    first.client_token = Some("t".repeat(33));
    let created = s.create_prompt(&first).await.unwrap();
    // The retry carries a fresh id (the API layer draws one per call): same answer.
    let mut retry = prompt(ACCOUNT, "ZZZZZZZZZ9", "dup");
    retry.client_token = first.client_token.clone();
    assert_eq!(s.create_prompt(&retry).await.unwrap(), created);
    assert_eq!(s.list_prompts(ACCOUNT, REGION, 10, 0).await.unwrap().len(), 1);

    let err = s.create_prompt(&prompt(ACCOUNT, "BBBBBBBBB2", "dup")).await.unwrap_err();
    assert!(matches!(&err, StoreError::Conflict(msg) if msg.contains("dup")), "{err:?}");
    // The same name is fine in another account.
    s.create_prompt(&prompt(OTHER, "BBBBBBBBB2", "dup")).await.unwrap();
}

pub async fn prompt_versions_are_immutable_snapshots(h: &Harness) {
    let s = &h.store;
    let p = s.create_prompt(&prompt(ACCOUNT, "AAAAAAAAA1", "p")).await.unwrap();
    let at = datetime!(2024-09-03 09:00:00 UTC);
    let token = "v".repeat(40);
    let v1 = s.create_prompt_version(ACCOUNT, REGION, &p.id, None, Some(&token), at).await.unwrap();
    assert_eq!((v1.version, v1.arn.as_str()), (Some(1), format!("{}:1", p.arn).as_str()));
    assert_eq!((v1.body.clone(), v1.description.as_deref(), v1.created_at), (p.body.clone(), Some("the draft"), at));
    // Same token: the same version, not a second one.
    assert_eq!(s.create_prompt_version(ACCOUNT, REGION, &p.id, None, Some(&token), at).await.unwrap(), v1);

    let new_body = body("Changed {{topic}}");
    let update = DraftUpdate { name: "p", description: Some("draft 2"), body: &new_body };
    s.update_prompt(ACCOUNT, REGION, &p.id, update, at).await.unwrap();
    assert_eq!(s.get_prompt(ACCOUNT, REGION, &p.id, Some(1)).await.unwrap(), v1, "version 1 is unchanged");
    let v2 = s.create_prompt_version(ACCOUNT, REGION, &p.id, Some("second"), None, at).await.unwrap();
    assert_eq!((v2.version, v2.description.as_deref(), &v2.body), (Some(2), Some("second"), &new_body));
    assert_eq!(s.list_prompt_versions(ACCOUNT, REGION, &p.id).await.unwrap(), [v1.clone(), v2.clone()]);

    // Numbers are never reused: after deleting version 2, the next one is 3.
    s.tag_resource(ACCOUNT, &v2.arn, &tags(&[("stage", "beta")])).await.unwrap();
    assert_eq!(s.delete_prompt(ACCOUNT, REGION, &p.id, Some(2)).await.unwrap(), v2);
    assert!(s.list_tags(ACCOUNT, &v2.arn).await.unwrap().is_empty());
    assert!(matches!(s.delete_prompt(ACCOUNT, REGION, &p.id, Some(2)).await, Err(StoreError::NotFound)));
    let v3 = s.create_prompt_version(ACCOUNT, REGION, &p.id, None, None, at).await.unwrap();
    assert_eq!(v3.version, Some(3));
    assert!(matches!(
        s.create_prompt_version(ACCOUNT, REGION, "ZZZZZZZZZ9", None, None, at).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn prompt_delete_takes_versions_and_tags(h: &Harness) {
    let s = &h.store;
    let p = s.create_prompt(&prompt(ACCOUNT, "AAAAAAAAA1", "p")).await.unwrap();
    let at = datetime!(2024-09-03 09:00:00 UTC);
    let v1 = s.create_prompt_version(ACCOUNT, REGION, &p.id, None, None, at).await.unwrap();
    s.tag_resource(ACCOUNT, &p.arn, &tags(&[("team", "a")])).await.unwrap();
    s.tag_resource(ACCOUNT, &v1.arn, &tags(&[("team", "b")])).await.unwrap();

    // Another account knows the id and still cannot touch it.
    assert!(matches!(s.get_prompt(OTHER, REGION, &p.id, None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_prompt(OTHER, REGION, &p.id, None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.create_prompt_version(OTHER, REGION, &p.id, None, None, at).await, Err(StoreError::NotFound)));
    assert!(s.list_prompts(OTHER, REGION, 10, 0).await.unwrap().is_empty());

    assert_eq!(s.delete_prompt(ACCOUNT, REGION, &p.id, None).await.unwrap(), p);
    assert!(matches!(s.get_prompt(ACCOUNT, REGION, &p.id, None).await, Err(StoreError::NotFound)));
    assert!(matches!(s.get_prompt(ACCOUNT, REGION, &p.id, Some(1)).await, Err(StoreError::NotFound)));
    assert!(s.list_prompt_versions(ACCOUNT, REGION, &p.id).await.unwrap().is_empty());
    assert!(s.list_tags(ACCOUNT, &p.arn).await.unwrap().is_empty());
    assert!(s.list_tags(ACCOUNT, &v1.arn).await.unwrap().is_empty());
    assert!(matches!(s.delete_prompt(ACCOUNT, REGION, &p.id, None).await, Err(StoreError::NotFound)));
    // The name is free again.
    s.create_prompt(&prompt(ACCOUNT, "BBBBBBBBB2", "p")).await.unwrap();
}

pub async fn prompt_restart_keeps_drafts_and_versions(h: &Harness) {
    let s = &h.store;
    let mut p = prompt(ACCOUNT, "AAAAAAAAA1", "kept");
    p.client_token = Some("k".repeat(33));
    let p = s.create_prompt(&p).await.unwrap();
    let v1 = s.create_prompt_version(ACCOUNT, REGION, &p.id, None, None, p.created_at).await.unwrap();
    s.close().await;

    let s = h.reopen().await;
    assert_eq!(s.get_prompt(ACCOUNT, REGION, &p.id, None).await.unwrap(), p);
    assert_eq!(s.get_prompt(ACCOUNT, REGION, &p.id, Some(1)).await.unwrap(), v1);
    let mut retry = prompt(ACCOUNT, "ZZZZZZZZZ9", "kept");
    retry.client_token = p.client_token.clone();
    assert_eq!(s.create_prompt(&retry).await.unwrap(), p);
    // The version counter survives too.
    let v2 = s.create_prompt_version(ACCOUNT, REGION, &p.id, None, None, p.created_at).await.unwrap();
    assert_eq!(v2.version, Some(2));
    s.close().await;
}
