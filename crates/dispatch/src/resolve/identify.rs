//! What a `modelId` names, decided once from its form: the first step of resolution.
//! Everything after this works on the typed [`Identifier`], never on the string again.

use spillway_catalog::Catalog;
use spillway_wire::arn::Arn;

/// The kinds of `modelId` a runtime call may pass (DESIGN.md §2 rule 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    /// A foundation model or system profile, by ID or ARN: the catalog resolves it.
    Catalog(&'a str),
    /// `arn:…:application-inference-profile/…`: routes as what it copies.
    Application(&'a str),
    /// `arn:…:prompt/…`: Converse renders it and runs on the prompt's model.
    Prompt(&'a str),
    /// `arn:…:provisioned-model/…` of the caller's account and region.
    Provisioned(&'a str),
    /// A provisioned-model ARN of another account or region.
    ForeignProvisioned,
    /// `arn:…:imported-model/…`.
    Imported(Arn<'a>),
    /// A custom model by ARN, name or id: it runs only on provisioned throughput.
    Custom(&'a str),
}

pub fn identify<'a>(catalog: &Catalog, model_id: &'a str, account: &str, region: &str) -> Identifier<'a> {
    let Some(arn) = Arn::parse(model_id) else {
        if catalog.custom_model(model_id).is_some() {
            return Identifier::Custom(model_id);
        }
        return Identifier::Catalog(model_id);
    };
    match arn.resource_type {
        "application-inference-profile" => Identifier::Application(model_id),
        "prompt" => Identifier::Prompt(model_id),
        "provisioned-model" if arn.region == region && arn.account == account => Identifier::Provisioned(model_id),
        "provisioned-model" => Identifier::ForeignProvisioned,
        "imported-model" => Identifier::Imported(arn),
        "custom-model" => Identifier::Custom(model_id),
        _ => Identifier::Catalog(model_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    fn id(model_id: &str) -> Identifier<'_> {
        identify(&spillway_catalog::builtin().unwrap(), model_id, ACCOUNT, "us-east-1")
    }

    #[test]
    fn each_form_is_named_once() {
        let sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0";
        assert_eq!(id(sonnet), Identifier::Catalog(sonnet));
        let fm = format!("arn:aws:bedrock:us-east-1::foundation-model/{sonnet}");
        assert_eq!(id(&fm), Identifier::Catalog(&fm));
        let app = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/abcdefghijkl");
        assert_eq!(id(&app), Identifier::Application(&app));
        let prompt = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:prompt/ABCDEFGHIJ:1");
        assert_eq!(id(&prompt), Identifier::Prompt(&prompt));
        let pt = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/abc123");
        assert_eq!(id(&pt), Identifier::Provisioned(&pt));
        let other = "arn:aws:bedrock:us-west-2:999999999999:provisioned-model/abc123";
        assert_eq!(id(other), Identifier::ForeignProvisioned);
        let custom = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/base/xyz");
        assert_eq!(id(&custom), Identifier::Custom(&custom));
        let imported = format!("arn:aws:bedrock:us-east-1:{ACCOUNT}:imported-model/abcdefghijkl");
        assert!(matches!(id(&imported), Identifier::Imported(a) if a.resource == "abcdefghijkl"));
        assert_eq!(id("not-a-model"), Identifier::Catalog("not-a-model"));
    }
}
