use serde_json::{json, Value};

use super::*;
use crate::builtin;

const TOKYO: &str = "ap-northeast-1";
const ACCOUNT: &str = "123456789012";
const SONNET3: &str = "anthropic.claude-3-sonnet-20240229-v1:0";

/// Seed 003's ListFoundationModels rows for ap-northeast-1 (ON_DEMAND), in its order:
/// name, provider, id, input modalities, output modalities.
const SEED_003_MODELS: [(&str, &str, &str, &str, &str); 8] = [
    ("Titan Text G1 - Express", "Amazon", "amazon.titan-text-express-v1", "TEXT", "TEXT"),
    ("Titan Embeddings G1 - Text", "Amazon", "amazon.titan-embed-text-v1", "TEXT", "EMBEDDING"),
    ("Claude Instant", "Anthropic", "anthropic.claude-instant-v1", "TEXT", "TEXT"),
    ("Claude", "Anthropic", "anthropic.claude-v2:1", "TEXT", "TEXT"),
    ("Claude 3 Haiku", "Anthropic", "anthropic.claude-3-haiku-20240307-v1:0", "TEXT IMAGE", "TEXT"),
    ("Claude 3.5 Sonnet", "Anthropic", "anthropic.claude-3-5-sonnet-20240620-v1:0", "TEXT IMAGE", "TEXT"),
    ("Embed English", "Cohere", "cohere.embed-english-v3", "TEXT", "EMBEDDING"),
    ("Embed Multilingual", "Cohere", "cohere.embed-multilingual-v3", "TEXT", "EMBEDDING"),
];

/// Seed 003's ListInferenceProfiles rows (SYSTEM_DEFINED) from ap-northeast-1.
const SEED_003_PROFILES: [(&str, &str); 3] = [
    ("APAC Anthropic Claude 3 Sonnet", "apac.anthropic.claude-3-sonnet-20240229-v1:0"),
    ("APAC Anthropic Claude 3.5 Sonnet", "apac.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("APAC Anthropic Claude 3 Haiku", "apac.anthropic.claude-3-haiku-20240307-v1:0"),
];

fn filters(f: impl FnOnce(&mut ModelFilters)) -> ModelFilters {
    let mut filters = ModelFilters::default();
    f(&mut filters);
    filters
}

fn ids(r: &ListFoundationModelsResponse) -> Vec<&str> {
    r.model_summaries.iter().map(|s| s.model_id.as_str()).collect()
}

/// The first of today's models in the built-in catalog: the seeds' listings are what is
/// listed of the models before it.
const FIRST_2026_MODEL: &str = "anthropic.claude-3-5-sonnet-20241022-v2:0";

fn seed_era(c: &Catalog) -> impl Fn(&str) -> bool + '_ {
    let first = c.models.iter().position(|m| m.id == FIRST_2026_MODEL).unwrap();
    move |id| c.models.iter().position(|m| m.id == id).unwrap() < first
}

fn seed_era_profile(c: &Catalog) -> impl Fn(&str) -> bool + '_ {
    let model_is_seed = seed_era(c);
    move |id| c.profile(id).is_some_and(|p| model_is_seed(&p.model))
}

fn message(e: BedrockError) -> (ErrorCode, String) {
    (e.code, e.message)
}

#[test]
fn tokyo_on_demand_models_are_seed_003_rows_in_order() {
    let c = builtin().unwrap().with_sim_backends();
    let f = filters(|f| f.by_inference_type = Some("ON_DEMAND".into()));
    let list = list_foundation_models(&c, TOKYO, &f).unwrap();
    assert_eq!(list.model_summaries.len(), SEED_003_MODELS.len());
    for (s, (name, provider, id, input, output)) in list.model_summaries.iter().zip(SEED_003_MODELS) {
        assert_eq!(s.model_name, name);
        assert_eq!(s.provider_name, provider);
        assert_eq!(s.model_id, id);
        assert_eq!(s.model_arn, format!("arn:aws:bedrock:ap-northeast-1::foundation-model/{id}"));
        assert_eq!(s.input_modalities.join(" "), input);
        assert_eq!(s.output_modalities.join(" "), output);
        assert_eq!(s.model_lifecycle.status, "ACTIVE");
        assert_eq!(s.inference_types_supported, ["ON_DEMAND"]);
        assert_eq!(s.spillway_backend, "sim");
    }
}

#[test]
fn tokyo_sonnet_3_is_listed_only_as_inference_profile() {
    let c = builtin().unwrap();
    let all = list_foundation_models(&c, TOKYO, &ModelFilters::default()).unwrap();
    let seed = seed_era(&c);
    assert_eq!(ids(&all).into_iter().filter(|id| seed(id)).count(), 9);
    let s = all.model_summaries.iter().find(|s| s.model_id == SONNET3).unwrap();
    assert_eq!(s.inference_types_supported, ["INFERENCE_PROFILE"]);
    let f = filters(|f| f.by_inference_type = Some("INFERENCE_PROFILE".into()));
    let only = list_foundation_models(&c, TOKYO, &f).unwrap();
    assert_eq!(ids(&only).into_iter().filter(|id| seed(id)).collect::<Vec<_>>(), [SONNET3]);
    // Today's Claude 4.x models are profile-only in Tokyo (jp., apac., global.).
    assert!(ids(&only).contains(&"anthropic.claude-sonnet-4-5-20250929-v1:0"));
    let details = get_foundation_model(&c, TOKYO, SONNET3).unwrap().model_details;
    assert_eq!(details.inference_types_supported, ["INFERENCE_PROFILE"]);
    // In Virginia it is on demand.
    let details = get_foundation_model(&c, "us-east-1", SONNET3).unwrap().model_details;
    assert_eq!(details.inference_types_supported, ["ON_DEMAND"]);
}

#[test]
fn summary_wire_shape() {
    let c = builtin().unwrap().with_sim_backends();
    let got = get_foundation_model(&c, TOKYO, "amazon.titan-text-express-v1").unwrap();
    let expected = json!({"modelDetails": {
        "modelArn": "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-text-express-v1",
        "modelId": "amazon.titan-text-express-v1",
        "modelName": "Titan Text G1 - Express",
        "providerName": "Amazon",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": true,
        "customizationsSupported": ["FINE_TUNING", "CONTINUED_PRE_TRAINING"],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
        "spillwayBackend": "sim",
    }});
    assert_eq!(serde_json::to_value(&got).unwrap(), expected);
}

#[test]
fn filters_by_provider_modality_and_customization() {
    let c = builtin().unwrap();
    let f = filters(|f| f.by_provider = Some("cohere".into()));
    assert_eq!(
        ids(&list_foundation_models(&c, TOKYO, &f).unwrap()),
        ["cohere.embed-english-v3", "cohere.embed-multilingual-v3"]
    );
    let f = filters(|f| f.by_output_modality = Some("EMBEDDING".into()));
    assert_eq!(list_foundation_models(&c, TOKYO, &f).unwrap().model_summaries.len(), 3);
    let f = filters(|f| f.by_customization_type = Some("FINE_TUNING".into()));
    assert_eq!(ids(&list_foundation_models(&c, TOKYO, &f).unwrap()), ["amazon.titan-text-express-v1"]);
    let f = filters(|f| f.by_inference_type = Some("PROVISIONED".into()));
    assert!(list_foundation_models(&c, TOKYO, &f).unwrap().model_summaries.is_empty());
    // Filters combine; a region lists only what it offers (Llama is US-only).
    let f = filters(|f| {
        f.by_provider = Some("META".into());
        f.by_output_modality = Some("TEXT".into());
    });
    assert!(list_foundation_models(&c, TOKYO, &f).unwrap().model_summaries.is_empty());
    assert_eq!(
        ids(&list_foundation_models(&c, "us-east-1", &f).unwrap()),
        [
            "meta.llama3-8b-instruct-v1:0",
            "meta.llama4-maverick-17b-instruct-v1:0",
            "meta.llama4-scout-17b-instruct-v1:0"
        ]
    );
}

#[test]
fn bad_filters_are_coral_validation_errors() {
    let c = builtin().unwrap();
    let f = filters(|f| f.by_inference_type = Some("X".into()));
    let (code, msg) = message(list_foundation_models(&c, TOKYO, &f).unwrap_err());
    assert_eq!(code, ErrorCode::Validation);
    assert_eq!(
        msg,
        "1 validation error detected: Value 'X' at 'byInferenceType' failed to satisfy constraint: \
         Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]"
    );
    let f = filters(|f| {
        f.by_provider = Some("a!".into());
        f.by_output_modality = Some("text".into());
    });
    let (_, msg) = message(list_foundation_models(&c, TOKYO, &f).unwrap_err());
    assert!(msg.starts_with("2 validation errors detected: Value 'a!' at 'byProvider'"), "{msg}");
    assert!(msg.contains("; Value 'text' at 'byOutputModality' failed to satisfy constraint: Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]"), "{msg}");
}

#[test]
fn get_model_by_id_or_arn_in_the_callers_region() {
    let c = builtin().unwrap();
    let arn = "arn:aws:bedrock:ap-northeast-1::foundation-model/anthropic.claude-v2:1";
    assert_eq!(get_foundation_model(&c, TOKYO, arn).unwrap().model_details.model_arn, arn);
    let not_found = (ErrorCode::ResourceNotFound, MODEL_NOT_FOUND.to_owned());
    // Another region's ARN, a model not offered here, and an unknown model.
    assert_eq!(message(get_foundation_model(&c, "us-east-1", arn).unwrap_err()), not_found);
    assert_eq!(message(get_foundation_model(&c, TOKYO, "meta.llama3-8b-instruct-v1:0").unwrap_err()), not_found);
    assert_eq!(message(get_foundation_model(&c, TOKYO, "anthropic.claude-99").unwrap_err()), not_found);
    // Not a model identifier at all.
    let (code, msg) = message(get_foundation_model(&c, TOKYO, "Not A Model").unwrap_err());
    assert_eq!(code, ErrorCode::Validation);
    assert!(msg.starts_with("1 validation error detected: Value 'Not A Model' at 'modelIdentifier'"), "{msg}");
}

#[test]
fn tokyo_system_profiles_are_seed_003_rows() {
    let c = builtin().unwrap();
    let q = ProfileQuery { type_equals: Some("SYSTEM_DEFINED".into()), ..ProfileQuery::default() };
    let list = list_inference_profiles(&c, TOKYO, ACCOUNT, &q, Vec::new()).unwrap();
    assert!(list.next_token.is_none());
    let seed = seed_era_profile(&c);
    let rows: Vec<_> = list
        .inference_profile_summaries
        .iter()
        .filter(|p| seed(&p.inference_profile_id))
        .map(|p| {
            (
                p.inference_profile_name.as_str(),
                p.inference_profile_id.as_str(),
                p.inference_profile_arn.as_str(),
                p.status,
            )
        })
        .collect();
    let expected: Vec<_> = SEED_003_PROFILES
        .iter()
        .map(|(name, id)| (*name, *id, format!("arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/{id}")))
        .collect();
    assert_eq!(rows.len(), expected.len());
    for (got, want) in rows.iter().zip(&expected) {
        assert_eq!((got.0, got.1, got.2, got.3), (want.0, want.1, want.2.as_str(), "ACTIVE"));
    }
    let none = ProfileQuery { type_equals: Some("APPLICATION".into()), ..ProfileQuery::default() };
    assert!(list_inference_profiles(&c, TOKYO, ACCOUNT, &none, Vec::new())
        .unwrap()
        .inference_profile_summaries
        .is_empty());
}

#[test]
fn profile_wire_shape_lists_each_destination() {
    let c = builtin().unwrap();
    let p = get_inference_profile(&c, "eu-west-3", ACCOUNT, "eu.anthropic.claude-3-5-sonnet-20240620-v1:0").unwrap();
    let v = serde_json::to_value(&p).unwrap();
    assert_eq!(v["type"], "SYSTEM_DEFINED");
    assert_eq!(v["status"], "ACTIVE");
    assert_eq!(v["createdAt"], SYSTEM_PROFILE_TIMESTAMP);
    assert_eq!(
        v["inferenceProfileArn"],
        "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0"
    );
    // 3.5 Sonnet is served only in Frankfurt among the EU profile's regions.
    let arns: Vec<&Value> = v["models"].as_array().unwrap().iter().map(|m| &m["modelArn"]).collect();
    assert_eq!(
        arns,
        [&json!("arn:aws:bedrock:eu-central-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0")]
    );
    // A profile-only offer is still a destination (Tokyo for Claude 3 Sonnet).
    let p = get_inference_profile(&c, TOKYO, ACCOUNT, "apac.anthropic.claude-3-sonnet-20240229-v1:0").unwrap();
    assert_eq!(p.models.len(), 5);
    assert_eq!(p.models[0].model_arn, format!("arn:aws:bedrock:ap-northeast-1::foundation-model/{SONNET3}"));
}

#[test]
fn get_profile_by_arn_needs_the_callers_region_and_account() {
    let c = builtin().unwrap();
    let id = "apac.anthropic.claude-3-haiku-20240307-v1:0";
    let arn = format!("arn:aws:bedrock:ap-northeast-1:{ACCOUNT}:inference-profile/{id}");
    assert_eq!(get_inference_profile(&c, TOKYO, ACCOUNT, &arn).unwrap().inference_profile_id, id);
    for (region, account, ident) in [
        (TOKYO, "999999999999", arn.as_str()),
        ("ap-northeast-2", ACCOUNT, arn.as_str()),
        ("us-east-1", ACCOUNT, id),
        (TOKYO, ACCOUNT, "apac.nothing"),
        (TOKYO, ACCOUNT, "arn:aws:bedrock:ap-northeast-1:123456789012:application-inference-profile/abc123def456"),
    ] {
        let (code, msg) = message(get_inference_profile(&c, region, account, ident).unwrap_err());
        assert_eq!(code, ErrorCode::ResourceNotFound, "{ident} from {region}");
        assert_eq!(msg, format!("The inference profile {ident} couldn't be found in {region}."));
    }
    let (code, _) = message(get_inference_profile(&c, TOKYO, ACCOUNT, "has space").unwrap_err());
    assert_eq!(code, ErrorCode::Validation);
}

#[test]
fn profiles_paginate_with_opaque_tokens() {
    let c = builtin().unwrap();
    let all = list_inference_profiles(&c, "us-east-1", ACCOUNT, &ProfileQuery::default(), Vec::new()).unwrap();
    let callable = c.profiles.iter().filter(|p| p.regions.iter().any(|r| r == "us-east-1")).count();
    assert_eq!(all.inference_profile_summaries.len(), callable);
    let seed = seed_era_profile(&c);
    assert_eq!(all.inference_profile_summaries.iter().filter(|p| seed(&p.inference_profile_id)).count(), 4);
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let q = ProfileQuery { max_results: Some("3".into()), next_token: token.clone(), type_equals: None };
        let page = list_inference_profiles(&c, "us-east-1", ACCOUNT, &q, Vec::new()).unwrap();
        assert!(page.inference_profile_summaries.len() <= 3);
        seen.extend(page.inference_profile_summaries);
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, all.inference_profile_summaries);

    let bad = ProfileQuery { next_token: Some("garbage".into()), ..ProfileQuery::default() };
    let (code, msg) = message(list_inference_profiles(&c, TOKYO, ACCOUNT, &bad, Vec::new()).unwrap_err());
    assert_eq!((code, msg.as_str()), (ErrorCode::Validation, "The provided nextToken is invalid."));
    for (max, constraint) in [
        ("0", "Member must have value greater than or equal to 1"),
        ("1001", "Member must have value less than or equal to 1000"),
        ("ten", "Member must be an integer"),
    ] {
        let q = ProfileQuery { max_results: Some(max.into()), ..ProfileQuery::default() };
        let (_, msg) = message(list_inference_profiles(&c, TOKYO, ACCOUNT, &q, Vec::new()).unwrap_err());
        assert_eq!(
            msg,
            format!(
                "1 validation error detected: Value '{max}' at 'maxResults' failed to satisfy constraint: {constraint}"
            )
        );
    }
    let q = ProfileQuery { type_equals: Some("system_defined".into()), ..ProfileQuery::default() };
    assert!(list_inference_profiles(&c, TOKYO, ACCOUNT, &q, Vec::new()).is_err());
}

#[test]
fn global_profiles_are_callable_everywhere_and_name_the_regionless_model() {
    let c = builtin().unwrap();
    let id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
    let p = c.profile(id).unwrap();
    assert!(p.is_global());
    assert_eq!(p.regions.len(), c.regions.len());
    let got = get_inference_profile(&c, "eu-west-3", ACCOUNT, id).unwrap();
    let arns: Vec<&str> = got.models.iter().map(|m| m.model_arn.as_str()).collect();
    assert_eq!(
        arns,
        [
            "arn:aws:bedrock:eu-west-3::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"
        ]
    );
    // Geographic profiles keep their geography.
    let jp = c.profile("jp.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
    assert_eq!(jp.regions, ["ap-northeast-1", "ap-northeast-3"]);
}

#[test]
fn local_backends_say_whether_their_model_is_fetched() {
    let mut c = builtin().unwrap();
    let missing = std::env::temp_dir().join(format!("spillway-no-model-{}.gguf", std::process::id()));
    let set_file = |c: &mut Catalog, path: &std::path::Path| {
        for spec in c.backends.values_mut() {
            if let BackendSpec::Local(l) = spec {
                l.model_file = Some(path.to_owned());
            }
        }
    };
    set_file(&mut c, &missing);
    let got = get_foundation_model(&c, TOKYO, "amazon.titan-text-express-v1").unwrap().model_details;
    assert_eq!(got.spillway_backend, "local (model not fetched)");
    let present = std::env::temp_dir().join(format!("spillway-model-{}.gguf", std::process::id()));
    std::fs::write(&present, b"GGUF").unwrap();
    set_file(&mut c, &present);
    let got = get_foundation_model(&c, TOKYO, "amazon.titan-text-express-v1").unwrap().model_details;
    std::fs::remove_file(&present).unwrap();
    assert_eq!(got.spillway_backend, "local");
}
