use crate::provisioned::{is_model_name, Commitment};
use crate::{builtin, from_toml};

const BASE: &str = r#"
default_region = "r1"
default_backend = "s"
[provisioning]
delay_ms = 200
[backends.s]
kind = "sim"
[backends.ft]
kind = "sim"
max_concurrency = 4
[regions.r1]
[regions.r2]
[[models]]
id = "m.one-v1"
name = "One"
provider = "Acme"
body_format = "anthropic"
[models.regions]
r1 = { rpm = 10, tpm = 1000 }
r2 = { rpm = 10, tpm = 1000 }
[models.provisioned]
tokens_per_minute = 500
concurrency = 2
regions = ["r1"]
variants = ["8k"]
hourly_price = { no_commitment = 10.0, six_months = 4.0 }
[[custom_models]]
id = "abcdef012345"
name = "support-bot"
base_model = "m.one-v1"
region = "r2"
backend = "ft"
tokens_per_minute = 100
concurrency = 1
hourly_price = { one_month = 2.5 }
"#;

fn err(text: &str) -> String {
    from_toml(text).unwrap_err().to_string()
}

#[test]
fn provisioned_settings_load() {
    let c = from_toml(BASE).unwrap();
    assert_eq!(c.provisioning.delay_ms, 200);
    let spec = c.model("m.one-v1").unwrap().provisioned.as_ref().unwrap();
    assert_eq!((spec.unit.tokens_per_minute, spec.unit.concurrency), (500, 2));
    assert_eq!(spec.regions, ["r1"]);
    assert_eq!(spec.unit.hourly_price.for_term(None), Some(10.0));
    assert_eq!(spec.unit.hourly_price.for_term(Some(Commitment::SixMonths)), Some(4.0));
    assert_eq!(spec.unit.hourly_price.for_term(Some(Commitment::OneMonth)), None);
    let custom = c.custom_model("support-bot").unwrap();
    assert_eq!(c.custom_model("abcdef012345").unwrap().name, "support-bot");
    assert_eq!((custom.offer.region.as_str(), custom.offer.backend.as_str()), ("r2", "ft"));
    assert_eq!(custom.offer.backend_model, "support-bot");
    assert_eq!(custom.arn("123456789012"), "arn:aws:bedrock:r2:123456789012:custom-model/m.one-v1/abcdef012345");
}

#[test]
fn regions_default_to_every_offer() {
    let c = from_toml(&BASE.replace("regions = [\"r1\"]\n", "")).unwrap();
    assert_eq!(c.model("m.one-v1").unwrap().provisioned.as_ref().unwrap().regions, ["r1", "r2"]);
}

#[test]
fn bad_values_are_named() {
    let cases = [
        ("concurrency = 2", "concurrency = 0", "models[0].provisioned.concurrency:"),
        ("tokens_per_minute = 500", "tokens_per_minute = 0", "models[0].provisioned.tokens_per_minute:"),
        ("regions = [\"r1\"]", "regions = [\"r1\", \"r9\"]", "models[0].provisioned.regions[1]:"),
        ("variants = [\"8k\"]", "variants = [\"8K\"]", "models[0].provisioned.variants[0]:"),
        (
            "no_commitment = 10.0, six_months = 4.0",
            "six_months = -1.0",
            "models[0].provisioned.hourly_price.six_months:",
        ),
        ("{ one_month = 2.5 }", "{}", "custom_models[0].hourly_price:"),
        ("id = \"abcdef012345\"", "id = \"ABC\"", "custom_models[0].id:"),
        ("name = \"support-bot\"", "name = \"m.one-v1\"", "custom_models[0].name:"),
        ("base_model = \"m.one-v1\"", "base_model = \"m.nope\"", "custom_models[0].base_model:"),
        ("region = \"r2\"", "region = \"r9\"", "custom_models[0].region:"),
        ("backend = \"ft\"", "backend = \"nope\"", "custom_models[0].backend:"),
    ];
    for (from, to, key) in cases {
        let e = err(&BASE.replace(from, to));
        assert!(e.starts_with(key), "{from} → {to}: {e}");
    }
}

#[test]
fn unknown_keys_are_named() {
    let e = err(&BASE.replace("concurrency = 2", "concurrency = 2\nconcurency = 3"));
    assert!(e.contains("models[0].provisioned") && e.contains("concurency"), "{e}");
    let e = err(&BASE.replace("delay_ms = 200", "delay = 200"));
    assert!(e.contains("provisioning") && e.contains("delay"), "{e}");
    let e = err(&BASE.replace("concurrency = 1", "concurrency = 1\nregions = [\"r1\"]"));
    assert!(e.contains("custom_models[0]") && e.contains("regions"), "{e}");
}

#[test]
fn builtin_sells_units_as_seed_002() {
    let c = builtin().unwrap();
    let claude = c.model("anthropic.claude-v2:1").unwrap().provisioned.as_ref().unwrap();
    assert!(claude.variants.iter().any(|v| v == "18k"));
    assert!(claude.regions.iter().any(|r| r == "us-east-1"));
    assert!(c.model("anthropic.claude-3-haiku-20240307-v1:0").unwrap().provisioned.is_some());
    assert!(c.model("amazon.titan-embed-text-v1").unwrap().provisioned.is_none());
    assert_eq!(c.provisioning.delay_ms, 5_000);
}

#[test]
fn model_name_pattern() {
    assert!(is_model_name("hogethru2") && is_model_name("a_b-c") && is_model_name("A1"));
    assert!(!is_model_name("") && !is_model_name("-a") && !is_model_name("a--b") && !is_model_name("a b"));
}
