//! Input checks for the control-plane listings, reported the way Bedrock's Coral
//! front end does: every violation of a request collected into one ValidationException,
//! "N validation error(s) detected: Value 'X' at 'member' failed to satisfy constraint:
//! …; …". Also the opaque pagination token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use spillway_wire::BedrockError;

pub(super) const CUSTOMIZATIONS: &[&str] = &["FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"];
pub(super) const MODALITIES: &[&str] = &["TEXT", "IMAGE", "EMBEDDING"];
/// What byInferenceType accepts: the model's enum plus the value we report for
/// profile-only models, so that `byInferenceType=INFERENCE_PROFILE` finds them.
pub(super) const INFERENCE_TYPES: &[&str] = &["ON_DEMAND", "PROVISIONED", "INFERENCE_PROFILE"];
pub(super) const INFERENCE_TYPES_MODELED: &[&str] = &["ON_DEMAND", "PROVISIONED"];
pub(super) const PROFILE_IDENTIFIER_PATTERN: &str =
    "(arn:aws(|-us-gov|-cn|-iso|-iso-b):bedrock:(|[0-9a-z-]{0,20}):(|[0-9]{12}):(inference-profile|application-inference-profile)/)?[a-zA-Z0-9-:.]+";
const MODEL_IDENTIFIER_PATTERN: &str = "(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}::foundation-model/[a-z0-9-]{1,63}[.]{1}([a-z0-9-]{1,63}[.]){0,2}[a-z0-9-]{1,63}([:][a-z0-9-]{1,63}){0,2})|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})";

/// Tokens say what they are, so a token from another API (or a typo) is refused.
const TOKEN_PREFIX: &str = "spillway-offset:";

/// The violations found so far in one request.
#[derive(Debug, Default)]
pub(super) struct Violations(Vec<String>);

impl Violations {
    fn push(&mut self, member: &str, value: &str, constraint: &str) {
        self.0.push(violation(member, value, constraint));
    }

    /// `value`, if present, must be one of `accepted`; the message lists `shown`
    /// (default: `accepted`).
    pub(super) fn one_of(&mut self, member: &str, value: Option<&str>, accepted: &[&str], shown: Option<&[&str]>) {
        if let Some(value) = value.filter(|v| !accepted.contains(v)) {
            let set = shown.unwrap_or(accepted).join(", ");
            self.push(member, value, &format!("Member must satisfy enum value set: [{set}]"));
        }
    }

    pub(super) fn pattern(&mut self, member: &str, value: &str, pattern: &str, ok: bool) {
        if !ok {
            self.push(member, value, &format!("Member must satisfy regular expression pattern: {pattern}"));
        }
    }

    /// An integer query parameter within `min..=max`; `None` if absent or invalid.
    pub(super) fn int_range(&mut self, member: &str, value: Option<&str>, min: usize, max: usize) -> Option<usize> {
        let value = value?;
        match value.trim().parse::<i64>() {
            Ok(n) if n < min as i64 => {
                self.push(member, value, &format!("Member must have value greater than or equal to {min}"));
                None
            }
            Ok(n) if n > max as i64 => {
                self.push(member, value, &format!("Member must have value less than or equal to {max}"));
                None
            }
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => {
                self.push(member, value, "Member must be an integer");
                None
            }
        }
    }

    pub(super) fn check(self) -> Result<(), BedrockError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(BedrockError::validation(format!("1 validation error detected: {}", self.0.join("; ")))),
            n => Err(BedrockError::validation(format!("{n} validation errors detected: {}", self.0.join("; ")))),
        }
    }
}

fn violation(member: &str, value: &str, constraint: &str) -> String {
    format!("Value '{value}' at '{member}' failed to satisfy constraint: {constraint}")
}

/// A request whose only violation is `value` not matching `pattern`.
pub(super) fn pattern_error(member: &str, value: &str, pattern: &str) -> BedrockError {
    let constraint = format!("Member must satisfy regular expression pattern: {pattern}");
    BedrockError::validation(format!("1 validation error detected: {}", violation(member, value, &constraint)))
}

/// `Provider`: `[A-Za-z0-9- ]{1,63}`.
pub(super) fn is_provider(s: &str) -> bool {
    (1..=63).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ')
}

/// A foundation model ID as the GetFoundationModel pattern has it, loosely: lowercase
/// `provider.name[:version]` (the pattern's segment lengths are not checked).
pub(super) fn is_model_id(s: &str) -> bool {
    let Some((provider, rest)) = s.split_once('.') else { return false };
    let lower = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    !provider.is_empty()
        && provider.chars().all(lower)
        && !rest.is_empty()
        && rest.chars().all(|c| lower(c) || c == '.' || c == ':')
}

/// The ID part of `InferenceProfileIdentifier`: `[a-zA-Z0-9-:.]+`.
pub(super) fn is_profile_id(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.')
}

pub(super) fn bad_model_identifier(identifier: &str) -> BedrockError {
    pattern_error("modelIdentifier", identifier, MODEL_IDENTIFIER_PATTERN)
}

// === Pagination tokens ===

/// The token for the page starting at `offset`. URL-safe base64 without padding, so it
/// survives any client's query-string encoding unchanged.
pub(super) fn encode_token(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{offset}"))
}

pub(super) fn decode_token(token: &str) -> Result<usize, BedrockError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| s.strip_prefix(TOKEN_PREFIX).and_then(|n| n.parse().ok()))
        .ok_or_else(|| BedrockError::validation("The provided nextToken is invalid."))
}
