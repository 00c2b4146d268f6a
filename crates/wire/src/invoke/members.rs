//! Native bodies member by member: a key a provider's schema does not have is refused as
//! Bedrock's schema check refuses it (`extraneous key [k] is not permitted`), and a key
//! the provider has but this endpoint does not honour is refused by name, so no part of
//! a native body is dropped unseen.

use super::body::{malformed, Obj};
use crate::error::BedrockError;
use crate::surface::not_supported;

/// `allowed` keys pass; `unhonoured` (key, what) pairs are refused by name; any other key
/// is extraneous. A `null` value counts as absent.
pub(crate) fn only(obj: &Obj, allowed: &[&str], unhonoured: &[(&str, &str)]) -> Result<(), BedrockError> {
    for key in obj.keys() {
        if allowed.contains(&key) {
            continue;
        }
        if let Some((_, what)) = unhonoured.iter().find(|(k, _)| *k == key) {
            return Err(not_supported(what, &obj.at(key)));
        }
        return Err(malformed(&obj.path, format!("extraneous key [{key}] is not permitted")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_pass_are_named_or_are_extraneous() {
        let v = json!({"a": 1, "b": null});
        let o = Obj::root(&v).unwrap();
        assert!(only(&o, &["a"], &[]).is_ok());
        let v = json!({"a": 1, "thinking": {}});
        let o = Obj::root(&v).unwrap();
        let e = only(&o, &["a"], &[("thinking", "Extended thinking")]).unwrap_err();
        assert!(e.message.ends_with("is not supported by this endpoint: #/thinking"), "{}", e.message);
        let e = only(&o, &["a"], &[]).unwrap_err();
        assert!(e.message.contains("#: extraneous key [thinking] is not permitted"), "{}", e.message);
    }
}
