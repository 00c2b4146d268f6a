//! Model identifiers and ARNs (bedrock-wire.md §7).

/// The parts of `arn:{partition}:{service}:{region}:{account}:{type}/{resource}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource_type: &'a str,
    /// Everything after the first `/` (may itself contain `/` and `:`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parse an ARN; `None` if `s` is not one.
    pub fn parse(s: &'a str) -> Option<Self> {
        let rest = s.strip_prefix("arn:")?;
        let mut parts = rest.splitn(5, ':');
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let tail = parts.next()?;
        let (resource_type, resource) = tail.split_once('/')?;
        if partition.is_empty() || service.is_empty() || resource_type.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Self { partition, service, region, account, resource_type, resource })
    }
}

pub fn foundation_model(region: &str, model_id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model_id}")
}

pub fn inference_profile(region: &str, account: &str, profile_id: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:inference-profile/{profile_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_foundation_model_arn_with_colons() {
        let a = Arn::parse("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0")
            .unwrap();
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.account, "");
        assert_eq!(a.resource_type, "foundation-model");
        assert_eq!(a.resource, "anthropic.claude-3-5-sonnet-20240620-v1:0");
    }

    #[test]
    fn parses_profile_and_prompt_arns() {
        let a = Arn::parse(
            "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
        )
        .unwrap();
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.resource, "eu.anthropic.claude-3-haiku-20240307-v1:0");
        let p = Arn::parse("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ:3").unwrap();
        assert_eq!(p.resource, "ABCDEFGHIJ:3");
    }

    #[test]
    fn rejects_non_arns() {
        assert!(Arn::parse("anthropic.claude-v2:1").is_none());
        assert!(Arn::parse("arn:aws:bedrock:us-east-1:1:nothing").is_none());
    }

    #[test]
    fn builds_arns() {
        assert_eq!(
            foundation_model("ap-northeast-1", "amazon.titan-text-express-v1"),
            "arn:aws:bedrock:ap-northeast-1::foundation-model/amazon.titan-text-express-v1"
        );
    }
}
