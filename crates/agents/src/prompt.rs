//! The built-in orchestration prompt: the system prompt of every model call of an
//! agent's turn. It is documented word for word in the README ("Agents"); spillway's own
//! text, in the spirit of Bedrock's default (which is not published for every model),
//! written for models that call tools natively through Converse.

use std::collections::BTreeMap;

/// `$instruction$` is the agent's instruction; `$tools$` says whether functions are
/// available; `$prompt_session_attributes$` lists the turn's prompt session attributes.
pub const ORCHESTRATION: &str = "You are an agent that helps the user. Follow the instruction below.

<instruction>
$instruction$
</instruction>
$tools$
Answer the user directly and concisely once you have what you need. Never make up the result of a function: call it and wait for its result.$prompt_session_attributes$";

const WITH_TOOLS: &str = "
You can call the functions you have been given. When a function can answer the user's question or perform the requested action, call it with arguments taken from the conversation; ask the user for any required argument you do not know.
";

/// The system prompt of one model call.
pub fn system_prompt(instruction: &str, has_tools: bool, prompt_attributes: &BTreeMap<String, String>) -> String {
    let attributes = if prompt_attributes.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = prompt_attributes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("\n\n<prompt_session_attributes>\n{}\n</prompt_session_attributes>", lines.join("\n"))
    };
    ORCHESTRATION
        .replace("$instruction$", instruction.trim())
        .replace("$tools$", if has_tools { WITH_TOOLS } else { "" })
        .replace("$prompt_session_attributes$", &attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_fills_instruction_tools_and_attributes() {
        let attrs = BTreeMap::from([("city".to_owned(), "Tokyo".to_owned())]);
        let p = system_prompt("  Help with the weather.  ", true, &attrs);
        assert!(p.contains("<instruction>\nHelp with the weather.\n</instruction>"), "{p}");
        assert!(p.contains("call the functions"));
        assert!(p.ends_with("<prompt_session_attributes>\ncity: Tokyo\n</prompt_session_attributes>"), "{p}");
        let bare = system_prompt("x", false, &BTreeMap::new());
        assert!(!bare.contains("functions you have") && !bare.contains('$'), "{bare}");
    }

    /// The README documents the prompt word for word; this keeps the two the same.
    #[test]
    fn the_readme_shows_this_prompt() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("  ```\n  You are an agent").expect("the prompt block in the README");
        let block: Vec<&str> = readme[start..].lines().skip(1).take_while(|l| l.trim() != "```").collect();
        let documented: Vec<&str> = block.iter().map(|l| l.strip_prefix("  ").unwrap_or(l)).collect();
        assert_eq!(documented.join("\n"), system_prompt("$instruction$", true, &BTreeMap::new()));
    }
}
