//! Generators of valid request bodies, built from the shapes of the botocore model
//! (Converse) and of each provider's native InvokeModel schema. The fuzz targets mutate
//! them; unmutated, every one of them must be accepted.

use proptest::collection::{btree_map, vec};
use proptest::option::of;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{json, text};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,20}"
}

fn unit() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]
}

fn base64() -> impl Strategy<Value = String> {
    "([A-Za-z0-9+/]{4}){0,8}"
}

/// Members of an object, leaving out the `None`s.
fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(members.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect::<Map<_, _>>())
}

/// Null counts as "not set" in a union member, so a `json` member must not be null.
fn non_null(v: Value) -> Value {
    if v.is_null() {
        json!({})
    } else {
        v
    }
}

fn status() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["success", "error"])
}

fn converse_block() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => text().prop_map(|t| json!({"text": t})),
        1 => (prop::sample::select(vec!["png", "jpeg", "gif", "webp"]), base64())
            .prop_map(|(f, b)| json!({"image": {"format": f, "source": {"bytes": b}}})),
        1 => (prop::sample::select(vec!["pdf", "txt", "md", "csv"]), name(), base64())
            .prop_map(|(f, n, b)| json!({"document": {"format": f, "name": n, "source": {"bytes": b}}})),
        1 => (name(), name(), json(2))
            .prop_map(|(id, n, input)| json!({"toolUse": {"toolUseId": id, "name": n, "input": input}})),
        1 => (name(), text(), json(2).prop_map(non_null), of(status())).prop_map(|(id, t, j, s)| {
            json!({"toolResult": object(vec![
                ("toolUseId", Some(json!(id))),
                ("content", Some(json!([{"text": t}, {"json": j}]))),
                ("status", s.map(Value::from)),
            ])})
        }),
        1 => Just(json!({"cachePoint": {"type": "default"}})),
    ]
}

/// Alternating turns starting with the user, each with at least one block.
fn turns<S: Strategy<Value = Value>>(
    block: S,
    user: &'static str,
    assistant: &'static str,
) -> impl Strategy<Value = Vec<(&'static str, Vec<Value>)>> {
    vec(vec(block, 1..4), 1..5).prop_map(move |turns| {
        turns.into_iter().enumerate().map(|(i, content)| (if i % 2 == 0 { user } else { assistant }, content)).collect()
    })
}

fn inference_config() -> impl Strategy<Value = Value> {
    (of(1..200_000i64), of(unit()), of(unit()), of(vec(text(), 0..4))).prop_map(|(m, t, p, s)| {
        object(vec![
            ("maxTokens", m.map(Value::from)),
            ("temperature", t.map(Value::from)),
            ("topP", p.map(Value::from)),
            ("stopSequences", s.map(Value::from)),
        ])
    })
}

fn tool_config() -> impl Strategy<Value = Value> {
    let tool = (name(), of(text())).prop_map(|(n, d)| {
        json!({"toolSpec": object(vec![
            ("name", Some(json!(n))),
            ("description", d.map(Value::from)),
            ("inputSchema", Some(json!({"json": {"type": "object", "properties": {}}}))),
        ])})
    });
    let choice = prop_oneof![
        Just(json!({"auto": {}})),
        Just(json!({"any": {}})),
        name().prop_map(|n| json!({"tool": {"name": n}}))
    ];
    (vec(tool, 1..4), of(choice)).prop_map(|(tools, c)| object(vec![("tools", Some(json!(tools))), ("toolChoice", c)]))
}

/// A Converse / ConverseStream body that Bedrock accepts.
pub fn converse() -> impl Strategy<Value = Value> {
    let messages = turns(converse_block(), "user", "assistant").prop_map(|t| {
        // A request sets at most four cache points (Bedrock's limit): later ones become text.
        let mut cache_points = 0;
        t.into_iter()
            .map(|(role, mut content)| {
                for block in &mut content {
                    if block.get("cachePoint").is_some() {
                        cache_points += 1;
                        if cache_points > 4 {
                            *block = json!({"text": "after the fourth cache point"});
                        }
                    }
                }
                json!({"role": role, "content": content})
            })
            .collect::<Vec<_>>()
    });
    let system = vec(text().prop_map(|t| json!({"text": t})), 0..3);
    // requestMetadata keys and values follow the model's patterns (anything else is refused).
    let metadata = btree_map("[a-zA-Z0-9:_@$#=/+,.-]{1,16}", "[a-zA-Z0-9 :_@$#=/+,.-]{0,16}", 1..16);
    let variables = btree_map(name(), text().prop_map(|t| json!({"text": t})), 0..4);
    (messages, system, of(inference_config()), of(tool_config()), of(metadata), of(variables), of(json(2))).prop_map(
        |(messages, system, inference, tools, metadata, variables, extra)| {
            object(vec![
                ("messages", Some(json!(messages))),
                ("system", (!system.is_empty()).then(|| json!(system))),
                ("inferenceConfig", inference),
                ("toolConfig", tools),
                ("requestMetadata", metadata.map(|m| json!(m))),
                // Only a prompt ARN takes variables, and rendering removes them before the
                // request is validated: a plain request with them is refused.
                ("promptVariables", variables.filter(|_| false).map(|v| json!(v))),
                ("additionalModelRequestFields", extra.filter(Value::is_object)),
            ])
        },
    )
}

fn anthropic_block() -> impl Strategy<Value = Value> {
    let media = prop::sample::select(vec!["image/jpeg", "image/png", "image/gif", "image/webp"]);
    prop_oneof![
        4 => text().prop_map(|t| json!({"type": "text", "text": t})),
        1 => (media, base64())
            .prop_map(|(m, d)| json!({"type": "image", "source": {"type": "base64", "media_type": m, "data": d}})),
        // Anthropic's schema wants the input as an object.
        1 => (name(), name(), btree_map(name(), json(1), 0..3))
            .prop_map(|(id, n, i)| json!({"type": "tool_use", "id": id, "name": n, "input": i})),
        1 => (name(), text(), of(any::<bool>())).prop_map(|(id, t, e)| {
            object(vec![("type", Some(json!("tool_result"))), ("tool_use_id", Some(json!(id))),
                ("content", Some(json!([{"type": "text", "text": t}]))), ("is_error", e.map(Value::from))])
        }),
    ]
}

/// Sampling members every chat family shares, under each family's own names.
fn sampling(max_key: &'static str) -> impl Strategy<Value = Vec<(&'static str, Option<Value>)>> {
    (1..100_000i64, of(unit()), of(unit()), of(0..500i64), of(vec(text(), 0..4))).prop_map(move |(m, t, p, k, s)| {
        vec![
            (max_key, Some(json!(m))),
            ("temperature", t.map(Value::from)),
            ("top_p", p.map(Value::from)),
            ("top_k", k.map(Value::from)),
            ("stop_sequences", s.map(Value::from)),
        ]
    })
}

/// An Anthropic Messages body.
pub fn anthropic_messages() -> impl Strategy<Value = Value> {
    let messages = turns(anthropic_block(), "user", "assistant").prop_map(|t| {
        t.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect::<Vec<_>>()
    });
    let system = prop_oneof![
        text().prop_map(Value::from),
        vec(text().prop_map(|t| json!({"type": "text", "text": t})), 0..3).prop_map(Value::from)
    ];
    let tools = vec(
        (name(), of(text())).prop_map(|(n, d)| {
            object(vec![
                ("name", Some(json!(n))),
                ("description", d.map(Value::from)),
                ("input_schema", Some(json!({"type": "object"}))),
            ])
        }),
        0..3,
    );
    let choice = prop_oneof![
        Just(json!({"type": "auto"})),
        Just(json!({"type": "any"})),
        Just(json!({"type": "none"})),
        name().prop_map(|n| json!({"type": "tool", "name": n}))
    ];
    (messages, sampling("max_tokens"), of(system), tools, of(choice)).prop_map(
        |(messages, mut members, system, tools, choice)| {
            members.extend([
                ("anthropic_version", Some(json!("bedrock-2023-05-31"))),
                ("messages", Some(json!(messages))),
                ("system", system),
                ("tools", (!tools.is_empty()).then(|| json!(tools))),
                ("tool_choice", choice),
            ]);
            object(members)
        },
    )
}

/// A prompt made of `markers` and text, as the template-based families send.
fn marked_prompt(markers: &'static [&'static str]) -> impl Strategy<Value = String> {
    vec(prop_oneof![prop::sample::select(markers).prop_map(str::to_owned), text()], 0..10).prop_map(|p| p.concat())
}

/// An Anthropic Text Completions body (Claude Instant / 2.x): an optional system text,
/// then turns that begin with a `Human:` one (Bedrock refuses any other start).
pub fn anthropic_completion() -> impl Strategy<Value = Value> {
    let turns = marked_prompt(&["\n\nHuman:", "\n\nAssistant:", " "]);
    (text(), turns, sampling("max_tokens_to_sample")).prop_map(|(system, turns, mut members)| {
        members.push(("prompt", Some(json!(format!("{system}\n\nHuman:{turns}")))));
        object(members)
    })
}

/// A Llama 3 chat-template prompt: header-framed turns of any role, in any order.
fn llama_chat() -> impl Strategy<Value = String> {
    let role = prop::sample::select(vec!["system", "user", "assistant", "ipython", ""]);
    let turn = (role, text(), any::<bool>()).prop_map(|(role, text, eot)| {
        format!("<|start_header_id|>{role}<|end_header_id|>\n\n{text}{}", if eot { "<|eot_id|>" } else { "" })
    });
    (any::<bool>(), vec(turn, 0..6))
        .prop_map(|(begin, turns)| format!("{}{}", if begin { "<|begin_of_text|>" } else { "" }, turns.concat()))
}

/// A Meta Llama body. Bedrock passes the prompt to the model as it is, so any string is
/// valid: markup, broken markup or none.
pub fn llama() -> impl Strategy<Value = Value> {
    let markers = &["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "user", "\n\n"];
    let prompt = prop_oneof![llama_chat(), marked_prompt(markers)];
    (prompt, of(1..8192i64), of(unit()), of(unit())).prop_map(|(prompt, m, t, p)| {
        object(vec![
            ("prompt", Some(json!(prompt))),
            ("max_gen_len", m.map(Value::from)),
            ("temperature", t.map(Value::from)),
            ("top_p", p.map(Value::from)),
        ])
    })
}

/// An Amazon Titan text body.
pub fn titan_text() -> impl Strategy<Value = Value> {
    (text(), of(inference_config())).prop_map(|(input, config)| {
        // Titan's names for the Converse members the config generator writes.
        let config = config.map(|c| {
            let rename = |k: &str| if k == "maxTokens" { "maxTokenCount".to_owned() } else { k.to_owned() };
            Value::Object(c.as_object().into_iter().flatten().map(|(k, v)| (rename(k), v.clone())).collect())
        });
        object(vec![("inputText", Some(json!(input))), ("textGenerationConfig", config)])
    })
}

/// An Amazon Titan embeddings body (G1 or v2).
pub fn titan_embed() -> impl Strategy<Value = Value> {
    let types = vec(prop::sample::select(vec!["float", "binary"]), 0..3);
    (text(), of(prop::sample::select(vec![256, 512, 1024])), of(any::<bool>()), of(types)).prop_map(|(t, d, n, e)| {
        object(vec![
            ("inputText", Some(json!(t))),
            ("dimensions", d.map(Value::from)),
            ("normalize", n.map(Value::from)),
            ("embeddingTypes", e.map(Value::from)),
        ])
    })
}

/// A Cohere Embed v3 body.
pub fn cohere_embed() -> impl Strategy<Value = Value> {
    let input_type = prop::sample::select(vec!["search_document", "search_query", "classification", "clustering"]);
    let truncate = of(prop::sample::select(vec!["NONE", "START", "END"]));
    let types = of(vec(prop::sample::select(vec!["float", "int8", "uint8", "binary", "ubinary"]), 0..5));
    (vec(text(), 1..96), input_type, truncate, types).prop_map(|(texts, i, t, e)| {
        object(vec![
            ("texts", Some(json!(texts))),
            ("input_type", Some(json!(i))),
            ("truncate", t.map(Value::from)),
            ("embedding_types", e.map(Value::from)),
        ])
    })
}

/// An Amazon Nova body (`messages-v1`): Converse's turns and tools, Nova's sampling names.
pub fn nova() -> impl Strategy<Value = Value> {
    let block = prop_oneof![
        4 => text().prop_map(|t| json!({"text": t})),
        1 => (prop::sample::select(vec!["png", "jpeg"]), base64())
            .prop_map(|(f, b)| json!({"image": {"format": f, "source": {"bytes": b}}})),
    ];
    let config = (of(1..10_000i64), of(unit()), of(unit()), of(0..500i64)).prop_map(|(m, t, p, k)| {
        object(vec![
            ("max_new_tokens", m.map(Value::from)),
            ("temperature", t.map(Value::from)),
            ("top_p", p.map(Value::from)),
            ("top_k", k.map(Value::from)),
        ])
    });
    (turns(block, "user", "assistant"), of(text()), of(config), any::<bool>()).prop_map(|(turns, system, config, v)| {
        let messages: Vec<Value> = turns.into_iter().map(|(r, c)| json!({"role": r, "content": c})).collect();
        object(vec![
            ("schemaVersion", v.then(|| json!("messages-v1"))),
            ("messages", Some(json!(messages))),
            // A cache point closes the system prompt when there is one.
            ("system", system.map(|s| json!([{"text": s}, {"cachePoint": {"type": "default"}}]))),
            ("inferenceConfig", config),
        ])
    })
}

/// A Mistral body: a text-completion prompt in `[INST]` markup, or chat messages.
pub fn mistral() -> impl Strategy<Value = Value> {
    let prompt = (marked_prompt(&["<s>", "[INST]", "[/INST]", "</s>", " "]), of(1..8192i64), of(0..200i64)).prop_map(
        |(p, m, k)| {
            object(vec![
                ("prompt", Some(json!(p))),
                ("max_tokens", m.map(Value::from)),
                ("top_k", k.map(|k| json!(k + 1))),
            ])
        },
    );
    let chat = (chat_messages(), of(prop::sample::select(vec!["auto", "any", "none"])))
        .prop_map(|(m, c)| object(vec![("messages", Some(m)), ("tool_choice", c.map(Value::from))]));
    prop_oneof![prompt, chat]
}

/// User and assistant turns in the chat-completions shape.
fn chat_messages() -> impl Strategy<Value = Value> {
    (of(text()), turns(text().prop_map(Value::from), "user", "assistant")).prop_map(|(system, turns)| {
        let mut messages: Vec<Value> = system.map(|s| json!({"role": "system", "content": s})).into_iter().collect();
        for (role, content) in turns {
            let text: String = content.iter().filter_map(Value::as_str).collect();
            messages.push(json!({"role": role, "content": text}));
        }
        json!(messages)
    })
}

/// A DeepSeek body: a prompt, plain or in DeepSeek's chat template.
pub fn deepseek() -> impl Strategy<Value = Value> {
    let markers = &["<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>", "\n"];
    (marked_prompt(markers), of(1..32_768i64), of(vec(text(), 0..10))).prop_map(|(p, m, s)| {
        object(vec![("prompt", Some(json!(p))), ("max_tokens", m.map(Value::from)), ("stop", s.map(Value::from))])
    })
}

/// An OpenAI Chat Completions body (gpt-oss).
pub fn openai_chat() -> impl Strategy<Value = Value> {
    (chat_messages(), of(1..32_768i64), of(unit()), of(any::<u32>())).prop_map(|(m, max, t, seed)| {
        object(vec![
            ("messages", Some(m)),
            ("max_completion_tokens", max.map(Value::from)),
            ("temperature", t.map(Value::from)),
            ("seed", seed.map(Value::from)),
        ])
    })
}

/// A Cohere Command R body.
pub fn cohere_command() -> impl Strategy<Value = Value> {
    let history = vec((prop::sample::select(vec!["USER", "CHATBOT"]), text()), 0..4)
        .prop_map(|h| json!(h.into_iter().map(|(r, m)| json!({"role": r, "message": m})).collect::<Vec<_>>()));
    (text().prop_filter("a message", |t| !t.is_empty()), of(history), of(text()), of(0.01..=0.99f64)).prop_map(
        |(message, history, preamble, p)| {
            object(vec![
                ("message", Some(json!(message))),
                ("chat_history", history),
                ("preamble", preamble.map(Value::from)),
                ("p", p.map(Value::from)),
            ])
        },
    )
}
