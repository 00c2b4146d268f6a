//! The `X-Amzn-Bedrock-*` request headers of InvokeModel and
//! InvokeModelWithResponseStream (botocore's header-bound members): each one works or is
//! refused by name, as the Converse members are ([`crate::surface`]).

use crate::error::BedrockError;
use crate::options::{Latency, ServiceTierType};
use crate::surface::not_supported;

/// What the headers ask for, once checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvokeHeaders {
    pub service_tier: Option<ServiceTierType>,
    pub latency: Option<Latency>,
}

/// Checks every `x-amzn-bedrock-*` header of a request (names are matched without case,
/// as HTTP header names are).
pub fn check<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<InvokeHeaders, BedrockError> {
    let mut out = InvokeHeaders::default();
    for (name, raw) in headers {
        const PREFIX: &str = "x-amzn-bedrock-";
        // Checked before anything is copied: most headers are not ours, and `HeaderMap`
        // names come lower-cased already (issue 13: a copy of every name per call).
        if !name.get(..PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREFIX)) {
            continue;
        }
        let lower = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            std::borrow::Cow::Owned(name.to_ascii_lowercase())
        } else {
            std::borrow::Cow::Borrowed(name)
        };
        let value = std::str::from_utf8(raw).unwrap_or("");
        match &*lower {
            // The trace reports what guardrails did; with none applied there is nothing
            // to report, which is also Bedrock's answer without a guardrail.
            "x-amzn-bedrock-trace" => one_of("X-Amzn-Bedrock-Trace", value, &["ENABLED", "DISABLED", "ENABLED_FULL"])?,
            "x-amzn-bedrock-guardrailidentifier" => {
                return Err(not_supported("Guardrails", "X-Amzn-Bedrock-GuardrailIdentifier"))
            }
            "x-amzn-bedrock-guardrailversion" => {
                return Err(not_supported("Guardrails", "X-Amzn-Bedrock-GuardrailVersion"))
            }
            // Both work where the model offers them: the handler checks them against the
            // catalog once the model is known (route::tier).
            "x-amzn-bedrock-performanceconfig-latency" => {
                one_of("X-Amzn-Bedrock-PerformanceConfig-Latency", value, &["standard", "optimized"])?;
                out.latency = Some(if value == "optimized" { Latency::Optimized } else { Latency::Standard });
            }
            "x-amzn-bedrock-service-tier" => {
                one_of("X-Amzn-Bedrock-Service-Tier", value, &["priority", "default", "flex", "reserved"])?;
                out.service_tier = ServiceTierType::parse(value);
            }
            // A JSON object checked against the model's patterns by the server's header
            // middleware, which passes it on to the invocation log.
            "x-amzn-bedrock-request-metadata" => {}
            // The streaming variant's `accept` (HTTP `Accept` carries the event stream).
            "x-amzn-bedrock-accept" => {
                if !(value.starts_with("application/json") || value == "*/*") {
                    let what = format!("The accept type {value} (answers are application/json)");
                    return Err(not_supported(&what, "X-Amzn-Bedrock-Accept"));
                }
            }
            _ => return Err(not_supported(&format!("The header {name}"), name)),
        }
    }
    Ok(out)
}

fn one_of(header: &str, value: &str, allowed: &[&str]) -> Result<(), BedrockError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(BedrockError::validation(format!(
        "1 validation error detected: Value '{value}' at '{header}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
        allowed.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(&'static str, &'static str)]) -> Result<InvokeHeaders, BedrockError> {
        check(pairs.iter().map(|(k, v)| (*k, v.as_bytes())))
    }

    #[test]
    fn honoured_headers_pass() {
        let h = run(&[
            ("content-type", "application/json"),
            ("x-amzn-bedrock-trace", "DISABLED"),
            ("X-Amzn-Bedrock-Service-Tier", "default"),
            ("x-amzn-bedrock-performanceconfig-latency", "standard"),
            ("x-amzn-bedrock-accept", "application/json"),
        ])
        .unwrap();
        assert_eq!(h.service_tier, Some(ServiceTierType::Default));
        let h =
            run(&[("x-amzn-bedrock-service-tier", "flex"), ("x-amzn-bedrock-performanceconfig-latency", "optimized")])
                .unwrap();
        assert_eq!((h.service_tier, h.latency), (Some(ServiceTierType::Flex), Some(Latency::Optimized)));
    }

    #[test]
    fn refused_headers_are_named() {
        for (name, value) in [("x-amzn-bedrock-guardrailidentifier", "abc"), ("x-amzn-bedrock-something", "1")] {
            let e = run(&[(name, value)]).unwrap_err();
            assert!(e.message.to_ascii_lowercase().ends_with(&format!("endpoint: {name}")), "{}", e.message);
        }
        let e = run(&[("x-amzn-bedrock-service-tier", "gold")]).unwrap_err();
        assert!(e.message.contains("enum value set"), "{}", e.message);
    }
}
