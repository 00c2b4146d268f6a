//! Compatibility with real boto3 signing: botocore's `SigV4Auth` signs requests in a Python
//! subprocess (the workspace's `.venv`), and `authenticate` must accept exactly what it produced.
//! This is the independent check of the double encoding: botocore quotes the already-encoded path
//! once more (`%3A` → `%253A`) in its own code, not through aws-sigv4.
//! Skipped, with a note, when `.venv/bin/python` or botocore is missing.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use spillway_auth::{authenticate, AuthError, Keyring};
use spillway_catalog::{AccessKey, Account};

const SCRIPT: &str = r#"
import json
from urllib.parse import urlsplit
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BASE = "http://localhost:8080"
CASES = [
    ("AKID", "secret", None, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
    ("AKID", "secret", None, "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A111122223333%3Ainference-profile"
                             "%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0/invoke"),
    ("ASIABOTO", "secret2", "boto-session-token", "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
]
out = []
for akid, secret, token, path in CASES:
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}).encode()
    req = AWSRequest(method="POST", url=BASE + path, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(akid, secret, token), "bedrock", "us-west-2").add_auth(req)
    prepared = req.prepare()
    split = urlsplit(prepared.url)
    headers = {k: v for k, v in prepared.headers.items()}
    headers["Host"] = split.netloc  # what the HTTP client sends; botocore signed this value
    out.append({"method": prepared.method, "path": split.path + ("?" + split.query if split.query else ""),
                "headers": headers, "body": prepared.body.decode()})
print(json.dumps(out))
"#;

#[test]
fn botocore_sigv4_signatures_verify() {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if !python.exists() {
        eprintln!("note: skipped, {} not found (no workspace venv with botocore)", python.display());
        return;
    }
    let output = Command::new(&python).arg("-c").arg(SCRIPT).output().unwrap();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("ModuleNotFoundError") {
            eprintln!("note: skipped, botocore is not installed in the venv: {stderr}");
            return;
        }
        panic!("signing script failed: {stderr}");
    }
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(cases.len(), 3);

    let keyring = Keyring::new(&[Account {
        id: "111122223333".into(),
        access_keys: vec![
            AccessKey { id: "AKID".into(), secret: "secret".into(), session_tokens: vec![] },
            AccessKey {
                id: "ASIABOTO".into(),
                secret: "secret2".into(),
                session_tokens: vec!["boto-session-token".into()],
            },
        ],
        api_keys: vec![],
    }]);
    for case in &cases {
        let method = Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = case["path"].as_str().unwrap();
        assert!(path.contains("%3A"), "botocore must send the model id encoded: {path}");
        let body = case["body"].as_str().unwrap().as_bytes();
        let mut headers = HeaderMap::new();
        for (name, value) in case["headers"].as_object().unwrap() {
            let value = HeaderValue::from_str(value.as_str().unwrap()).unwrap();
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
        // The script signed moments ago with the real clock.
        let principal = authenticate(&keyring, &method, path, &headers, body, SystemTime::now())
            .unwrap_or_else(|e| panic!("{path}: {e:?} {:?}", e.shape()));
        assert_eq!(principal.account, "111122223333");
        assert_eq!(principal.region.as_deref(), Some("us-west-2"));
        assert_eq!(principal.service.as_deref(), Some("bedrock"));

        // And a one-byte change to the body is caught.
        let mut tampered = body.to_vec();
        tampered[body.len() - 2] ^= 1;
        assert_eq!(
            authenticate(&keyring, &method, path, &headers, &tampered, SystemTime::now()),
            Err(AuthError::BadSignature)
        );
    }
}
