use spillway_catalog::Catalog;

use super::{is_provisioned_arn, served, NotServed};

const ACCOUNT: &str = "123456789012";

fn catalog() -> Catalog {
    let text = format!(
        "{}\n{}",
        spillway_catalog::BUILTIN_TOML,
        r#"
[[custom_models]]
id = "abcdef012345"
name = "support-bot"
base_model = "anthropic.claude-3-haiku-20240307-v1:0"
region = "us-east-1"
tokens_per_minute = 1000
concurrency = 1
hourly_price = { one_month = 20.0 }
"#
    );
    spillway_catalog::from_toml(&text).unwrap()
}

#[test]
fn foundation_models_by_id_arn_and_variant() {
    let c = catalog();
    let s = served(&c, "us-east-1", ACCOUNT, "anthropic.claude-v2:1:18k").unwrap();
    // Seed 002: the variant stays in the model ARNs.
    assert_eq!(s.model_arn, "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1:18k");
    assert_eq!(s.foundation_model_arn, s.model_arn);
    assert_eq!(s.model.id, "anthropic.claude-v2:1");
    let arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";
    assert_eq!(served(&c, "us-east-1", ACCOUNT, arn).unwrap().model_arn, arn);
    assert_eq!(served(&c, "us-west-2", ACCOUNT, arn).unwrap_err(), NotServed::Unknown);
    assert_eq!(served(&c, "us-east-1", ACCOUNT, "anthropic.claude-v2:1:99k").unwrap_err(), NotServed::Unknown);
    assert_eq!(served(&c, "us-east-1", ACCOUNT, "anthropic.nope-v1").unwrap_err(), NotServed::Unknown);
}

#[test]
fn not_sold_where_the_catalog_has_no_units() {
    let c = catalog();
    // Offered on demand in Frankfurt, but not sold as provisioned throughput there.
    let e = served(&c, "eu-central-1", ACCOUNT, "anthropic.claude-v2:1").unwrap_err();
    assert!(matches!(e, NotServed::NotSold(m) if m.contains("eu-central-1")));
    assert!(matches!(served(&c, "us-east-1", ACCOUNT, "amazon.titan-embed-text-v1"), Err(NotServed::NotSold(_))));
}

#[test]
fn custom_models_by_arn_name_and_id() {
    let c = catalog();
    let arn =
        format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/anthropic.claude-3-haiku-20240307-v1:0/abcdef012345");
    for id in [arn.as_str(), "support-bot", "abcdef012345"] {
        let s = served(&c, "us-east-1", ACCOUNT, id).unwrap();
        assert_eq!(s.model_arn, arn);
        assert_eq!(
            s.foundation_model_arn,
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        );
        assert!(s.custom.is_some());
    }
    // Another account's ARN, or another base model in the ARN, names nothing.
    assert_eq!(served(&c, "us-east-1", "999999999999", &arn).unwrap_err(), NotServed::Unknown);
    let wrong_base = arn.replace("claude-3-haiku-20240307-v1:0", "claude-v2:1");
    assert_eq!(served(&c, "us-east-1", ACCOUNT, &wrong_base).unwrap_err(), NotServed::Unknown);
    assert!(matches!(served(&c, "us-west-2", ACCOUNT, "support-bot"), Err(NotServed::NotSold(_))));
}

#[test]
fn provisioned_arns_are_recognised() {
    assert!(is_provisioned_arn("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/6w96yspvh8ey"));
    assert!(!is_provisioned_arn("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-v2:1"));
    assert!(!is_provisioned_arn("anthropic.claude-v2:1"));
}
