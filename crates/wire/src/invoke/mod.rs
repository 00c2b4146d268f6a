//! InvokeModel / InvokeModelWithResponseStream: the provider-native bodies of the
//! catalog's models, translated to and from spillway's Converse model.
//!
//! A model's `BodyFormat` (from the catalog) says which family its body belongs to. A chat
//! body parses into a [`ConverseRequest`] plus the [`Dialect`] to answer in; an embedding
//! body into an [`EmbedRequest`].

pub mod anthropic;
mod chat;
pub mod cohere;
pub mod command;
pub mod deepseek;
pub mod headers;
pub mod llama;
mod members;
pub mod mistral;
pub mod nova;
pub mod openai_chat;
pub mod titan;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::converse::ConverseRequest;
use crate::error::BedrockError;
use crate::stream::{Collector, ModelEvent};

/// The family of native body a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyFormat {
    /// Anthropic Messages (`anthropic_version`), and Text Completions (`prompt`) for the
    /// older Claude models.
    Anthropic,
    /// Amazon Titan text (`inputText`, `textGenerationConfig`).
    TitanText,
    /// Amazon Titan embeddings (`inputText`).
    TitanEmbed,
    /// Cohere Embed v3 (`texts`, `input_type`).
    CohereEmbed,
    /// Meta Llama (`prompt`, `max_gen_len`).
    Llama,
    /// Amazon Nova (`schemaVersion: messages-v1`).
    Nova,
    /// Mistral AI (`prompt` with `[INST]`, or chat `messages`).
    Mistral,
    /// DeepSeek (`prompt`, `max_tokens`).
    Deepseek,
    /// OpenAI gpt-oss (a chat-completions body).
    OpenaiChat,
    /// Cohere Command R (`message`, `chat_history`).
    CohereCommand,
}

impl BodyFormat {
    pub fn is_embedding(self) -> bool {
        matches!(self, Self::TitanEmbed | Self::CohereEmbed)
    }

    /// The family's name as the catalog writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::TitanText => "titan-text",
            Self::TitanEmbed => "titan-embed",
            Self::CohereEmbed => "cohere-embed",
            Self::Llama => "llama",
            Self::Nova => "nova",
            Self::Mistral => "mistral",
            Self::Deepseek => "deepseek",
            Self::OpenaiChat => "openai-chat",
            Self::CohereCommand => "cohere-command",
        }
    }
}

/// Which native shape a chat answer is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    AnthropicMessages,
    AnthropicCompletion,
    TitanText,
    Llama,
    Nova,
    MistralText,
    MistralChat,
    Deepseek,
    OpenaiChat(openai_chat::Options),
    CohereCommand,
}

/// What the call says about the body beyond its bytes: the IDs the body may name as its
/// `model` (gpt-oss), and whether the call streams (the body's `stream` must agree).
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    pub model_ids: &'a [&'a str],
    pub streaming: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedRequest {
    pub texts: Vec<String>,
    /// Requested vector size (Titan v2 `dimensions`); the model's default when absent.
    pub dimensions: Option<u32>,
    pub normalize: bool,
    /// Cohere `input_type` (search_document, search_query, classification, clustering).
    pub input_type: Option<String>,
    /// Cohere `embedding_types`; when present the answer is `embeddings_by_type`.
    pub embedding_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedOutput {
    pub embeddings: Vec<Vec<f32>>,
    pub input_tokens: u32,
}

/// One per request and moved once, so boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum InvokeRequest {
    Chat { request: ConverseRequest, dialect: Dialect },
    Embed(EmbedRequest),
}

/// Timings Bedrock reports in `amazon-bedrock-invocationMetrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    pub latency_ms: u64,
    pub first_byte_ms: u64,
}

/// Parse a native request body of `format`.
pub fn parse(format: BodyFormat, body: &[u8]) -> Result<InvokeRequest, BedrockError> {
    parse_call(format, body, Call::default())
}

/// [`parse`], with what the call knows checked against the body.
pub fn parse_call(format: BodyFormat, body: &[u8], call: Call) -> Result<InvokeRequest, BedrockError> {
    // The common Anthropic Messages body is read without a `Value` in between
    // (`anthropic::parse_simple`); any other goes the full way.
    if matches!(format, BodyFormat::Anthropic) {
        if let Some(request) = anthropic::parse_simple(body) {
            return Ok(InvokeRequest::Chat { request, dialect: Dialect::AnthropicMessages });
        }
    }
    let value: Value = crate::parse::json(body)?;
    let chat = |request, dialect| InvokeRequest::Chat { request, dialect };
    match format {
        BodyFormat::Anthropic => {
            anthropic::parse(&value).map(|(request, dialect)| InvokeRequest::Chat { request, dialect })
        }
        BodyFormat::TitanText => {
            titan::parse_text(&value).map(|request| InvokeRequest::Chat { request, dialect: Dialect::TitanText })
        }
        BodyFormat::Llama => {
            llama::parse(&value).map(|request| InvokeRequest::Chat { request, dialect: Dialect::Llama })
        }
        BodyFormat::TitanEmbed => titan::parse_embed(&value).map(InvokeRequest::Embed),
        BodyFormat::CohereEmbed => cohere::parse(&value).map(InvokeRequest::Embed),
        BodyFormat::Nova => nova::parse(&value).map(|r| chat(r, Dialect::Nova)),
        BodyFormat::Mistral => mistral::parse(&value).map(|(r, d)| chat(r, d)),
        BodyFormat::Deepseek => deepseek::parse(&value).map(|r| chat(r, Dialect::Deepseek)),
        BodyFormat::CohereCommand => command::parse(&value).map(|r| chat(r, Dialect::CohereCommand)),
        BodyFormat::OpenaiChat => {
            let (request, options, model) = openai_chat::parse(&value, call.streaming)?;
            if let Some(m) = model.filter(|m| !call.model_ids.is_empty() && !call.model_ids.contains(&m.as_str())) {
                return Err(body::malformed(
                    "#/model",
                    format!("{m} does not match the model ID of the request ({})", call.model_ids.join(" or ")),
                ));
            }
            Ok(chat(request, Dialect::OpenaiChat(options)))
        }
    }
}

/// The native InvokeModel answer for a finished chat.
pub fn chat_response(dialect: Dialect, model_id: &str, out: &Collector) -> Value {
    match dialect {
        Dialect::AnthropicMessages => anthropic::messages_response(model_id, out),
        Dialect::AnthropicCompletion => anthropic::completion_response(out),
        Dialect::TitanText => titan::text_response(out),
        Dialect::Llama => llama::response(out),
        Dialect::Nova => nova::response(out),
        Dialect::MistralText => mistral::text_response(out),
        Dialect::MistralChat => mistral::chat_response(out),
        Dialect::Deepseek => deepseek::response(out),
        Dialect::OpenaiChat(_) => openai_chat::response(model_id, out),
        Dialect::CohereCommand => command::response(out),
    }
}

/// [`chat_response`] as the body's bytes, in a buffer of `capacity` to start with.
/// Anthropic's Messages answer (the most called) is written straight from the finished
/// answer, without a `Value` in between.
pub fn chat_body(dialect: Dialect, model_id: &str, out: &Collector, capacity: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(capacity);
    let written = match dialect {
        Dialect::AnthropicMessages => anthropic::messages_answer(model_id, out).write_json(&mut body),
        _ => serde_json::to_writer(&mut body, &chat_response(dialect, model_id, out)),
    };
    match written {
        Ok(()) => body,
        Err(_) => Vec::new(),
    }
}

/// The native InvokeModel answer for embeddings.
pub fn embed_response(format: BodyFormat, request: &EmbedRequest, out: &EmbedOutput) -> Value {
    match format {
        BodyFormat::CohereEmbed => cohere::response(request, out),
        _ => titan::embed_response_typed(request, out),
    }
}

/// Turns [`ModelEvent`]s into the native streaming chunks of one dialect. Each chunk is
/// the JSON that goes base64-encoded into a `chunk` event's `bytes`. The last chunk
/// carries `amazon-bedrock-invocationMetrics`, as Bedrock injects it.
#[derive(Debug)]
pub struct NativeStream {
    inner: NativeStreamKind,
}

#[derive(Debug)]
enum NativeStreamKind {
    AnthropicMessages(anthropic::MessagesStream),
    AnthropicCompletion(anthropic::CompletionStream),
    TitanText(titan::TextStream),
    Llama(llama::Stream),
    Nova(nova::Stream),
    Mistral(mistral::Stream),
    Deepseek(deepseek::Stream),
    OpenaiChat(openai_chat::Stream),
    CohereCommand(command::Stream),
}

impl NativeStream {
    pub fn new(dialect: Dialect, model_id: &str) -> Self {
        let inner = match dialect {
            Dialect::AnthropicMessages => NativeStreamKind::AnthropicMessages(anthropic::MessagesStream::new(model_id)),
            Dialect::AnthropicCompletion => {
                NativeStreamKind::AnthropicCompletion(anthropic::CompletionStream::default())
            }
            Dialect::TitanText => NativeStreamKind::TitanText(titan::TextStream::default()),
            Dialect::Llama => NativeStreamKind::Llama(llama::Stream::default()),
            Dialect::Nova => NativeStreamKind::Nova(nova::Stream::default()),
            Dialect::MistralText => NativeStreamKind::Mistral(mistral::Stream::new(false)),
            Dialect::MistralChat => NativeStreamKind::Mistral(mistral::Stream::new(true)),
            Dialect::Deepseek => NativeStreamKind::Deepseek(deepseek::Stream::default()),
            Dialect::OpenaiChat(options) => NativeStreamKind::OpenaiChat(openai_chat::Stream::new(model_id, options)),
            Dialect::CohereCommand => NativeStreamKind::CohereCommand(command::Stream::default()),
        };
        Self { inner }
    }

    /// Chunks to send for `event`. `timing` is read only when `event` is the finish.
    pub fn push(&mut self, event: ModelEvent, timing: Timing) -> Vec<Value> {
        match &mut self.inner {
            NativeStreamKind::AnthropicMessages(s) => s.push(event, timing),
            NativeStreamKind::AnthropicCompletion(s) => s.push(event, timing),
            NativeStreamKind::TitanText(s) => s.push(event, timing),
            NativeStreamKind::Llama(s) => s.push(event, timing),
            NativeStreamKind::Nova(s) => s.push(event, timing),
            NativeStreamKind::Mistral(s) => s.push(event, timing),
            NativeStreamKind::Deepseek(s) => s.push(event, timing),
            NativeStreamKind::OpenaiChat(s) => s.push(event, timing),
            NativeStreamKind::CohereCommand(s) => s.push(event, timing),
        }
    }
}

/// `{"amazon-bedrock-invocationMetrics": {...}}` members for the last chunk; the cache
/// counts only when the prompt cache took part.
pub fn invocation_metrics(usage: crate::converse::TokenUsage, timing: Timing) -> Value {
    let mut v = serde_json::json!({
        "inputTokenCount": usage.input_tokens,
        "outputTokenCount": usage.output_tokens,
        "invocationLatency": timing.latency_ms,
        "firstByteLatency": timing.first_byte_ms,
    });
    if usage.uses_cache() {
        v["cacheReadInputTokenCount"] = serde_json::json!(usage.cache_read_input_tokens);
        v["cacheWriteInputTokenCount"] = serde_json::json!(usage.cache_write_input_tokens());
    }
    v
}

/// Reading native bodies. Bedrock checks them against each provider's JSON schema and
/// words a violation as `Malformed input request: #/path: problem, …` (everit style);
/// these helpers walk a body the same way so every provider's errors read alike.
pub(crate) mod body {
    use serde_json::{Map, Value};

    use crate::converse::{ContentBlock, Message, Role};
    use crate::error::BedrockError;

    pub fn malformed(path: &str, problem: impl std::fmt::Display) -> BedrockError {
        BedrockError::validation(format!(
            "Malformed input request: {path}: {problem}, please reformat your input and try again."
        ))
    }

    /// `expected type: String, found: Integer`, with the schema's type names.
    pub fn expected(path: &str, want: &str, found: &Value) -> BedrockError {
        let found = match found {
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
            Value::Number(_) => "Number",
            Value::String(_) => "String",
            Value::Array(_) => "JSONArray",
            Value::Object(_) => "JSONObject",
        };
        malformed(path, format!("expected type: {want}, found: {found}"))
    }

    pub fn not_enum(path: &str, value: impl std::fmt::Display) -> BedrockError {
        malformed(path, format!("{value} is not a valid enum value"))
    }

    /// Inclusive bounds check, worded as the schema's `minimum` / `maximum`.
    pub fn range(path: &str, x: f64, min: f64, max: Option<f64>) -> Result<(), BedrockError> {
        if x < min {
            return Err(malformed(path, format!("{x} is not greater or equal to {min}")));
        }
        match max {
            Some(max) if x > max => Err(malformed(path, format!("{x} is not less or equal to {max}"))),
            _ => Ok(()),
        }
    }

    /// One JSON object of a body, with its `#/…` path for errors.
    pub struct Obj<'a> {
        map: &'a Map<String, Value>,
        pub path: String,
    }

    impl<'a> Obj<'a> {
        pub fn new(value: &'a Value, path: String) -> Result<Self, BedrockError> {
            match value {
                Value::Object(map) => Ok(Self { map, path }),
                other => Err(expected(&path, "JSONObject", other)),
            }
        }

        pub fn root(value: &'a Value) -> Result<Self, BedrockError> {
            Self::new(value, "#".to_owned())
        }

        pub fn at(&self, key: &str) -> String {
            format!("{}/{key}", self.path)
        }

        /// The keys set (not `null`).
        pub fn keys(&self) -> impl Iterator<Item = &'a str> + '_ {
            self.map.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.as_str())
        }

        pub fn has(&self, key: &str) -> bool {
            self.get(key).is_some()
        }

        /// An explicit `null` counts as absent: SDK helpers often send unset options so.
        pub fn get(&self, key: &str) -> Option<&'a Value> {
            self.map.get(key).filter(|v| !v.is_null())
        }

        pub fn missing(&self, key: &str) -> BedrockError {
            malformed(&self.path, format!("required key [{key}] not found"))
        }

        pub fn req(&self, key: &str) -> Result<&'a Value, BedrockError> {
            self.get(key).ok_or_else(|| self.missing(key))
        }

        pub fn str(&self, key: &str) -> Result<Option<&'a str>, BedrockError> {
            self.get(key).map(|v| v.as_str().ok_or_else(|| expected(&self.at(key), "String", v))).transpose()
        }

        pub fn req_str(&self, key: &str) -> Result<&'a str, BedrockError> {
            let v = self.req(key)?;
            v.as_str().ok_or_else(|| expected(&self.at(key), "String", v))
        }

        pub fn int(&self, key: &str) -> Result<Option<i64>, BedrockError> {
            self.get(key)
                .map(|v| match v.as_i64() {
                    Some(n) => Ok(n),
                    // An integer past i64 is still an integer: say it is too big, not that
                    // an Integer was expected (found by fuzz_invoke).
                    None if v.is_u64() => {
                        Err(malformed(&self.at(key), format!("{v} is not less or equal to {}", i64::MAX)))
                    }
                    None => Err(expected(&self.at(key), "Integer", v)),
                })
                .transpose()
        }

        /// An integer of at least `min` (token limits).
        pub fn int_min(&self, key: &str, min: i64) -> Result<Option<i64>, BedrockError> {
            let n = self.int(key)?;
            // The path is formatted only for the error: most bodies are in range.
            if let Some(n) = n.filter(|&n| n < min) {
                range(&self.at(key), n as f64, min as f64, None)?;
            }
            Ok(n)
        }

        /// A number in [0, 1] (temperature, top_p).
        pub fn unit(&self, key: &str) -> Result<Option<f64>, BedrockError> {
            let x = self.num(key)?;
            if let Some(x) = x.filter(|x| !(0.0..=1.0).contains(x)) {
                range(&self.at(key), x, 0.0, Some(1.0))?;
            }
            Ok(x)
        }

        pub fn num(&self, key: &str) -> Result<Option<f64>, BedrockError> {
            self.get(key).map(|v| v.as_f64().ok_or_else(|| expected(&self.at(key), "Number", v))).transpose()
        }

        pub fn bool(&self, key: &str) -> Result<Option<bool>, BedrockError> {
            self.get(key).map(|v| v.as_bool().ok_or_else(|| expected(&self.at(key), "Boolean", v))).transpose()
        }

        pub fn arr(&self, key: &str) -> Result<Option<&'a [Value]>, BedrockError> {
            self.get(key)
                .map(|v| v.as_array().map(Vec::as_slice).ok_or_else(|| expected(&self.at(key), "JSONArray", v)))
                .transpose()
        }

        pub fn obj(&self, key: &str) -> Result<Option<Obj<'a>>, BedrockError> {
            self.get(key).map(|v| Obj::new(v, self.at(key))).transpose()
        }

        pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, BedrockError> {
            let Some(items) = self.arr(key)? else { return Ok(None) };
            each(items, &self.at(key), |v, path| {
                v.as_str().map(str::to_owned).ok_or_else(|| expected(&path, "String", v))
            })
            .map(Some)
        }

        /// A string member that must be one of `allowed`.
        pub fn enum_str(&self, key: &str, allowed: &[&str]) -> Result<Option<&'a str>, BedrockError> {
            match self.str(key)? {
                Some(s) if !allowed.contains(&s) => Err(not_enum(&self.at(key), s)),
                other => Ok(other),
            }
        }

        /// An array of strings, each one of `allowed`.
        pub fn enum_strings(&self, key: &str, allowed: &[&str]) -> Result<Option<Vec<String>>, BedrockError> {
            let Some(items) = self.strings(key)? else { return Ok(None) };
            match items.iter().enumerate().find(|(_, s)| !allowed.contains(&s.as_str())) {
                Some((i, s)) => Err(not_enum(&format!("{}/{i}", self.at(key)), s)),
                None => Ok(Some(items)),
            }
        }
    }

    /// Parses every item of an array, each under its own `path/i`.
    pub fn each<T>(
        items: &[Value],
        path: &str,
        parse: impl Fn(&Value, String) -> Result<T, BedrockError>,
    ) -> Result<Vec<T>, BedrockError> {
        items.iter().enumerate().map(|(i, v)| parse(v, format!("{path}/{i}"))).collect()
    }

    /// Appends a text turn parsed out of a flat prompt, merging it into the previous
    /// message when the role repeats (Converse requires alternating roles).
    pub fn push_turn(messages: &mut Vec<Message>, role: Role, text: &str) {
        if let Some(last) = messages.last_mut().filter(|m| m.role == role) {
            if let Some(ContentBlock::Text(t)) = last.content.last_mut() {
                t.push_str("\n\n");
                t.push_str(text);
                return;
            }
        }
        messages.push(Message { role, content: vec![ContentBlock::Text(text.to_owned())] });
    }

    /// `len` characters from `alphabet`, for response ids.
    pub fn random_chars(len: usize, alphabet: &[u8]) -> String {
        let mut out = String::with_capacity(len);
        push_random_chars(&mut out, len, alphabet);
        out
    }

    /// Appends `len` characters from `alphabet`. Not cryptographic: fastrand's generator
    /// (one per thread, seeded from the system) keeps ids distinct. A freshly keyed std
    /// `RandomState` per id, as before, cost about 1,700 instructions per answer (issue 13).
    pub fn push_random_chars(out: &mut String, len: usize, alphabet: &[u8]) {
        out.reserve(len);
        for _ in 0..len {
            let at = fastrand::usize(..alphabet.len().max(1));
            out.push(alphabet.get(at).map_or('0', |&b| char::from(b)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz_invoke: `max_tokens` of 2^64-1 was refused with "expected type:
    /// Integer, found: Integer".
    #[test]
    fn integer_past_i64_is_out_of_range() {
        let body = br#"{"prompt":"x","max_gen_len":18446744073709551615}"#;
        let e = parse(BodyFormat::Llama, body).unwrap_err();
        assert_eq!(
            e.message,
            "Malformed input request: #/max_gen_len: 18446744073709551615 is not less or equal to 9223372036854775807, please reformat your input and try again."
        );
    }
}
