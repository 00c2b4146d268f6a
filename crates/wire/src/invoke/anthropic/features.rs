//! The Messages body's members that shape how a request runs: `thinking` (extended
//! thinking), `cache_control` (prompt caching, as Converse cache points) and
//! `anthropic_beta` (each beta honoured when it names something spillway does).

use serde_json::{json, Value};

use super::super::body::{self, Obj};
use super::super::members::only;
use crate::converse::{InferenceConfig, ToolChoice};
use crate::error::BedrockError;
use crate::options::{CachePointBlock, CachePointType, CacheTtl};
use crate::surface::not_supported;

/// Anthropic's smallest thinking budget.
const MIN_BUDGET: i64 = 1024;
/// Betas that ask for what spillway does anyway: caching and its 1-hour TTL, thinking
/// between tool calls (reasoning events interleave with tool uses as the backend sends
/// them), tool input streamed as it is generated, and token-efficient tool use (a
/// tokenisation detail of Anthropic's own models, with no effect on the answer's shape).
const HONOURED_BETAS: &[&str] = &[
    "prompt-caching-2024-07-31",
    "extended-cache-ttl-2025-04-11",
    "interleaved-thinking-2025-05-14",
    "fine-grained-tool-streaming-2025-05-14",
    "token-efficient-tools-2025-02-19",
];
const INTERLEAVED: &str = "interleaved-thinking-2025-05-14";

/// `cache_control: {"type": "ephemeral", "ttl": "5m" | "1h"}` as a Converse cache point,
/// placed after the block that carries it (both mean: cache the prefix up to here).
pub fn cache_point(block: &Obj) -> Result<Option<CachePointBlock>, BedrockError> {
    let Some(c) = block.obj("cache_control")? else { return Ok(None) };
    only(&c, &["type", "ttl"], &[])?;
    match c.req_str("type")? {
        "ephemeral" => {}
        other => return Err(body::not_enum(&c.at("type"), other)),
    }
    let ttl = match c.enum_str("ttl", &["5m", "1h"])? {
        None => None,
        Some("1h") => Some(CacheTtl::OneHour),
        Some(_) => Some(CacheTtl::FiveMinutes),
    };
    Ok(Some(CachePointBlock { kind: CachePointType::Default, ttl }))
}

/// The betas asked for; each one spillway does not provide is refused by name.
pub fn betas(root: &Obj) -> Result<Vec<String>, BedrockError> {
    let betas = root.strings("anthropic_beta")?.unwrap_or_default();
    for (i, beta) in betas.iter().enumerate() {
        if !HONOURED_BETAS.contains(&beta.as_str()) {
            let at = format!("{}/{i}", root.at("anthropic_beta"));
            return Err(not_supported(&format!("The Anthropic beta {beta}"), &at));
        }
    }
    Ok(betas)
}

/// `thinking`: `{"type": "enabled", "budget_tokens": n}` or `{"type": "disabled"}`,
/// checked by Anthropic's rules (a budget of at least 1024, below `max_tokens` unless
/// thinking is interleaved; no temperature, top_k or forced tool with thinking). Enabled,
/// it travels as Converse's `additionalModelRequestFields.thinking` (how Bedrock's
/// Converse takes it), and the answer carries the backend's reasoning as signed
/// `thinking` blocks.
pub fn thinking(
    root: &Obj,
    inference: &InferenceConfig,
    top_k: Option<i64>,
    tool_choice: Option<&ToolChoice>,
    betas: &[String],
) -> Result<Option<Value>, BedrockError> {
    let Some(t) = root.obj("thinking")? else { return Ok(None) };
    match t.req_str("type")? {
        "disabled" => {
            only(&t, &["type"], &[])?;
            return Ok(None);
        }
        "enabled" => only(&t, &["type", "budget_tokens"], &[])?,
        other => return Err(body::not_enum(&t.at("type"), other)),
    }
    let budget = t.int("budget_tokens")?.ok_or_else(|| t.missing("budget_tokens"))?;
    body::range(&t.at("budget_tokens"), budget as f64, MIN_BUDGET as f64, None)?;
    let max_tokens = inference.max_tokens.unwrap_or(0);
    if budget >= max_tokens && !betas.iter().any(|b| b == INTERLEAVED) {
        return Err(BedrockError::validation(format!(
            "`max_tokens` must be greater than `thinking.budget_tokens` ({budget}): #/thinking/budget_tokens"
        )));
    }
    let conflict = |what: &str, at: &str| {
        BedrockError::validation(format!("{what} is not compatible with extended thinking: {at}"))
    };
    if inference.temperature.is_some_and(|x| x != 1.0) {
        return Err(conflict("A temperature other than 1", "#/temperature"));
    }
    if inference.top_p.is_some_and(|p| p < 0.95) {
        return Err(conflict("A top_p below 0.95", "#/top_p"));
    }
    if top_k.is_some() {
        return Err(conflict("top_k", "#/top_k"));
    }
    if matches!(tool_choice, Some(ToolChoice::Any(_) | ToolChoice::Tool(_))) {
        return Err(conflict("Forcing tool use", "#/tool_choice"));
    }
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(max: i64) -> InferenceConfig {
        InferenceConfig { max_tokens: Some(max), ..InferenceConfig::default() }
    }

    #[test]
    fn thinking_rules() {
        let v = json!({"thinking": {"type": "enabled", "budget_tokens": 2000}});
        let root = Obj::root(&v).unwrap();
        assert_eq!(
            thinking(&root, &cfg(4000), None, None, &[]).unwrap(),
            Some(json!({"type": "enabled", "budget_tokens": 2000}))
        );
        let e = thinking(&root, &cfg(1000), None, None, &[]).unwrap_err();
        assert!(e.message.contains("greater than `thinking.budget_tokens`"), "{}", e.message);
        assert!(thinking(&root, &cfg(1000), None, None, &[INTERLEAVED.to_owned()]).is_ok());
        let hot = InferenceConfig { temperature: Some(0.5), ..cfg(4000) };
        assert!(thinking(&root, &hot, None, None, &[]).unwrap_err().message.ends_with("#/temperature"));
        assert!(thinking(&root, &cfg(4000), Some(5), None, &[]).unwrap_err().message.ends_with("#/top_k"));
        let any = ToolChoice::Any(json!({}));
        assert!(thinking(&root, &cfg(4000), None, Some(&any), &[]).unwrap_err().message.ends_with("#/tool_choice"));
        let small = json!({"thinking": {"type": "enabled", "budget_tokens": 100}});
        let e = thinking(&Obj::root(&small).unwrap(), &cfg(4000), None, None, &[]).unwrap_err();
        assert!(e.message.contains("#/thinking/budget_tokens: 100 is not greater or equal to 1024"), "{}", e.message);
        let off = json!({"thinking": {"type": "disabled"}});
        assert_eq!(thinking(&Obj::root(&off).unwrap(), &cfg(10), None, None, &[]).unwrap(), None);
        let odd = json!({"thinking": {"type": "sometimes"}});
        assert!(thinking(&Obj::root(&odd).unwrap(), &cfg(10), None, None, &[]).is_err());
    }

    #[test]
    fn cache_control_and_betas() {
        let v = json!({"cache_control": {"type": "ephemeral", "ttl": "1h"}});
        let c = cache_point(&Obj::root(&v).unwrap()).unwrap().unwrap();
        assert_eq!(c.ttl, Some(CacheTtl::OneHour));
        let v = json!({"cache_control": {"type": "persistent"}});
        assert!(cache_point(&Obj::root(&v).unwrap()).unwrap_err().message.contains("persistent is not a valid enum"));
        let v = json!({"anthropic_beta": ["prompt-caching-2024-07-31", "context-1m-2025-08-07"]});
        let e = betas(&Obj::root(&v).unwrap()).unwrap_err();
        assert!(
            e.message.ends_with("context-1m-2025-08-07 is not supported by this endpoint: #/anthropic_beta/1"),
            "{}",
            e.message
        );
    }
}
